"""Benchmark of `saferl verify` on the shipped cases: solver time and end-to-end CLI time.

Prints a table, then the same figures as JSON.  Run: python bench/verify.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from saferl.policy import load_policy
from saferl.spec import load_spec
from saferl.verify import VerifyOptions, verify_policy

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("policies/cartpole/worst.pol", "specs/cartpole/pole_follow.yaml"),
    ("policies/cartpole/intermediate.pol", "specs/cartpole/pole_follow.yaml"),
    ("policies/cartpole/near_optimal.pol", "specs/cartpole/pole_follow.yaml"),
    ("policies/torcs/propel_prog.pol", "specs/torcs/smooth.yaml"),
    ("policies/pendulum/swing_up.pol", "specs/pendulum/upright.yaml"),
    ("policies/mountaincar/bang_bang.pol", "specs/mountaincar/momentum.yaml"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    saferl = Path(sys.executable).with_name("saferl")
    rows = []
    for policy, spec in CASES:
        program, spec_obj = load_policy(ROOT / policy), load_spec(ROOT / spec)
        solver = {}
        for _ in range(args.repeat):
            for r in verify_policy(program, spec_obj, VerifyOptions()).results:
                solver.setdefault(r.property_id, []).append(r.solver_time_s)
        wall = []
        verdict = ""
        for _ in range(args.repeat):
            t = time.perf_counter()
            proc = subprocess.run([str(saferl), "verify", str(ROOT / policy), "--spec", str(ROOT / spec), "-f", "json"],
                                  capture_output=True, text=True)
            wall.append(time.perf_counter() - t)
            verdict = json.loads(proc.stdout)["verdict"]
        for pid, times in solver.items():
            rows.append({
                "policy": policy, "spec": spec, "property": pid,
                "solver_median_s": statistics.median(times), "solver_max_s": max(times),
                "cli_median_s": statistics.median(wall), "cli_max_s": max(wall), "verdict": verdict,
            })
    print(f"saferl verify benchmark ({platform.processor() or platform.machine()}, {args.repeat} runs, median)")
    print(f"{'policy':40} {'property':18} {'solver s':>9} {'CLI wall s':>11} verdict")
    for r in rows:
        print(f"{r['policy']:40} {r['property']:18} {r['solver_median_s']:9.4f} {r['cli_median_s']:11.3f} {r['verdict']}")
    print(json.dumps({"bench": "verify", "repeat": args.repeat, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
