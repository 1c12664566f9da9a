"""The one solver factory: deterministic seeds, time limits, ``unknown`` never read as an answer.

Example:
    >>> from pysmt.shortcuts import Symbol, GT, LT, And, Real
    >>> from pysmt.typing import REAL
    >>> x = Symbol("x", REAL)
    >>> solve(And(GT(x, Real(1)), LT(x, Real(0))), [x]).status
    'unsat'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pysmt.exceptions import SolverReturnedUnknownResultError
from pysmt.fnode import FNode
from pysmt.oracles import get_logic
from pysmt.shortcuts import get_env

from saferl.errors import SolverError

__all__ = ["SolveOutcome", "solve", "SOLVERS"]

SOLVERS = ("z3", "cvc5")
SEED = 0


@dataclass(frozen=True)
class SolveOutcome:
    """``status`` is sat, unsat or unknown; ``model`` maps symbols to exact values when sat."""

    status: str
    solver: str
    time_s: float
    model: dict[FNode, Fraction] = field(default_factory=dict)
    reason: str = ""


def _options(name: str, timeout_s: float) -> dict[str, object]:
    ms = max(1, int(timeout_s * 1000))
    if name == "z3":
        return {"timeout": ms}
    return {"tlimit-per": ms}


def _make_solver(name: str, formula: FNode, timeout_s: float) -> object:
    """Instantiate one backend directly (pySMT's factory would import every installed
    solver, which costs ``saferl verify`` a tenth of a second at start-up)."""
    from pysmt import logics

    linear = get_logic(formula).theory.linear
    opts = {"random_seed": SEED, "solver_options": _options(name, timeout_s)}
    if name == "z3":
        from pysmt.solvers.z3 import Z3Solver

        # a logic z3.SolverFor does not specialise on: z3 picks its own tactics (a too
        # specific logic such as QF_RDL can make it answer unknown)
        return Z3Solver(environment=get_env(), logic=logics.QF_UFLIRA if linear else logics.QF_NIRA, **opts)
    from pysmt.solvers.cvcfive import CVC5Solver

    return CVC5Solver(environment=get_env(), logic=logics.QF_LRA if linear else logics.QF_NRA, **opts)


def solve(
    formula: FNode, symbols: Sequence[FNode], solver: str = "z3", timeout_s: float = 10.0
) -> SolveOutcome:
    """Check ``formula``; on sat, read the values of ``symbols`` as exact rationals."""
    if solver not in SOLVERS:
        raise SolverError(f"unknown solver {solver!r}; solvers: {', '.join(SOLVERS)}")
    start = time.perf_counter()
    try:
        with _make_solver(solver, formula, timeout_s) as s:  # type: ignore[attr-defined]
            s.add_assertion(formula)
            try:
                sat = s.solve()
            except SolverReturnedUnknownResultError:
                elapsed = time.perf_counter() - start
                reason = f"timeout after {timeout_s:g} s" if elapsed >= timeout_s * 0.95 else f"{solver} answered unknown"
                return SolveOutcome("unknown", solver, elapsed, reason=reason)
            model: dict[FNode, Fraction] = {}
            if sat:
                for sym in symbols:
                    model[sym] = Fraction(s.get_py_value(sym))
    except SolverError:
        raise
    except Exception as exc:  # a backend crash is a tool error, never a verdict
        raise SolverError(f"{solver} failed: {exc}") from exc
    elapsed = time.perf_counter() - start
    return SolveOutcome("sat" if sat else "unsat", solver, elapsed, model)
