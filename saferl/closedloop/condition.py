"""Spec conditions over states: on points (float64, as :func:`saferl.spec.eval_sexpr`) and
three-valued on boxes of states (certainly true, possibly true)."""

from __future__ import annotations

from typing import Any

import numpy as np

from saferl.dynamics.arith import BOXES, RIGOROUS, Boxes
from saferl.spec.expr import SBin, SBool, SCall, SCmp, SConst, SExpr, SNeg, SNot, SNum, SVar

__all__ = ["cond_points", "cond_boxes"]


def _val_pts(e: SExpr, cols: dict[str, np.ndarray]) -> Any:
    if isinstance(e, SNum):
        return np.float64(e.value)
    if isinstance(e, SVar):
        return cols[e.name]
    if isinstance(e, SNeg):
        return -_val_pts(e.operand, cols)
    if isinstance(e, SBin):
        a, b = _val_pts(e.left, cols), _val_pts(e.right, cols)
        with np.errstate(all="ignore"):
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[e.op](a, b)
    if isinstance(e, SCall):
        args = [_val_pts(a, cols) for a in e.args]
        if e.func == "abs":
            return np.abs(args[0])
        acc = args[0]
        for a in args[1:]:
            acc = np.where(a < acc, a, acc) if e.func == "min" else np.where(a > acc, a, acc)
        return acc
    raise TypeError(f"not a value: {e!r}")


def cond_points(e: SExpr, cols: dict[str, np.ndarray]) -> np.ndarray:
    """The condition on each point; ``cols`` maps state variables to (N,) float64 arrays."""
    if isinstance(e, SCmp):
        a, b = _val_pts(e.left, cols), _val_pts(e.right, cols)
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                "==": np.equal, "!=": np.not_equal}[e.op](a, b)  # type: ignore[no-any-return]
    if isinstance(e, SBool):
        parts = [cond_points(o, cols) for o in e.operands]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if e.op == "and" else (out | p)
        return out
    if isinstance(e, SNot):
        return ~cond_points(e.operand, cols)
    if isinstance(e, SConst):
        n = len(next(iter(cols.values())))
        return np.full(n, e.value)
    raise TypeError(f"not a condition: {e!r}")


def _val_box(e: SExpr, cols: dict[str, tuple[Any, Any]], A: Boxes) -> tuple[Any, Any]:
    if isinstance(e, SNum):
        v = np.float64(e.value)
        return (v, v)
    if isinstance(e, SVar):
        return cols[e.name]
    if isinstance(e, SNeg):
        lo, hi = _val_box(e.operand, cols, A)
        return (-hi, -lo)
    if isinstance(e, SBin):
        a, b = _val_box(e.left, cols, A), _val_box(e.right, cols, A)
        return {"+": A.add, "-": A.sub, "*": A.mul, "/": A.div}[e.op](a, b)  # type: ignore[no-any-return]
    if isinstance(e, SCall):
        args = [_val_box(a, cols, A) for a in e.args]
        if e.func == "abs":
            lo, hi = args[0]
            return (np.where(lo >= 0, lo, np.where(hi <= 0, -hi, 0.0)), np.maximum(np.abs(lo), np.abs(hi)))
        lo, hi = args[0]
        for a0, a1 in args[1:]:
            f = np.minimum if e.func == "min" else np.maximum
            lo, hi = f(lo, a0), f(hi, a1)
        return (lo, hi)
    raise TypeError(f"not a value: {e!r}")


def cond_boxes(e: SExpr, cols: dict[str, tuple[Any, Any]], rigorous: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(certainly true, possibly true) on boxes; ``cols`` maps variables to (lo, hi) arrays."""
    A = RIGOROUS if rigorous else BOXES
    if isinstance(e, SCmp):
        (al, ah), (bl, bh) = _val_box(e.left, cols, A), _val_box(e.right, cols, A)
        if e.op == "<=":
            return ah <= bl, al <= bh
        if e.op == "<":
            return ah < bl, al < bh
        if e.op == ">=":
            return al >= bh, ah >= bl
        if e.op == ">":
            return al > bh, ah > bl
        point = (al == ah) & (bl == bh) & (al == bl)
        overlap = (al <= bh) & (bl <= ah)
        return (point, overlap) if e.op == "==" else (~overlap, ~point)
    if isinstance(e, SBool):
        parts = [cond_boxes(o, cols, rigorous) for o in e.operands]
        must, may = parts[0]
        for m2, y2 in parts[1:]:
            must, may = (must & m2, may & y2) if e.op == "and" else (must | m2, may | y2)
        return must, may
    if isinstance(e, SNot):
        must, may = cond_boxes(e.operand, cols, rigorous)
        return ~may, ~must
    if isinstance(e, SConst):
        n = len(next(iter(cols.values()))[0])
        return np.full(n, e.value), np.full(n, e.value)
    raise TypeError(f"not a condition: {e!r}")
