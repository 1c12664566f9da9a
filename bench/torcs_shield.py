"""The runtime shield on real TORCS: a neural driver, unshielded and shielded, five tracks.

    .venv/bin/python bench/torcs_shield.py                       # 3-lap races on the five tracks
    .venv/bin/python bench/torcs_shield.py --tracks g-track-2 --laps 1 --json out/torcs_shield.json

For every track the driver (``--policy``, default ``oracles/torcs-td3``) races ``--laps``
laps of real TORCS (``saferl/Torcs-v0``) twice: unshielded, and behind
:class:`saferl.shield.Shield` with ``--spec`` and the verified ``--fallback`` program (the
proof is computed once, with the solver, before the races; the fallback must be SAFE).
The fallback also races alone, for reference.  Reported per run: best lap (s; the first
lap includes the standing start, so with ``--laps 1`` it is the only lap), laps completed,
crash (left the track or took damage), distance, steps, interventions, spec violations
(counted by :class:`saferl.shield.ViolationMonitor`, the reference evaluator, on what the
environment actually received), and the shield's overhead.

Overhead, side by side in one run: the shielded environment is
``Shield(StepTimer(TorcsEnv))``; ``StepTimer`` times the inner ``env.step`` (the TORCS
round trip), and the bench times the whole ``shield.step``.  The shield's own time per
step is the difference; overhead % = shield's own time / inner env step time.  Both are
wall-clock sums over the race (``time.perf_counter``); the shield's part is pure Python
CPU work, the env step is mostly waiting for TORCS.  Machine load inflates both.

Output: a table, then JSON (``--json FILE`` also writes it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.envs import register_envs  # noqa: E402
from saferl.formats import load_policy_file  # noqa: E402
from saferl.policy import ProgramPolicy, load_policy  # noqa: E402
from saferl.shield import Shield, ViolationMonitor  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

TRACKS = ("g-track-2", "eroad", "aalborg", "ruudskogen", "alpine-2")
DEFAULT_POLICY = ROOT / "oracles/torcs-td3"
DEFAULT_SPEC = ROOT / "specs/torcs/track.yaml"
DEFAULT_FALLBACK = ROOT / "policies/torcs/propel_fast.pol"


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


def race(track: str, laps: int, max_steps: int, act: Any, reset: Any, spec: Any, program: Any, proof: Any | None) -> dict[str, Any]:
    """One race; ``proof`` set = behind the shield."""
    inner = StepTimer(gym.make("saferl/Torcs-v0", track=track, laps=laps, max_steps=max_steps))
    env: Any = inner if proof is None else Shield(inner, spec, fallback=program, proof=proof)
    monitor = ViolationMonitor(spec, program)
    total_s = 0.0
    try:
        obs, info = env.reset()
        reset()
        monitor.reset(obs)
        steps, done = 0, False
        while not done:
            action = np.asarray(act(obs), dtype=np.float32).reshape(-1)
            t0 = time.perf_counter()
            obs, _, term, trunc, info = env.step(action)
            total_s += time.perf_counter() - t0
            executed = info["saferl"].executed if proof is not None else action
            monitor.step(executed, obs)
            steps += 1
            done = bool(term or trunc)
        stats = env.totals if proof is not None else None
    finally:
        env.close()
    lap_times = [round(t, 2) for t in info["lap_times"]]
    out: dict[str, Any] = {
        "track": track,
        "best_lap_s": min(lap_times) if lap_times else None,
        "lap_times_s": lap_times,
        "laps": len(lap_times),
        "crashed": bool(info["crashed"]),
        "dist_m": round(float(info["dist_raced"]), 1),
        "steps": steps,
        "violations": monitor.total,
        "violations_by_property": {k: v for k, v in monitor.violations.items() if v},
        "env_step_us": round(1e6 * inner.step_s / max(steps, 1), 2),
    }
    if stats is not None:
        own = total_s - inner.step_s
        out.update(
            interventions=stats.interventions,
            interventions_by_property=dict(stats.by_property),
            interventions_by_source=dict(stats.by_source),
            unsafe_steps=stats.unsafe_steps,
            shield_us=round(1e6 * own / max(steps, 1), 2),
            overhead_pct=round(100.0 * own / inner.step_s, 2) if inner.step_s > 0 else None,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=str(DEFAULT_POLICY), help="the neural driver (any saferl policy file)")
    ap.add_argument("--spec", default=str(DEFAULT_SPEC), help="the spec to enforce")
    ap.add_argument("--fallback", default=str(DEFAULT_FALLBACK), help="the verified .pol fallback")
    ap.add_argument("--tracks", nargs="+", default=list(TRACKS))
    ap.add_argument("--laps", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=None, help="frame cap per race (default 300 s per lap)")
    ap.add_argument("--no-fallback-row", action="store_true", help="skip the fallback's own race")
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
    for track in args.tracks:
        plain = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, None)
        shielded = race(track, args.laps, max_steps, policy.act, no_reset, spec, program, proof)
        rows.append({"run": "unshielded", **plain})
        rows.append({"run": "shielded", **shielded})
        if not args.no_fallback_row:
            fb = ProgramPolicy(program)
            rows.append({"run": "fallback", **race(track, args.laps, max_steps, fb.act, fb.reset, spec, program, None)})
    print(f"{'track':<11} {'run':<10} {'best lap':>9} {'laps':>4} {'crash':>5} {'dist m':>8} {'steps':>6} "
          f"{'interv.':>7} {'viol.':>5} {'env us':>7} {'shield us':>9} {'ovh %':>6}")
    for r in rows:
        lap = f"{r['best_lap_s']:.2f}" if r["best_lap_s"] else "-"
        print(f"{r['track']:<11} {r['run']:<10} {lap:>9} {r['laps']:>4} {'yes' if r['crashed'] else 'no':>5} "
              f"{r['dist_m']:>8.0f} {r['steps']:>6} {r.get('interventions', '-'):>7} {r['violations']:>5} "
              f"{r['env_step_us']:>7.1f} {r.get('shield_us', '-'):>9} {r.get('overhead_pct', '-'):>6}")
    shielded_rows = [r for r in rows if r["run"] == "shielded"]
    summary = {
        "shielded_crashes": sum(r["crashed"] for r in shielded_rows),
        "shielded_violations": sum(r["violations"] for r in shielded_rows),
        "unshielded_crashes": sum(r["crashed"] for r in rows if r["run"] == "unshielded"),
        "overhead_pct": round(
            100.0 * sum(r["shield_us"] * r["steps"] for r in shielded_rows)
            / max(sum(r["env_step_us"] * r["steps"] for r in shielded_rows), 1e-9), 2),
    }
    print("summary: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    record = {
        "bench": "torcs_shield",
        "policy": args.policy,
        "spec": str(spec_path.relative_to(ROOT)) if spec_path.is_relative_to(ROOT) else str(spec_path),
        "fallback": args.fallback,
        "fallback_verdicts": verdicts,
        "laps": args.laps,
        "max_steps": max_steps,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
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
