"""Concrete evaluation of spec expressions (used to replay counterexamples and by the shield)."""

from __future__ import annotations

from collections.abc import Callable

from saferl.spec.expr import SBin, SBool, SCall, SCmp, SConst, SExpr, SNeg, SNot, SNum, SVar

__all__ = ["eval_sexpr"]

Lookup = Callable[[SVar], float]


def eval_sexpr(e: SExpr, lookup: Lookup) -> float | bool:
    """Evaluate ``e`` in float64; ``lookup`` gives each variable's (already cast) value."""
    if isinstance(e, SNum):
        return e.value
    if isinstance(e, SVar):
        return lookup(e)
    if isinstance(e, SNeg):
        return -eval_sexpr(e.operand, lookup)
    if isinstance(e, SBin):
        a = float(eval_sexpr(e.left, lookup))
        b = float(eval_sexpr(e.right, lookup))
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        return a / b
    if isinstance(e, SCall):
        args = [float(eval_sexpr(a, lookup)) for a in e.args]
        if e.func == "abs":
            return abs(args[0])
        acc = args[0]
        for a in args[1:]:
            acc = min(acc, a) if e.func == "min" else max(acc, a)
        return acc
    if isinstance(e, SCmp):
        a = float(eval_sexpr(e.left, lookup))
        b = float(eval_sexpr(e.right, lookup))
        return {
            "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b,
        }[e.op]
    if isinstance(e, SBool):
        if e.op == "and":
            return all(bool(eval_sexpr(o, lookup)) for o in e.operands)
        return any(bool(eval_sexpr(o, lookup)) for o in e.operands)
    if isinstance(e, SNot):
        return not bool(eval_sexpr(e.operand, lookup))
    if isinstance(e, SConst):
        return e.value
    raise TypeError(f"not a spec expression: {e!r}")
