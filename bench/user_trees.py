"""Benchmark of issue 15's target: 20 hypothesis-generated user trees with mixed invariant +
two-run smoothness specs, repaired and SAFE, each within 30 s.

The trees are the ones tests/repair/test_user_trees.py repairs (tests/repair/user_tree_cases.py,
fixed-seed hypothesis profile).  Each is repaired with ``repair_policy`` (a 30 s budget) and
the text handed back is proved again by ``verify_policy``.  Per tree: what broke it, the
repair's status and shape, its CPU time (this process and its solver children) and wall
time; then the maximum, the median and the SAFE count.  Wall time on a shared machine
includes waiting for a core, so the load average is printed too.  Prints a table, then
the same figures as JSON (last line of stdout).

    python bench/user_trees.py             # all 20 (~1 min of CPU on 2 cores)
    python bench/user_trees.py --only 0 7  # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "repair"))

from user_tree_cases import collect_cases  # noqa: E402

from saferl.policy import parse_policy  # noqa: E402
from saferl.repair import RepairOptions, repair_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import parse_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

BUDGET_S = 30.0


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_case(index: int, case) -> dict[str, object]:  # type: ignore[no-untyped-def]
    program, spec = parse_policy(case.policy), parse_spec(case.spec)
    before = verify_policy(program, spec).verdict.value
    cpu0, wall0 = _cpu(), time.perf_counter()
    result = repair_policy(program, spec, RepairOptions(timeout_s=BUDGET_S), source_text=case.policy)
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    after = None
    if result.status == "repaired":
        after = verify_policy(parse_policy(result.policy_text, "<repaired>"), spec).verdict.value
    return {
        "tree": index,
        "broken": case.broken,
        "ifs": case.policy.count("if "),
        "before": before,
        "status": result.status,
        "shape": result.reason.removeprefix("repaired by ") if result.status == "repaired" else result.reason[:80],
        "verdict": after,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", type=int, nargs="*", help="tree indices to run (default: all)")
    args = ap.parse_args()
    cases = collect_cases()
    picked = args.only if args.only else list(range(len(cases)))
    rows = []
    print(f"{'tree':>4} {'broken':<18} {'ifs':>3} {'status':<13} {'verdict':<7} {'cpu s':>6} {'wall s':>6}  shape")
    for i in picked:
        row = run_case(i, cases[i])
        rows.append(row)
        print(f"{row['tree']:>4} {row['broken']:<18} {row['ifs']:>3} {row['status']:<13} {row['verdict'] or '-':<7} "
              f"{row['cpu_s']:>6.2f} {row['wall_s']:>6.2f}  {row['shape']}", flush=True)
    cpu = [float(r["cpu_s"]) for r in rows]  # type: ignore[arg-type]
    wall = [float(r["wall_s"]) for r in rows]  # type: ignore[arg-type]
    safe = sum(1 for r in rows if r["verdict"] == Verdict.SAFE.value)
    summary = {
        "trees": len(rows),
        "safe": safe,
        "budget_s": BUDGET_S,
        "cpu_max_s": max(cpu),
        "cpu_median_s": round(statistics.median(cpu), 2),
        "wall_max_s": max(wall),
        "wall_median_s": round(statistics.median(wall), 2),
        "within_budget": sum(1 for w in wall if w <= BUDGET_S),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(f"\n{safe}/{len(rows)} repaired and proved SAFE; CPU max {summary['cpu_max_s']:.2f} s, median "
          f"{summary['cpu_median_s']:.2f} s; wall max {summary['wall_max_s']:.2f} s, median "
          f"{summary['wall_median_s']:.2f} s (load average {summary['load_average'][0]} on {summary['cpus']} CPUs)")
    print(json.dumps({"user_trees": rows, "summary": summary}))


if __name__ == "__main__":
    main()
