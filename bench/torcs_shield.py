"""The runtime shield on real TORCS: a neural driver, unshielded and shielded, five tracks.

    .venv/bin/python bench/torcs_shield.py                       # 3-lap races on the five tracks
    .venv/bin/python bench/torcs_shield.py --tracks g-track-2 --laps 1 --json out/torcs_shield.json
    .venv/bin/python bench/torcs_shield.py --general             # also shielded by the general step
    .venv/bin/python bench/torcs_shield.py --no-python           # skip the Python-step row
    .venv/bin/python bench/torcs_shield.py --seeds 5 --no-fallback-row   # 5 perturbed starts per track

For every track the driver (``--policy``, default ``oracles/torcs-td3``) races ``--laps``
laps of real TORCS (``saferl/Torcs-v0``) three times: unshielded; behind
:class:`saferl.shield.Shield` with ``--spec`` and the verified ``--fallback`` program,
running the shield's native step (the generated step compiled to C, :mod:`saferl.shield.native`;
row ``shielded``, its ``step`` says ``native``, or ``python`` where no compiler was found); and
behind the same shield running the generated Python step (``native=False``, row ``python``)
(the proof is computed once, with the solver, before the races; the fallback must be SAFE).
The fallback also races alone, for reference.  Reported per run: best lap (s; the first
lap includes the standing start, so with ``--laps 1`` it is the only lap), laps completed,
crash (left the track or took damage), distance, steps, interventions, spec violations
(counted by :class:`saferl.shield.ViolationMonitor`, the reference evaluator, on what the
environment actually received), and the shield's overhead.

Overhead, side by side: every race runs on ``StepTimer(TorcsEnv)``; ``StepTimer`` times
the inner ``env.step`` (the TORCS round trip), and the bench times the whole outer step
(``shield.step``, or ``StepTimer.step`` itself when unshielded).  Outer minus inner is the
shield's own time plus the timer's own cost; the unshielded race measures the timer's cost
alone, and the shield's time per step (``shield_us``) is the shielded race's outer minus
inner less the unshielded race's (``shield_us_raw`` keeps the timer's cost in).
Overhead % = shield_us / the inner env step time of the shielded race.  These are
wall-clock sums (``time.perf_counter``); the shield's part is pure Python CPU work, the env
step is mostly waiting for TORCS.  The bench also sums this thread's CPU time
(``time.thread_time``) over the outer steps of each race: ``cpu_step_us`` per step,
shielded and unshielded side by side (the shield's CPU is the difference; the client's
socket work and TORCS's tick make the rest).  Machine load inflates every figure.  Last,
without TORCS: the first track's unshielded race (observations and proposals) is replayed
through the shield, native step, generated Python step and general step, best of five,
in this thread's CPU time (``summary.replay``: per step, less the bare replay's cost).
The machine's load average is printed with the summary: every figure moves with it.
With ``--general`` the shielded race runs a second time with ``fast_path=False``
(the shield's general step instead of the step generated for the spec and fallback).

Output: a table, then JSON (``--json FILE`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.envs import register_envs  # noqa: E402
from saferl.envs.torcs.race import perturbation  # noqa: E402
from saferl.formats import load_policy_file  # noqa: E402
from saferl.policy import ProgramPolicy, load_policy  # noqa: E402
from saferl.shield import Shield, ViolationMonitor  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

TRACKS = ("g-track-2", "eroad", "aalborg", "ruudskogen", "alpine-2")
DEFAULT_POLICY = ROOT / "oracles/torcs-td3"
DEFAULT_SPEC = ROOT / "specs/torcs/track_speed.yaml"
DEFAULT_FALLBACK = ROOT / "policies/torcs/propel_careful.pol"


class StepTimer(gym.Wrapper):  # type: ignore[type-arg]
    """Sums the wall time of the wrapped ``env.step`` (the part the shield does not own)."""

    def __init__(self, env: gym.Env):  # type: ignore[type-arg]
        super().__init__(env)
        self.step_s = 0.0

    def step(self, action: Any) -> Any:
        t0 = time.perf_counter()
        out = self.env.step(action)
        self.step_s += time.perf_counter() - t0
        return out


def race(track: str, laps: int, max_steps: int, act: Any, reset: Any, spec: Any, program: Any, proof: Any | None,
         fast_path: bool = True, tape: list[Any] | None = None, seed: int | None = None,
         native: bool = True) -> dict[str, Any]:
    """One race; ``proof`` set = behind the shield; ``tape`` collects (observation, proposal);
    ``seed`` set = a perturbed start (bench/torcs_race.py's: that seed's random opening
    actions go through the shield, if any, before the driver takes over; not timed, not judged)."""
    inner = StepTimer(gym.make("saferl/Torcs-v0", track=track, laps=laps, max_steps=max_steps))
    env: Any = inner if proof is None else Shield(inner, spec, fallback=program, proof=proof, fast_path=fast_path,
                                                  native=native)
    monitor = ViolationMonitor(spec, program)
    total_s = cpu_s = 0.0
    # the monitor judges the race afterwards: run between the steps, its work would evict
    # the shield's code and data from the caches and inflate the shield's measured time
    trace: list[tuple[Any, Any]] = []
    try:
        obs, info = env.reset()
        reset()
        done = False
        for opening in perturbation(seed) if seed is not None else []:
            obs, _, term, trunc, info = env.step(np.asarray(opening, dtype=np.float32))
            if term or trunc:
                done = True
                break
        monitor.reset(obs)
        steps = 0
        while not done:
            action = np.asarray(act(obs), dtype=np.float32).reshape(-1)
            if tape is not None:
                tape.append((obs, action))
            c0 = time.thread_time()
            t0 = time.perf_counter()
            obs, _, term, trunc, info = env.step(action)
            total_s += time.perf_counter() - t0
            cpu_s += time.thread_time() - c0
            trace.append((info["saferl"].executed if proof is not None else action, obs))
            steps += 1
            done = bool(term or trunc)
        stats = env.totals if proof is not None else None
    finally:
        env.close()
    for executed, next_obs in trace:
        monitor.step(executed, next_obs)
    lap_times = [round(t, 2) for t in info["lap_times"]]
    out: dict[str, Any] = {
        "track": track,
        "seed": seed,
        "best_lap_s": min(lap_times) if lap_times else None,
        "lap_times_s": lap_times,
        "laps": len(lap_times),
        "crashed": bool(info["crashed"]),
        "dist_m": round(float(info["dist_raced"]), 1),
        "steps": steps,
        "violations": monitor.total,
        "violations_by_property": {k: v for k, v in monitor.violations.items() if v},
        "env_step_us": round(1e6 * inner.step_s / max(steps, 1), 2),
        "outer_minus_inner_us": round(1e6 * (total_s - inner.step_s) / max(steps, 1), 3),
        "cpu_step_us": round(1e6 * cpu_s / max(steps, 1), 2),
    }
    if stats is not None:
        out.update(
            step=env.step_kind,
            interventions=stats.interventions,
            interventions_by_property=dict(stats.by_property),
            interventions_by_source=dict(stats.by_source),
            unsafe_steps=stats.unsafe_steps,
        )
    return out


def shield_cost(shielded: dict[str, Any], plain: dict[str, Any]) -> None:
    """The shield's own time per step, the timer's own cost (from the unshielded race) taken off."""
    raw = shielded["outer_minus_inner_us"]
    own = raw - plain["outer_minus_inner_us"]
    shielded.update(shield_us_raw=round(raw, 2), shield_us=round(own, 2),
                    overhead_pct=round(100.0 * own / shielded["env_step_us"], 2) if shielded["env_step_us"] > 0 else None,
                    cpu_extra_us=round(shielded["cpu_step_us"] - plain["cpu_step_us"], 2))


class Replay(gym.Env):  # type: ignore[type-arg]
    """Replays a race's observations (TORCS's spaces), whatever the actions."""

    def __init__(self, observations: list[Any], like: gym.Env):  # type: ignore[type-arg]
        self.observations, self.i = observations, 0
        self.observation_space, self.action_space = like.observation_space, like.action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.i = 0
        return self.observations[0], {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.i += 1
        return self.observations[self.i], 0.0, False, self.i == len(self.observations) - 1, {}


def replay_cost(tape: list[Any], spec: Any, program: Any, proof: Any, repeats: int = 5) -> dict[str, Any]:
    """The shield's CPU per step without TORCS: the race's proposals replayed on its
    observations, native step vs generated Python step vs general step vs the bare replay (this thread's CPU
    time, best of ``repeats``)."""
    like = gym.make("saferl/Torcs-v0")
    observations, proposals = [o for o, _ in tape], [a for _, a in tape[:-1]]
    out: dict[str, Any] = {"steps": len(proposals)}
    for name, fast, native in (("bare_us", None, False), ("native_us", True, True), ("fast_us", True, False),
                               ("general_us", False, False)):
        best = float("inf")
        for _ in range(repeats):
            env: Any = Replay(observations, like)
            if fast is not None:
                env = Shield(env, spec, fallback=program, proof=proof, fast_path=fast, native=native)
                if native and env.step_kind != "native":
                    out["native_note"] = env.native_note
            env.reset()
            step = env.step
            c0 = time.thread_time()
            for a in proposals:
                step(a)
            best = min(best, time.thread_time() - c0)
        out[name] = round(1e6 * best / max(len(proposals), 1), 3)
    like.close()
    out["native_shield_us"] = round(out["native_us"] - out["bare_us"], 3)
    out["fast_shield_us"] = round(out["fast_us"] - out["bare_us"], 3)
    out["general_shield_us"] = round(out["general_us"] - out["bare_us"], 3)
    return out


RUNS = ("unshielded", "shielded", "python", "general", "fallback")


def by_track(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """PROPEL's figures per track and run: median best lap over the seeds (a crash or a race
    without a lap counting as infinite; None when the median is) and the share of races
    that crashed."""
    races: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        races.setdefault(r["track"], {}).setdefault(r["run"], []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for track, runs in races.items():
        for run, rs in runs.items():
            median = statistics.median(math.inf if r["crashed"] or r["best_lap_s"] is None else r["best_lap_s"] for r in rs)
            out.setdefault(track, {})[run] = {
                "median_best_lap_s": None if math.isinf(median) else round(median, 2),
                "crash_ratio": round(sum(r["crashed"] for r in rs) / len(rs), 2), "races": len(rs)}
    return out


def overall(rows: list[dict[str, Any]]) -> float:
    """The shield's time over all races as a percentage of the env step time over all races."""
    return round(100.0 * sum(r["shield_us"] * r["steps"] for r in rows)
                 / max(sum(r["env_step_us"] * r["steps"] for r in rows), 1e-9), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(DEFAULT_POLICY), help="the neural driver (any saferl policy file)")
    ap.add_argument("--spec", default=str(DEFAULT_SPEC), help="the spec to enforce")
    ap.add_argument("--fallback", default=str(DEFAULT_FALLBACK), help="the verified .pol fallback")
    ap.add_argument("--tracks", nargs="+", default=list(TRACKS))
    ap.add_argument("--laps", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=None, help="frame cap per race (default 300 s per lap)")
    ap.add_argument("--no-fallback-row", action="store_true", help="skip the fallback's own race")
    ap.add_argument("--general", action="store_true", help="also race shielded by the general step (fast_path=False)")
    ap.add_argument("--no-python", action="store_true", help="skip the race shielded by the generated Python step (native=False)")
    ap.add_argument("--seeds", type=int, default=0,
                    help="race from N perturbed starts per track (seeds 1..N, as bench/torcs_race.py); default: the grid")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    register_envs()
    spec_path = Path(args.spec).resolve()
    spec = load_spec(spec_path)
    program = load_policy(args.fallback)
    proof = verify_policy(program, spec)
    verdicts = {r.property_id: r.verdict.value for r in proof.results}
    if any(v != "SAFE" for v in verdicts.values()):
        print(f"the fallback {args.fallback} is not SAFE against {spec_path}: {verdicts}", file=sys.stderr)
        return 2
    policy = load_policy_file(args.policy, env_id="saferl/Torcs-v0")
    max_steps = args.max_steps or 15_000 * args.laps
    rows: list[dict[str, Any]] = []
    no_reset = lambda: None  # noqa: E731
    tape: list[Any] = []
    for track in args.tracks:
        for seed in range(1, args.seeds + 1) if args.seeds else [None]:
            plain = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, None,
                         tape=tape if not tape else None, seed=seed)
            shielded = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, proof, seed=seed)
            shield_cost(shielded, plain)
            rows.append({"run": "unshielded", **plain})
            rows.append({"run": "shielded", **shielded})
            if not args.no_python:
                python = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, proof, seed=seed,
                              native=False)
                shield_cost(python, plain)
                rows.append({"run": "python", **python})
            if args.general:
                general = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, proof, fast_path=False,
                               seed=seed)
                shield_cost(general, plain)
                rows.append({"run": "general", **general})
            if not args.no_fallback_row:
                fb = ProgramPolicy(program)
                rows.append({"run": "fallback", **race(track, args.laps, max_steps, fb.act, fb.reset, spec, program, None,
                                                       seed=seed)})
    print(f"{'track':<11} {'seed':>4} {'run':<10} {'best lap':>9} {'laps':>4} {'crash':>5} {'dist m':>8} {'steps':>6} "
          f"{'interv.':>7} {'viol.':>5} {'env us':>7} {'shield us':>9} {'ovh %':>6} {'cpu us':>7}")
    for r in rows:
        lap = f"{r['best_lap_s']:.2f}" if r["best_lap_s"] else "-"
        print(f"{r['track']:<11} {r['seed'] or '-':>4} {r['run']:<10} {lap:>9} {r['laps']:>4} {'yes' if r['crashed'] else 'no':>5} "
              f"{r['dist_m']:>8.0f} {r['steps']:>6} {r.get('interventions', '-'):>7} {r['violations']:>5} "
              f"{r['env_step_us']:>7.1f} {r.get('shield_us', '-'):>9} {r.get('overhead_pct', '-'):>6} {r['cpu_step_us']:>7.1f}")
    shielded_rows = [r for r in rows if r["run"] == "shielded"]
    summary = {
        "shielded_crashes": sum(r["crashed"] for r in shielded_rows),
        "shielded_violations": sum(r["violations"] for r in shielded_rows),
        "unshielded_crashes": sum(r["crashed"] for r in rows if r["run"] == "unshielded"),
        "overhead_pct": overall(shielded_rows),
        "shield_us": round(sum(r["shield_us"] * r["steps"] for r in shielded_rows) / max(sum(r["steps"] for r in shielded_rows), 1), 2),
    }
    summary["step"] = sorted({r["step"] for r in shielded_rows})
    for run in ("python", "general"):
        run_rows = [r for r in rows if r["run"] == run]
        if run_rows:
            summary[f"{run}_overhead_pct"] = overall(run_rows)
            summary[f"{run}_shield_us"] = round(
                sum(r["shield_us"] * r["steps"] for r in run_rows) / max(sum(r["steps"] for r in run_rows), 1), 2)
    summary["load"] = [round(x, 2) for x in os.getloadavg()]
    if args.seeds:
        summary["by_track"] = by_track(rows)
        print(f"{'track':<11} " + " ".join(f"{run:>18}" for run in RUNS if any(r['run'] == run for r in rows)))
        for track, runs in summary["by_track"].items():
            cells = [f"{'-' if v['median_best_lap_s'] is None else format(v['median_best_lap_s'], '.2f')} / {v['crash_ratio']:.2f}"
                     for v in runs.values()]
            print(f"{track:<11} " + " ".join(f"{c:>18}" for c in cells))
    summary["replay"] = replay_cost(tape, spec, program, proof)
    print("summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    record = {
        "bench": "torcs_shield",
        "policy": args.policy,
        "spec": str(spec_path.relative_to(ROOT)) if spec_path.is_relative_to(ROOT) else str(spec_path),
        "fallback": args.fallback,
        "fallback_verdicts": verdicts,
        "laps": args.laps,
        "seeds": args.seeds,
        "max_steps": max_steps,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg(),
                    "cpu_s": round(time.process_time(), 1), "children_cpu_s": round(sum(os.times()[2:4]), 1)},
        "rows": rows,
        "summary": summary,
    }
    text = json.dumps(record, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
