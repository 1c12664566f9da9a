"""A .pol program evaluated on many observations at once: on points (vectorized simulation)
and on boxes of float32 observations (which leaves are possible, with their action ranges).

Comparisons see the float32 observation values and float64 constants, arithmetic is
float64 — the semantics of :mod:`saferl.policy.evaluate`.  On boxes, a condition is
three-valued (certainly true, possibly true) and arithmetic is :data:`~saferl.dynamics.arith.BOXES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.dynamics.arith import BOXES
from saferl.errors import UnsupportedError
from saferl.policy.ast import (
    Assign,
    BinOp,
    BoolConst,
    BoolOp,
    Call,
    Compare,
    Cond,
    Expr,
    Label,
    Neg,
    Not,
    Num,
    Obs,
    Pid,
    Program,
    Stmt,
    walk,
)

__all__ = ["Leaf", "check_closed_loop_program", "act_points", "leaves_on_boxes", "expr_box", "cond_box", "Guard", "guards"]


def check_closed_loop_program(program: Program) -> None:
    """Closed-loop engines need one action and no pid state."""
    if len(program.actions) != 1:
        raise UnsupportedError(f"closed-loop checks need a policy with one action; {program.name!r} has {len(program.actions)}")
    if any(isinstance(n, Pid) for n in walk(program.body)):
        raise UnsupportedError(f"policy {program.name!r} has pid controllers (state); closed-loop proofs cover stateless programs")


# -- points ----------------------------------------------------------------------------

def _expr_pts(e: Expr, obs: dict[str, np.ndarray]) -> Any:
    if isinstance(e, Num):
        return np.float64(e.value)
    if isinstance(e, Obs):
        return obs[e.name]
    if isinstance(e, Label):
        return np.float64(e.value)
    if isinstance(e, Neg):
        return -_expr_pts(e.operand, obs)
    if isinstance(e, BinOp):
        a, b = _expr_pts(e.left, obs), _expr_pts(e.right, obs)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[e.op](a, b)
    if isinstance(e, Call):
        args = [_expr_pts(a, obs) for a in e.args]
        if e.func == "abs":
            return np.abs(args[0])
        if e.func == "clip":
            return np.minimum(np.maximum(args[0], args[1]), args[2])
        acc = args[0]
        for a in args[1:]:
            # Python's min/max keep the first argument on ties and NaN; so does this
            acc = np.where(a < acc, a, acc) if e.func == "min" else np.where(a > acc, a, acc)
        return acc
    raise UnsupportedError(f"cannot evaluate {type(e).__name__} in closed loop")


def _cond_pts(c: Cond, obs: dict[str, np.ndarray]) -> Any:
    if isinstance(c, Compare):
        a, b = _expr_pts(c.left, obs), _expr_pts(c.right, obs)
        return {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                "==": np.equal, "!=": np.not_equal}[c.op](a, b)
    if isinstance(c, BoolOp):
        parts = [_cond_pts(o, obs) for o in c.operands]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if c.op == "and" else (out | p)
        return out
    if isinstance(c, Not):
        return ~_cond_pts(c.operand, obs)
    return np.bool_(c.value)


def _block_pts(body: tuple[Stmt, ...], obs: dict[str, np.ndarray], active: Any, out: np.ndarray) -> None:
    if not np.any(active):  # no row runs this block (most of a big tree, at any one step)
        return
    for stmt in body:
        if isinstance(stmt, Assign):
            out[:] = np.where(active, _expr_pts(stmt.value, obs), out)
            continue
        rest = active
        for cond, blk in stmt.branches:
            c = _cond_pts(cond, obs) & rest
            _block_pts(blk, obs, c, out)
            rest = rest & ~c
        _block_pts(stmt.orelse, obs, rest, out)


def act_points(program: Program, obs: np.ndarray) -> np.ndarray:
    """The action for each row of ``obs`` (N, m) of float32 values; float64 (N,)."""
    cols = {name: obs[:, i] for i, name in enumerate(program.obs_names)}
    out = np.full(obs.shape[0], np.nan)
    _block_pts(program.body, cols, np.ones(obs.shape[0], dtype=bool), out)
    return out


# -- boxes -----------------------------------------------------------------------------

@dataclass
class Leaf:
    """One assignment the policy may execute: where it is possible and the action range."""

    possible: np.ndarray
    low: np.ndarray
    high: np.ndarray
    line: int
    expr: Expr | None = None  # the assigned expression (None once leaves were merged)


def expr_box(e: Expr, obs: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    """Enclosure of a policy expression's float64 value on observation boxes."""
    A = BOXES
    if isinstance(e, Num | Label):
        v = np.float64(e.value)
        return (v, v)
    if isinstance(e, Obs):
        return obs[e.name]
    if isinstance(e, Neg):
        lo, hi = expr_box(e.operand, obs)
        return (-hi, -lo)
    if isinstance(e, BinOp):
        a, b = expr_box(e.left, obs), expr_box(e.right, obs)
        return {"+": A.add, "-": A.sub, "*": A.mul, "/": A.div}[e.op](a, b)  # type: ignore[no-any-return]
    if isinstance(e, Call):
        args = [expr_box(a, obs) for a in e.args]
        if e.func == "abs":
            lo, hi = args[0]
            alo = np.where(lo >= 0, lo, np.where(hi <= 0, -hi, 0.0))
            return (alo, np.maximum(np.abs(lo), np.abs(hi)))
        if e.func == "clip":
            (x0, x1), (l0, l1), (h0, h1) = args
            lo, hi = np.maximum(x0, l0), np.maximum(x1, l1)
            return (np.minimum(lo, h0), np.minimum(hi, h1))
        lo, hi = args[0]
        for a0, a1 in args[1:]:
            f = np.minimum if e.func == "min" else np.maximum
            lo, hi = f(lo, a0), f(hi, a1)
        return (lo, hi)
    raise UnsupportedError(f"cannot evaluate {type(e).__name__} in closed loop")


def _cmp_box(op: str, a: tuple[Any, Any], b: tuple[Any, Any]) -> tuple[Any, Any]:
    (al, ah), (bl, bh) = a, b
    if op == "<=":
        return ah <= bl, al <= bh
    if op == "<":
        return ah < bl, al < bh
    if op == ">=":
        return al >= bh, ah >= bl
    if op == ">":
        return al > bh, ah > bl
    point = (al == ah) & (bl == bh) & (al == bl)
    overlap = (al <= bh) & (bl <= ah)
    if op == "==":
        return point, overlap
    return ~overlap, ~point


def cond_box(c: Cond, obs: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    """(certainly true, possibly true) of a policy condition on observation boxes."""
    if isinstance(c, Compare):
        return _cmp_box(c.op, expr_box(c.left, obs), expr_box(c.right, obs))
    if isinstance(c, BoolOp):
        parts = [cond_box(o, obs) for o in c.operands]
        must, may = parts[0]
        for m2, y2 in parts[1:]:
            must, may = (must & m2, may & y2) if c.op == "and" else (must | m2, may | y2)
        return must, may
    if isinstance(c, Not):
        must, may = cond_box(c.operand, obs)
        return ~may, ~must
    if not isinstance(c, BoolConst):
        raise TypeError(f"not a condition: {c!r}")
    return np.bool_(c.value), np.bool_(c.value)


def _block_box(
    body: tuple[Stmt, ...], obs: dict[str, tuple[Any, Any]], possible: np.ndarray,
    current: list[Leaf], out: list[Leaf],
) -> list[Leaf]:
    """Leaves after running ``body`` where ``possible``; ``current`` are the assignments so far."""
    leaves = current
    for stmt in body:
        if isinstance(stmt, Assign):
            lo, hi = expr_box(stmt.value, obs)
            n = possible.shape[0]
            leaves = [Leaf(possible.copy(), np.broadcast_to(lo, (n,)).copy(), np.broadcast_to(hi, (n,)).copy(), stmt.span.line,
                           stmt.value)]
            continue
        new: list[Leaf] = []
        rest_may = possible.copy()
        for cond, blk in stmt.branches:
            must, may = cond_box(cond, obs)
            here = rest_may & may
            if here.any():
                sub = [Leaf(lf.possible & here, lf.low, lf.high, lf.line, lf.expr) for lf in leaves]
                new += _block_box(blk, obs, here, sub, out)
            rest_may = rest_may & ~must
        if rest_may.any():
            sub = [Leaf(lf.possible & rest_may, lf.low, lf.high, lf.line, lf.expr) for lf in leaves]
            new += _block_box(stmt.orelse, obs, rest_may, sub, out)
        leaves = [lf for lf in new if lf.possible.any()]
    return leaves


def leaves_on_boxes(program: Program, olo: np.ndarray, ohi: np.ndarray) -> list[Leaf]:
    """Every assignment possible on each box of observations [olo, ohi] (N, m); leaves
    that assign the same constant are merged (one successor per distinct action)."""
    obs = {name: (olo[:, i], ohi[:, i]) for i, name in enumerate(program.obs_names)}
    n = olo.shape[0]
    leaves = [lf for lf in _block_box(program.body, obs, np.ones(n, dtype=bool), [], []) if lf.possible.any()]
    merged: list[Leaf] = []
    by_value: dict[tuple[float, float], Leaf] = {}
    for lf in leaves:
        lo, hi = lf.low[lf.possible], lf.high[lf.possible]
        if np.all(lo == lo[0]) and np.all(hi == hi[0]) and lo[0] == hi[0]:
            key = (float(lo[0]), float(hi[0]))
            if key in by_value:
                other = by_value[key]
                other.possible = other.possible | lf.possible
                other.low = np.where(lf.possible, lf.low, other.low)
                other.high = np.where(lf.possible, lf.high, other.high)
                other.expr = None
                continue
            by_value[key] = lf
        merged.append(lf)
    return merged


# -- guards: where a tree's tests can split a box exactly --------------------------------

@dataclass(frozen=True)
class Guard:
    """``obs op constant`` of the program, with the observation's index."""

    obs_index: int
    op: str
    value: float


def guards(program: Program) -> list[Guard]:
    """Every comparison of an observation with a constant (either side)."""
    index = {n: i for i, n in enumerate(program.obs_names)}
    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
    out: list[Guard] = []
    for node in walk(program.body):
        if isinstance(node, Compare):
            if isinstance(node.left, Obs) and isinstance(node.right, Num):
                out.append(Guard(index[node.left.name], node.op, node.right.value))
            elif isinstance(node.right, Obs) and isinstance(node.left, Num):
                out.append(Guard(index[node.right.name], flip[node.op], node.left.value))
    return out
