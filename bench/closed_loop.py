"""Benchmark of closed-loop proofs (issue 12's targets) on the shipped policies and specs.

Prints a table (verdict, wall and CPU seconds, the load average while it ran), then the
same figures as JSON.  Run: python bench/closed_loop.py
[--quick] [--cap SECONDS] [--only SUBSTRING].  Each property's budget is its target time.  Each row is one property checked end to end:
falsification, then the proof, then (for invariants) the independent certificate check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from saferl.closedloop import ClosedLoopOptions, check_closed_loop
from saferl.closedloop.falsify import initial_samples, simulate
from saferl.dynamics import make_model
from saferl.policy import load_policy
from saferl.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]

#: (policy, spec, target in words, target seconds)
CASES = [
    ("policies/cartpole/near_optimal.pol", "specs/closedloop/cartpole.yaml", "|theta|<=12deg forever, proved or refuted", 10),
    ("policies/extracted/cartpole-viper.pol", "specs/closedloop/cartpole.yaml", "|theta|<=12deg forever, proved or refuted", 10),
    ("policies/cartpole/worst.pol", "specs/closedloop/cartpole.yaml", "refuted with a replayed trajectory", 10),
    ("policies/cartpole/pole_only.pol", "specs/closedloop/cartpole.yaml", "|theta|<=12deg forever (near_optimal minus cart tests)", 10),
    ("policies/cartpole/near_optimal.pol", "specs/closedloop/cartpole-full.yaml", "|x|<=2.4, |theta|<=12deg, 500 steps", 120),
    ("policies/extracted/cartpole-viper.pol", "specs/closedloop/cartpole-full.yaml", "|x|<=2.4, |theta|<=12deg, 500 steps", 120),
    ("policies/pendulum/swing_up.pol", "specs/closedloop/pendulum.yaml", "|theta|<=0.2 forever from |theta|,|w|<=0.1", 2),
    ("policies/mountaincar/bang_bang.pol", "specs/closedloop/mountaincar.yaml", "reach x>=0.45 from all x0, within 999", 30),
    ("policies/extracted/pendulum-tree.pol", "specs/closedloop/pendulum.yaml", "|theta|<=0.2 forever (extracted tree)", 2),
    ("policies/extracted/mountaincar-tree.pol", "specs/closedloop/mountaincar.yaml", "reach from all x0 (extracted tree)", 30),
]


def throughput(env_id: str, policy: str, spec: str, starts: int = 20_000, steps: int = 100) -> float:
    """Simulated closed-loop steps per second (vectorized, one process)."""
    program = load_policy(ROOT / policy)
    prop = load_spec(ROOT / spec).closed_loop[0]
    model = make_model(env_id)
    s = initial_samples(prop, starts)
    t = time.perf_counter()
    out = simulate(model, program, prop, s, steps)
    return out.steps_simulated / (time.perf_counter() - t)


def shield_figures(steps: int) -> dict[str, dict[str, float]]:
    """The look-ahead in the real shield (saferl.shield.Shield, spec cartpole.yaml, fallback
    pole_only.pol proved with an invariant) on CartPole-v1: random and worst.pol proposers,
    ``steps`` steps each.  Counts states outside the invariant; the overhead is the time of a
    shielded step minus an unshielded ``env.step`` with the same proposals (alternating
    blocks of 10,000 steps, medians), the proposer's own time excluded from both."""
    import gymnasium

    from saferl.policy import ProgramPolicy
    from saferl.shield import Shield

    spec = load_spec(ROOT / "specs/closedloop/cartpole.yaml")
    t = time.perf_counter()
    shield = Shield(gymnasium.make("CartPole-v1", max_episode_steps=10**9), spec,
                    fallback=load_policy(ROOT / "policies/cartpole/pole_only.pol"))
    build = time.perf_counter() - t
    (table,) = shield.lookahead.tables
    grid = table.grid
    alive = grid.alive.reshape(grid.shape)
    worst = ProgramPolicy(load_policy(ROOT / "policies/cartpole/worst.pol"))
    plain = gymnasium.make("CartPole-v1", max_episode_steps=10**9)
    out: dict[str, dict[str, float]] = {}
    block = 10_000
    for name in ("random", "worst"):
        rng = np.random.default_rng(0)
        obs, _ = shield.reset(seed=0)
        pobs, _ = plain.reset(seed=0)
        before, outside0 = shield.totals.interventions, shield.outside_invariant_steps
        states = np.empty((steps, 4))
        on: list[float] = []
        off: list[float] = []
        done = 0
        while done < steps:
            n = min(block, steps - done)
            # proposals computed first, so that the timed loops hold only the steps
            props = rng.integers(2, size=n).tolist() if name == "random" else None
            t_on = 0.0
            for i in range(n):
                a = props[i] if props is not None else worst.act(obs)
                t = time.perf_counter()
                obs, _, term, trunc, _ = shield.step(a)
                t_on += time.perf_counter() - t
                states[done + i] = shield.unwrapped.state
                if term or trunc:
                    obs, _ = shield.reset()
            t_off = 0.0
            for i in range(n):
                a = props[i] if props is not None else worst.act(pobs)
                t = time.perf_counter()
                pobs, _, term, trunc, _ = plain.step(a)
                t_off += time.perf_counter() - t
                if term or trunc:
                    pobs, _ = plain.reset()
            on.append(t_on / n)
            off.append(t_off / n)
            done += n
        first, _, leaves = grid.index_ranges(states[:, grid.dims], states[:, grid.dims])
        inside = ~leaves & alive[tuple(first[:, j] for j in range(first.shape[1]))]
        shielded, unshielded = float(np.median(on)), float(np.median(off))
        out[name] = {"steps": steps, "outside_invariant": int((~inside).sum()),
                     "pole_fell": int((np.abs(states[:, 2]) > 0.20943951023931953).sum()),
                     "outside_invariant_steps_seen_by_shield": shield.outside_invariant_steps - outside0,
                     "interventions": shield.totals.interventions - before,
                     "shielded_step_us": round(shielded * 1e6, 2), "unshielded_step_us": round(unshielded * 1e6, 2),
                     "overhead_us": round((shielded - unshielded) * 1e6, 2)}
    out["table"] = {"build_s": round(build, 2), "cells": int(grid.alive.sum())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="cap every budget at 20 s")
    ap.add_argument("--cap", type=float, default=None, help="cap every property's budget (seconds)")
    ap.add_argument("--only", default="", help="run only the cases whose policy or spec path contains this")
    ap.add_argument("--shield-steps", type=int, default=100_000, help="steps per proposer of the look-ahead shield run")
    args = ap.parse_args()
    if args.only == "shield":
        print(json.dumps(shield_figures(args.shield_steps), indent=2))
        return
    rows = []
    for policy, spec, target, target_s in CASES:
        if args.only and args.only not in policy + " " + spec:
            continue
        budget = float(max(target_s, 10))
        if args.quick:
            budget = min(budget, 20.0)
        if args.cap is not None:
            budget = min(budget, args.cap)
        program = load_policy(ROOT / policy)
        spec_obj = load_spec(ROOT / spec)
        load0 = os.getloadavg()[0]
        t, c = time.perf_counter(), time.process_time()
        (out,) = check_closed_loop(program, spec_obj, ClosedLoopOptions(timeout_s=budget), policy_path=policy)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        load = max(load0, os.getloadavg()[0])
        r = out.result
        rows.append({
            "policy": policy, "spec": spec, "property": r.property_id, "target": target, "target_s": target_s,
            "verdict": r.verdict.value, "seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
            "load_average": round(load, 2), "within_target": bool(wall <= target_s),
            "proved_steps": out.proved_steps, "message": r.message, **{k: v for k, v in out.stats.items() if k != "dims"},
        })
    rates = {
        "CartPole-v1": throughput("CartPole-v1", "policies/cartpole/near_optimal.pol", "specs/closedloop/cartpole.yaml"),
        "Pendulum-v1": throughput("Pendulum-v1", "policies/pendulum/swing_up.pol", "specs/closedloop/pendulum.yaml"),
        "MountainCarContinuous-v0": throughput(
            "MountainCarContinuous-v0", "policies/mountaincar/bang_bang.pol", "specs/closedloop/mountaincar.yaml"),
    }
    shield = shield_figures(args.shield_steps) if not args.only else {}
    print(f"{'policy':<28} {'spec':<24} {'verdict':<8} {'wall s':>7} {'cpu s':>7} {'load':>5} {'target':>7}  detail")
    for row in rows:
        print(f"{Path(row['policy']).name:<28} {Path(row['spec']).name:<24} {row['verdict']:<8} "
              f"{row['seconds']:>7.2f} {row['cpu_seconds']:>7.2f} {row['load_average']:>5.1f} {row['target_s']:>7}  "
              f"{row['message'][:100]}")
    print()
    for env, rate in rates.items():
        print(f"falsification throughput {env:<26} {rate:>12,.0f} simulated steps/s (target >= 100,000)")
    for name in ("random", "worst"):
        if name in shield:
            f = shield[name]
            print(f"look-ahead shield, {name:<6} proposer: {f['steps']:,} steps, {f['outside_invariant']} outside the "
                  f"invariant, {f['interventions']:,} interventions, overhead {f['overhead_us']} us per step "
                  f"({f['shielded_step_us']} vs {f['unshielded_step_us']} us; target 0, <= 10 us)")
    print()
    print(json.dumps({
        "lookahead_shield": shield,
        "machine": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "rows": rows, "falsification_steps_per_s": {k: round(v) for k, v in rates.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
