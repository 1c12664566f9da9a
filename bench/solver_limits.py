"""Benchmark of solver time limits: does ``--timeout`` hold, and what does the guard cost?

Three parts, each figure wall-clock seconds and CPU seconds (user + sys of this process
and of its children, so a forked solver's work is counted):

1. the hard nonlinear fixture (tests/smt/data/hard_nonlinear.*) under each solver and
   limit, through :func:`saferl.smt.solve.solve` as ``saferl verify`` calls it;
2. the same fixture with the solver's own cooperative limit only (``isolate=False``), run
   in a subprocess killed at ``--cap`` seconds — what ``--timeout`` meant before the guard;
3. the cost of the guard on a small linear property (the common case): in-process vs
   forked, median of ``--repeat`` calls; and an irrational model (x * x == 2);
4. the bit-precise float check (:func:`saferl.smt.fp.solve_fp`) on the fixture: as it is
   called today (cooperative limit only) and wrapped in :func:`run_isolated`.

Prints a table, then the same figures as JSON.
Run: python bench/solver_limits.py [--limits 0.5 1 2] [--cap 20] [--repeat 20] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysmt.fnode import FNode
from pysmt.shortcuts import GE, GT, LE, And, Equals, Plus, Real, Symbol, Times
from pysmt.typing import REAL

from saferl.smt.solve import SOLVERS, SolveOutcome, run_isolated, solve

ROOT = Path(__file__).resolve().parents[1]
HARD_POL = ROOT / "tests/smt/data/hard_nonlinear.pol"
HARD_SPEC = ROOT / "tests/smt/data/hard_nonlinear.yaml"

# run by part 2 in a subprocess: the fixture under the solver's cooperative limit only
_BASELINE = """
import sys, time
from saferl.policy import load_policy
from saferl.spec import load_spec
from saferl.spec.bind import bind_spec
from saferl.smt.encode import ProgramEncoder
from saferl.smt.props import encode_property
from saferl.smt.solve import solve
program, spec = load_policy(sys.argv[1]), load_spec(sys.argv[2])
formula, frame = encode_property(spec.properties[0], spec, bind_spec(spec, program), ProgramEncoder(program))
out = solve(formula, frame.free_symbols(), sys.argv[3], float(sys.argv[4]), isolate=False)
print(out.status, out.time_s, out.reason)
"""


def cpu_s() -> float:
    """User + sys CPU seconds of this process and its reaped children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measured(call: Callable[[], SolveOutcome]) -> tuple[SolveOutcome, float, float]:
    """The outcome, wall seconds and CPU seconds of one call."""
    cpu0, t0 = cpu_s(), time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0, cpu_s() - cpu0


def hard_property() -> tuple[FNode, list[FNode]]:
    """The fixture's property, encoded as ``saferl verify`` encodes it."""
    from saferl.policy import load_policy
    from saferl.smt.encode import ProgramEncoder
    from saferl.smt.props import encode_property
    from saferl.spec import load_spec
    from saferl.spec.bind import bind_spec

    program, spec = load_policy(HARD_POL), load_spec(HARD_SPEC)
    formula, frame = encode_property(
        spec.properties[0], spec, bind_spec(spec, program), ProgramEncoder(program)
    )
    return formula, frame.free_symbols()


def part_limits(limits: list[float]) -> list[dict[str, Any]]:
    formula, symbols = hard_property()
    rows = []
    for solver in SOLVERS:
        for limit in limits:
            out, wall, cpu = measured(lambda: solve(formula, symbols, solver, limit))
            rows.append(
                {
                    "case": "hard_nonlinear",
                    "solver": solver,
                    "mode": "isolated" if out.isolated else "in-process",
                    "limit_s": limit,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "status": out.status,
                    "reason": out.reason,
                }
            )
    return rows


def part_baseline(limit: float, cap: float) -> list[dict[str, Any]]:
    rows = []
    for solver in SOLVERS:
        cpu0, t0 = cpu_s(), time.perf_counter()
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _BASELINE,
                    str(HARD_POL),
                    str(HARD_SPEC),
                    solver,
                    str(limit),
                ],
                capture_output=True,
                text=True,
                timeout=cap,
            )
            status, inner, reason = done.stdout.strip().split(" ", 2)
            reason += f" (the solver call: {float(inner):.3f} s; the rest is start-up)"
        except subprocess.TimeoutExpired:
            status, reason = "killed", f"still running at the {cap:g} s cap"
        rows.append(
            {
                "case": "hard_nonlinear",
                "solver": solver,
                "mode": "cooperative only",
                "limit_s": limit,
                "wall_s": time.perf_counter() - t0,
                "cpu_s": cpu_s() - cpu0,
                "status": status,
                "reason": reason,
            }
        )
    return rows


def part_cost(repeat: int) -> list[dict[str, Any]]:
    x, y = Symbol("bench_x", REAL), Symbol("bench_y", REAL)
    small = And(LE(Real(-4.8), x), LE(x, Real(4.8)), GT(y, Plus(x, Real(0.3))), LE(y, Real(0.5)))
    sqrt2 = And(Equals(Times(x, x), Real(2)), GE(x, Real(0)))
    rows = []
    for case, formula in (("small_linear", small), ("sqrt2_model", sqrt2)):
        for solver in SOLVERS:
            for isolate in (False, True):
                walls, cpus = [], []
                out = None
                for _ in range(repeat):
                    out, wall, cpu = measured(
                        lambda: solve(formula, [x, y], solver, 10.0, isolate=isolate)
                    )
                    walls.append(wall)
                    cpus.append(cpu)
                assert out is not None
                rows.append(
                    {
                        "case": case,
                        "solver": solver,
                        "mode": "isolated" if isolate else "in-process",
                        "limit_s": 10.0,
                        "wall_s": statistics.median(walls),
                        "cpu_s": statistics.median(cpus),
                        "status": out.status,
                        "reason": "approximate model" if out.approximate else "",
                    }
                )
    return rows


def part_bit_precise(limit: float) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from saferl.policy import load_policy
    from saferl.smt.fp import solve_fp
    from saferl.spec import load_spec
    from saferl.spec.bind import bind_spec

    program, spec = load_policy(HARD_POL), load_spec(HARD_SPEC)
    binding = bind_spec(spec, program)
    rows = []
    for solver in SOLVERS:
        for mode in ("cooperative only", "run_isolated"):

            def call(solver: str = solver) -> dict[str, Any]:
                return asdict(solve_fp(spec.properties[0], spec, binding, solver, limit))

            cpu0, t0 = cpu_s(), time.perf_counter()
            doc = call() if mode == "cooperative only" else run_isolated(call, limit, solver)
            wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
            status, reason = (
                ("unknown", "killed at the limit")
                if doc is None
                else (doc["status"], doc["reason"])
            )
            rows.append(
                {
                    "case": "hard_bitprecise",
                    "solver": solver,
                    "mode": mode,
                    "limit_s": limit,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "status": status,
                    "reason": reason,
                }
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument(
        "--cap", type=float, default=20.0, help="kill the cooperative-only baseline here"
    )
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip part 2 (it burns --cap s of CPU)"
    )
    args = ap.parse_args()
    rows = part_limits(args.limits)
    if not args.no_baseline:
        rows += part_baseline(1.0, args.cap)
    rows += part_cost(args.repeat)
    if not args.no_baseline:
        rows += part_bit_precise(1.0)
    print(
        f"solver limits ({platform.machine()}, python {platform.python_version()}; cost rows: median of {args.repeat})"
    )
    print(
        f"{'case':15} {'solver':6} {'mode':17} {'limit s':>7} {'wall s':>8} {'cpu s':>8}  status   reason"
    )
    for r in rows:
        print(
            f"{r['case']:15} {r['solver']:6} {r['mode']:17} {r['limit_s']:7g} {r['wall_s']:8.4f} "
            f"{r['cpu_s']:8.4f}  {r['status']:8} {r['reason']}"
        )
    print(json.dumps({"bench": "solver_limits", "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
