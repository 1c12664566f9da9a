"""Benchmark of closed-loop proofs (issue 12's targets) on the shipped policies and specs.

Prints a table, then the same figures as JSON.  Run: python bench/closed_loop.py
[--quick] [--cap SECONDS] [--only SUBSTRING].  Each property's budget is its target time.  Each row is one property checked end to end:
falsification, then the proof, then (for invariants) the independent certificate check.
"""

from __future__ import annotations

import argparse
import json
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
    """The look-ahead shield on CartPole-v1 (fallback pole_only.pol, proved): random and
    worst.pol proposers, ``steps`` steps each; states outside the invariant and the cost
    of a decision."""
    import gymnasium

    from saferl.closedloop.lookahead import LookaheadShield, LookaheadTable
    from saferl.policy import ProgramPolicy

    prop = load_spec(ROOT / "specs/closedloop/cartpole.yaml").closed_loop[0]
    t = time.perf_counter()
    table = LookaheadTable.prove(load_policy(ROOT / "policies/cartpole/pole_only.pol"), prop)
    build = time.perf_counter() - t
    grid = table.grid
    alive = grid.alive.reshape(grid.shape)
    worst = ProgramPolicy(load_policy(ROOT / "policies/cartpole/worst.pol"))
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for name in ("random", "worst"):
        env = LookaheadShield(gymnasium.make("CartPole-v1", max_episode_steps=10**9), table)
        obs, _ = env.reset(seed=0)
        states = np.empty((steps, 4))
        decide = 0.0
        for i in range(steps):
            proposed = int(rng.integers(2)) if name == "random" else worst.act(obs)
            t = time.perf_counter()
            table.decide(obs, proposed)  # timed alone: the shield's own cost
            decide += time.perf_counter() - t
            obs, _, term, trunc, _ = env.step(proposed)
            states[i] = env.unwrapped.state
            if term or trunc:
                obs, _ = env.reset()
        first, _, leaves = grid.index_ranges(states[:, grid.dims], states[:, grid.dims])
        inside = ~leaves & alive[tuple(first[:, j] for j in range(first.shape[1]))]
        out[name] = {"steps": steps, "outside_invariant": int((~inside).sum()),
                     "interventions": env.interventions, "decision_us": round(decide / steps * 1e6, 2)}
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
        t = time.perf_counter()
        (out,) = check_closed_loop(program, spec_obj, ClosedLoopOptions(timeout_s=budget), policy_path=policy)
        wall = time.perf_counter() - t
        r = out.result
        rows.append({
            "policy": policy, "spec": spec, "property": r.property_id, "target": target, "target_s": target_s,
            "verdict": r.verdict.value, "seconds": round(wall, 2), "within_target": bool(wall <= target_s),
            "proved_steps": out.proved_steps, "message": r.message, **{k: v for k, v in out.stats.items() if k != "dims"},
        })
    rates = {
        "CartPole-v1": throughput("CartPole-v1", "policies/cartpole/near_optimal.pol", "specs/closedloop/cartpole.yaml"),
        "Pendulum-v1": throughput("Pendulum-v1", "policies/pendulum/swing_up.pol", "specs/closedloop/pendulum.yaml"),
        "MountainCarContinuous-v0": throughput(
            "MountainCarContinuous-v0", "policies/mountaincar/bang_bang.pol", "specs/closedloop/mountaincar.yaml"),
    }
    shield = shield_figures(args.shield_steps) if not args.only else {}
    print(f"{'policy':<40} {'spec':<32} {'verdict':<8} {'s':>7} {'target':>7}  detail")
    for row in rows:
        print(f"{Path(row['policy']).name:<40} {Path(row['spec']).name:<32} {row['verdict']:<8} "
              f"{row['seconds']:>7.2f} {row['target_s']:>7}  {row['message'][:110]}")
    print()
    for env, rate in rates.items():
        print(f"falsification throughput {env:<26} {rate:>12,.0f} simulated steps/s (target >= 100,000)")
    for name in ("random", "worst"):
        if name in shield:
            f = shield[name]
            print(f"look-ahead shield, {name:<6} proposer: {f['steps']:,} steps, {f['outside_invariant']} outside the "
                  f"invariant, {f['interventions']:,} interventions, {f['decision_us']} us per decision (target 0, <= 10 us)")
    print()
    print(json.dumps({
        "lookahead_shield": shield,
        "machine": platform.platform(), "python": platform.python_version(), "numpy": np.__version__,
        "rows": rows, "falsification_steps_per_s": {k: round(v) for k, v in rates.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
