"""Checking candidate parameter values on counterexample points, fast.

The repair loop asks many times "do these parameter values make every property hold at
every point found so far?" (rounding a solution to simple numbers, tuning for return).
Substituting the values into the symbolic point constraints and simplifying costs the
size of the whole program per point; running the program concretely costs one path.

The concrete route is taken only where it gives exactly the symbolic answer: the program
is a tree (comparisons of an observation with a constant, constant leaves, no state), so
float64 evaluation and the real-number constraints compare the same exact numbers, and
the property's expressions have no arithmetic (comparisons of values only) and no margin
rewriting.  Everything else keeps the symbolic check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from saferl.policy.ast import (
    Assign,
    BinOp,
    BoolConst,
    BoolOp,
    Call,
    Compare,
    Cond,
    Expr,
    If,
    Label,
    Neg,
    Not,
    Num,
    Obs,
    Pid,
    Stmt,
    walk,
)
from saferl.repair.points import Point, PointConstraints
from saferl.repair.space import walk_expr
from saferl.smt.encode import real
from saferl.smt.frame import concrete_lookup
from saferl.spec.bind import property_condition
from saferl.spec.evaluate import eval_sexpr
from saferl.spec.expr import SBin, SCall, SCmp, SConst, SExpr, SNeg, SNot, SNum, SVar

__all__ = ["PointChecker", "BudgetExhausted"]


class BudgetExhausted(Exception):
    """The repair's deadline passed during a check (the answer is not known)."""


def _leafy(e: Expr) -> bool:
    return isinstance(e, Num | Label)


def _tree_cond(c: Cond) -> bool:
    if isinstance(c, Compare):
        sides = (c.left, c.right)
        return all(isinstance(s, Num | Obs | Label) for s in sides)
    if isinstance(c, BoolOp):
        return all(_tree_cond(o) for o in c.operands)
    if isinstance(c, Not):
        return _tree_cond(c.operand)
    return isinstance(c, BoolConst)


def _is_tree(body: tuple[Stmt, ...]) -> bool:
    for node in walk(body):
        if isinstance(node, Pid | BinOp | Call | Neg):
            return False
        if isinstance(node, Assign) and not _leafy(node.value):
            return False
        if isinstance(node, If) and not all(_tree_cond(c) for c, _ in node.branches):
            return False
    return True


def _has_arith(e: SExpr | None) -> bool:
    """Does ``e`` compute (``+ - * /``), where float64 and reals could differ?"""
    if e is None or isinstance(e, SNum | SVar | SConst):
        return False
    if isinstance(e, SBin):
        return True
    if isinstance(e, SNeg | SNot):
        return _has_arith(e.operand)
    if isinstance(e, SCmp):
        return _has_arith(e.left) or _has_arith(e.right)
    if isinstance(e, SCall):
        return any(_has_arith(a) for a in e.args)
    return any(_has_arith(a) for a in e.operands)


class PointChecker:
    """``holds_all(points, values)`` for one shape's point constraints, concrete where exact.

    ``deadline`` (a ``time.perf_counter()`` value) is checked between points; past it,
    :class:`BudgetExhausted` is raised.
    """

    def __init__(self, pc: PointConstraints, deadline: float | None = None):
        self.pc = pc
        self.deadline = deadline
        program = pc.program
        self._param_of = {id(p.node): p.id for p in program.parameters()}
        self._props = {p.id: p for p in pc.spec.properties}
        self._conds: dict[str, tuple[SExpr, SExpr]] = {}
        self.concrete = (
            not program.state_names
            and _is_tree(program.body)
            and all(self._spec_exact(p.id) for p in pc.spec.properties)
        )

    def _spec_exact(self, pid: str) -> bool:
        when, require = property_condition(self._props[pid], self.pc.binding)
        self._conds[pid] = (when, require)
        return not _has_arith(when) and not _has_arith(require) and not self.pc.margin_applies(pid)

    def _tick(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise BudgetExhausted

    # -- the concrete route ----------------------------------------------------------
    def _value(self, e: Expr, obs: Mapping[str, float], values: Mapping[int, float]) -> float:
        if isinstance(e, Obs):
            return obs[e.name]
        k = self._param_of.get(id(e))
        if k is not None and k in values:
            return float(values[k])
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Label):
            return float(e.value)
        raise TypeError(f"not a tree value: {e!r}")

    def _cond(self, c: Cond, obs: Mapping[str, float], values: Mapping[int, float]) -> bool:
        if isinstance(c, Compare):
            a, b = self._value(c.left, obs, values), self._value(c.right, obs, values)
            return {"<=": a <= b, "<": a < b, ">=": a >= b, ">": a > b, "==": a == b, "!=": a != b}[c.op]
        if isinstance(c, BoolOp):
            if c.op == "and":
                return all(self._cond(o, obs, values) for o in c.operands)
            return any(self._cond(o, obs, values) for o in c.operands)
        if isinstance(c, Not):
            return not self._cond(c.operand, obs, values)
        if not isinstance(c, BoolConst):
            raise TypeError(f"not a condition: {c!r}")
        return c.value

    def _run(self, body: tuple[Stmt, ...], obs: Mapping[str, float], values: Mapping[int, float],
             out: dict[str, float]) -> None:
        for stmt in body:
            if isinstance(stmt, Assign):
                out[stmt.target] = self._value(stmt.value, obs, values)
                continue
            for cond, blk in stmt.branches:
                if self._cond(cond, obs, values):
                    self._run(blk, obs, values, out)
                    break
            else:
                self._run(stmt.orelse, obs, values, out)

    def _holds_concrete(self, point: Point, values: Mapping[int, float]) -> bool:
        spec = self.pc.spec
        _, frame = self.pc.encoded(point.property_id)
        obs = {lbl: dict(d) for lbl, d in point.obs}
        for lbl in frame.obs_labels:
            for name, (lo, hi) in spec.domains.items():
                if not lo <= obs[lbl][name] <= hi:
                    return True  # outside the domain the property asks nothing
        acts: dict[str, dict[str, float]] = {}
        for lbl in frame.exec_labels:
            out: dict[str, float] = {}
            self._run(self.pc.program.body, obs[lbl], values, out)
            acts[lbl] = out
        lookup = concrete_lookup(self.pc.binding, frame.mode, obs, acts)
        when, require = self._conds[point.property_id]
        return not (bool(eval_sexpr(when, lookup)) and not bool(eval_sexpr(require, lookup)))

    def _trace(self, body: tuple[Stmt, ...], obs: Mapping[str, float], seen: set[int]) -> None:
        for stmt in body:
            if isinstance(stmt, Assign):
                k = self._param_of.get(id(stmt.value))
                if k is not None:
                    seen.add(k)
                continue
            for cond, blk in stmt.branches:
                seen.update(self._param_of[id(n)] for n in walk_expr(cond) if id(n) in self._param_of)
                if self._cond(cond, obs, {}):
                    self._trace(blk, obs, seen)
                    break
            else:
                self._trace(stmt.orelse, obs, seen)

    def path_params(self, points: Sequence[Point]) -> set[int]:
        """The parameters the program reads on its way to each point's actions (the guards
        evaluated and the leaves assigned); only meaningful when :attr:`concrete`."""
        seen: set[int] = set()
        for p in points:
            for _, obs in p.obs:
                self._trace(self.pc.program.body, dict(obs), seen)
        return seen

    # -- the check -------------------------------------------------------------------
    def holds_all(self, points: Sequence[Point], values: Mapping[int, float]) -> bool:
        """Do ``values`` make the property hold at every point (exactly)?"""
        if self.concrete:
            for i, p in enumerate(points):
                if i % 64 == 0:
                    self._tick()
                if not self._holds_concrete(p, values):
                    return False
            return True
        syms = self.pc.param_symbols
        subs = {syms[k]: real(v) for k, v in values.items() if k in syms}
        for p in points:
            self._tick()
            if not self.pc.holds_at(p).substitute(subs).simplify().is_true():
                return False
        return True
