"""Searches get the same answer whatever the machine's speed and the process's history.

Solver calls in a search are bounded by z3's resource count (``saferl.smt.work``), not
the wall clock; formulas reach z3 with their commutative arguments in an order of their
own (``saferl.smt.order``), not pySMT's creation numbers.  (A repair also runs in a
pySMT environment of its own; tests/repair/test_repair_budget.py repeats repairs in one
process and across processes.)
"""

from __future__ import annotations

import z3
from pysmt.environment import pop_env, push_env
from pysmt.shortcuts import LT, And, Or, Plus, Real, Symbol
from pysmt.typing import REAL

from saferl.smt.order import stable_order
from saferl.smt.work import RLIMIT_PER_S, bound, used


def _formula(order: list[int]) -> str:
    """One formula: its symbols created, and its commutative arguments given, in ``order``."""
    syms = [Symbol(f"v{k}", REAL) for k in order]
    by_name = {s.symbol_name(): s for s in syms}
    atoms = [LT(Plus(by_name[f"v{k}"], by_name["v0"]), Real(k)) for k in order]
    return stable_order(And(Or(atoms[::-1]), *atoms)).serialize()


def test_stable_order_does_not_depend_on_argument_order_or_creation_history() -> None:
    outs = []
    for noise, order in ((0, [0, 1, 2, 3]), (53, [3, 2, 1, 0]), (211, [2, 0, 3, 1])):
        push_env()
        try:
            for i in range(noise):  # unrelated nodes first: other creation numbers
                Symbol(f"noise{i}", REAL)
            outs.append(_formula(order))
        finally:
            pop_env()
    assert outs[0] == outs[1] == outs[2]


def test_stable_order_keeps_a_formula_whose_arguments_are_in_order() -> None:
    x, y = Symbol("x", REAL), Symbol("y", REAL)
    f = LT(x, y)
    assert stable_order(f) is f


def test_a_bounded_check_stops_at_its_units_and_counts_them_the_same_way_each_time() -> None:
    counts = []
    for _ in range(2):
        ctx = z3.Context()
        s = z3.Solver(ctx=ctx)
        xs = [z3.Int(f"x{i}", ctx) for i in range(11)]  # pigeonhole: 11 holes for 11 distinct of 10
        s.add(z3.Distinct(xs), *[z3.And(x >= 0, x < 10) for x in xs])
        before = used(s)
        granted = bound(s, 0.05)
        assert granted == int(0.05 * RLIMIT_PER_S)
        assert s.check() == z3.unknown
        counts.append(used(s) - before)
    assert counts[0] == counts[1] >= granted
