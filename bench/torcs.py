"""TORCS benchmark: real headless TORCS and the surrogate, speed and lap times.

Run:  python bench/torcs.py [--seeds 5] [--laps 3] [--tracks g-track-2 ...] [--json OUT.json]
      python bench/torcs.py --quick      (speed only: no lap-time table)

Measures (wall clock):
  * real TORCS, g-track-2, one car: environment steps per second through
    ``gymnasium.make("saferl/Torcs-v0")`` under PROPEL's prior (a PID driver in Python),
    and the same driver through the bare SCR client (no Gymnasium, no env);
  * episode reset (kill TORCS, start a new race, handshake, first observation): mean and max;
  * the surrogate: steps per second under the same driver and under a constant action,
    and the time to build a track's range table (cold, then cached);
  * lap times of policies/torcs/prior.pol and policies/torcs/propel_prog.pol on PROPEL's
    five tracks in real TORCS: best lap of a ``--laps`` race, median over ``--seeds``
    seeds, a crash counting as infinite (PROPEL's metric).  Real TORCS is deterministic,
    so every seed of a policy gives the same race; the table says when they agree.
Prints a table, then JSON (to stdout, or to --json).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from saferl.envs import register_envs  # noqa: E402

PROPEL_TRACKS = ("g-track-2", "eroad", "aalborg", "ruudskogen", "alpine-2")
POLICIES = ("policies/torcs/prior.pol", "policies/torcs/propel_prog.pol")


class WindowPid:
    """PROPEL's PID: the integral sums the last five errors."""

    def __init__(self, index: int, target: float, kp: float, ki: float, kd: float) -> None:
        self.index, self.target, self.kp, self.ki, self.kd = index, target, kp, ki, kd
        self.errors: deque[float] = deque(maxlen=5)

    def __call__(self, obs: Any) -> float:
        error = self.target - float(obs[self.index])
        previous = self.errors[-1] if self.errors else error
        self.errors.append(error)
        return self.kp * error + self.ki * sum(self.errors) + self.kd * (error - previous)


def prior_driver() -> Any:
    steer = WindowPid(1, 0.0, 0.97, 0.05, 49.98)
    accel = WindowPid(5, 0.30, 3.97, 0.01, 48.79)
    return lambda obs: np.array([steer(obs), accel(obs), 0.0], dtype=np.float32)


def real_steps_per_s(steps: int) -> dict[str, float]:
    import gymnasium

    env = gymnasium.make("saferl/Torcs-v0", track="g-track-2", laps=1)
    try:
        obs, _ = env.reset()
        drive = prior_driver()
        start = time.perf_counter()
        done_steps = 0
        while done_steps < steps:
            obs, _, terminated, truncated, _ = env.step(drive(obs))
            done_steps += 1
            if terminated or truncated:
                break
        gym_rate = done_steps / (time.perf_counter() - start)
    finally:
        env.close()

    from saferl.envs.torcs.launcher import TorcsRace, find_installation
    from saferl.envs.torcs.observation import auto_gear, normalise_sensors
    from saferl.envs.torcs.protocol import ScrClient

    race = TorcsRace(find_installation(), track="g-track-2", laps=1)
    try:
        race.start()
        with ScrClient(race.ports[0], alive=race.alive) as client:
            client.identify()
            sensors = client.receive()
            drive = prior_driver()
            start = time.perf_counter()
            for _ in range(steps):
                assert isinstance(sensors, dict)  # noqa: S101 - a benchmark, not a check
                steer, accel, _ = drive(np.array(normalise_sensors(sensors)))
                client.send_action(steer=float(steer), accel=float(min(max(accel, 0.0), 1.0)),
                                   gear=auto_gear(float(sensors["speedX"])), focus=360.0)
                sensors = client.receive()
            raw_rate = steps / (time.perf_counter() - start)
    finally:
        race.close()
    return {"gym_steps_per_s": gym_rate, "raw_client_steps_per_s": raw_rate, "steps": float(done_steps)}


def real_reset_s(n: int) -> dict[str, float]:
    from saferl.envs.torcs.env import TorcsEnv

    env = TorcsEnv(track="g-track-2")
    times = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            obs, _ = env.reset()
            times.append(time.perf_counter() - start)
            env.step(np.zeros(3, dtype=np.float32))
    finally:
        env.close()
    return {"mean_s": statistics.mean(times), "max_s": max(times), "n": float(n)}


def surrogate_speed(steps: int) -> dict[str, float]:
    from saferl.envs.torcs.geometry import load_track
    from saferl.envs.torcs.surrogate import TorcsSurrogateEnv, _build_ranges, sensor_table

    track = load_track("g-track-2")
    start = time.perf_counter()
    _build_ranges(track, 1.0, 9, 180)
    build = time.perf_counter() - start
    start = time.perf_counter()
    sensor_table(track)
    cached = time.perf_counter() - start

    def run(policy: Any) -> float:
        env = TorcsSurrogateEnv(track="g-track-2", laps=100)
        obs, _ = env.reset()
        driver = policy()
        t0 = time.perf_counter()
        for _ in range(steps):
            obs, _, terminated, truncated, _ = env.step(driver(obs))
            if terminated or truncated:
                obs, _ = env.reset()
                driver = policy()
        return steps / (time.perf_counter() - t0)

    constant = np.array([0.0, 0.2, 0.0], dtype=np.float32)
    return {
        "steps_per_s_prior_driver": run(prior_driver),
        "steps_per_s_constant_action": run(lambda: (lambda obs: constant)),
        "table_build_s": build,
        "table_load_s": cached,
    }


def lap_times(policies: list[str], tracks: list[str], seeds: int, laps: int) -> list[dict[str, Any]]:
    from saferl.rollout import evaluate_policy

    try:
        from saferl.policy import load_policy
        from saferl.policy.evaluate import ProgramPolicy
    except ImportError:
        return []
    rows = []
    for pol_path in policies:
        path = REPO / pol_path
        if not path.is_file():
            rows.append({"policy": pol_path, "error": "not found"})
            continue
        policy = ProgramPolicy(load_policy(path))
        for track in tracks:
            start = time.perf_counter()
            result = evaluate_policy(policy, "saferl/Torcs-v0", seeds, 0,
                                     env_kwargs={"track": track, "laps": laps})
            best = [
                math.inf if ep.crashed or not ep.lap_times else min(ep.lap_times)
                for ep in result.episodes
            ]
            rows.append({
                "policy": pol_path,
                "track": track,
                "best_lap_s_per_seed": best,
                "median_best_lap_s": statistics.median(best),
                "crashes": sum(ep.crashed for ep in result.episodes),
                "seeds_agree": len(set(best)) == 1,
                "lap_times_seed0": list(result.episodes[0].lap_times),
                "wall_s": time.perf_counter() - start,
            })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--laps", type=int, default=3)
    parser.add_argument("--tracks", nargs="*", default=list(PROPEL_TRACKS))
    parser.add_argument("--policies", nargs="*", default=list(POLICIES))
    parser.add_argument("--steps", type=int, default=10000, help="steps per speed measurement")
    parser.add_argument("--quick", action="store_true", help="speed only, no lap times")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    register_envs()

    report: dict[str, Any] = {
        "real_torcs": real_steps_per_s(args.steps),
        "reset": real_reset_s(10),
        "surrogate": surrogate_speed(args.steps * 3),
        "lap_times": [] if args.quick else lap_times(args.policies, args.tracks, args.seeds, args.laps),
    }
    real, reset, sur = report["real_torcs"], report["reset"], report["surrogate"]
    print("TORCS benchmark (wall clock)")
    print(f"  real TORCS g-track-2, gymnasium env, PROPEL prior: {real['gym_steps_per_s']:9.0f} steps/s  (target >= 2000)")
    print(f"  real TORCS g-track-2, bare SCR client:              {real['raw_client_steps_per_s']:9.0f} steps/s")
    print(f"  reset (new headless race, handshake, first obs):    {reset['mean_s']:9.3f} s mean, {reset['max_s']:.3f} s max (target <= 0.5)")
    print(f"  surrogate g-track-2, PROPEL prior driver:           {sur['steps_per_s_prior_driver']:9.0f} steps/s  (target >= 20000)")
    print(f"  surrogate g-track-2, constant action:               {sur['steps_per_s_constant_action']:9.0f} steps/s")
    print(f"  surrogate range table: build {sur['table_build_s']:.1f} s, load {sur['table_load_s']:.2f} s")
    if report["lap_times"]:
        print(f"\n  best lap of a {args.laps}-lap race in real TORCS, median of {args.seeds} seeds (inf = crash)")
        print(f"  {'policy':<34}{'track':<12}{'median s':>10}{'crashes':>9}  laps (seed 0)")
        for row in report["lap_times"]:
            if "error" in row:
                print(f"  {row['policy']:<34}{row['error']}")
                continue
            laps = ", ".join(f"{t:.2f}" for t in row["lap_times_seed0"])
            agree = "" if row["seeds_agree"] else "  (seeds differ)"
            print(f"  {row['policy']:<34}{row['track']:<12}{row['median_best_lap_s']:>10.2f}"
                  f"{row['crashes']:>9}  [{laps}]{agree}")
    text = json.dumps(report, indent=2, default=lambda x: None if x == math.inf else x)
    text = text.replace("Infinity", "null")
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
