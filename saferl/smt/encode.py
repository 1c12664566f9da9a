"""Encode .pol programs as pySMT terms over the reals.

:class:`ProgramEncoder` turns one step of a program into a term per action and the next
PID state.  Constants enter as exact rationals (``Fraction`` of the float64), comparisons
of float32 observations against constants are snapped to float32 (see
:mod:`saferl.smt.floats`) and the open gaps next to each threshold are excluded, so a real
model rounds to a float32 counterexample.  Any subset of the program's parameters
(thresholds, leaves, gains) can be symbols instead of constants: repair reuses the encoder
that way.

Example:
    >>> from saferl.policy import parse_policy
    >>> p = parse_policy("policy p\\nobs x: float32\\nact a: continuous\\na = 2 * x\\n")
    >>> enc = ProgramEncoder(p)
    >>> acts, _ = enc.step({"x": enc.obs_symbol("x", "t")}, ())
    >>> str(acts["a"])
    '(2.0 * x@t)'
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction

from pysmt.fnode import FNode
from pysmt.shortcuts import (
    FALSE,
    GE,
    GT,
    LE,
    LT,
    TRUE,
    And,
    Equals,
    Ite,
    Minus,
    Not,
    NotEquals,
    Or,
    Plus,
    Real,
    Symbol,
    Times,
)
from pysmt.typing import REAL

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
    Num,
    Obs,
    Pid,
    Program,
    Stmt,
)
from saferl.policy.ast import (
    Not as PNot,
)
from saferl.smt.floats import f32_down, f32_pred, f32_succ, f32_up, is_f32

__all__ = ["MIRROR", "ProgramEncoder", "real", "compare", "snap_compare", "term_abs", "term_min", "term_max"]

MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def real(value: float | int | Fraction) -> FNode:
    """An exact rational constant (no decimal re-parsing)."""
    return Real(Fraction(value))


def compare(op: str, a: FNode, b: FNode) -> FNode:
    """The comparison ``a op b`` as a pySMT term."""
    if op == "<":
        return LT(a, b)
    if op == "<=":
        return LE(a, b)
    if op == ">":
        return GT(a, b)
    if op == ">=":
        return GE(a, b)
    if op == "==":
        return Equals(a, b)
    return NotEquals(a, b)


def term_abs(x: FNode) -> FNode:
    return Ite(GE(x, real(0)), x, Minus(real(0), x))


def term_min(a: FNode, b: FNode) -> FNode:
    return Ite(LE(a, b), a, b)


def term_max(a: FNode, b: FNode) -> FNode:
    return Ite(GE(a, b), a, b)


def snap_compare(op: str, x: FNode, c: float, gaps: set[tuple[FNode, float]]) -> FNode:
    """``x op c`` for a float32 variable ``x`` and float64 constant ``c``, exactly as float32
    compares, over the reals.  Records in ``gaps`` the float32 thresholds whose open gap
    to the next float32 must be excluded for rounding to preserve the outcome."""
    if op in ("==", "!="):
        if not is_f32(c):
            return FALSE() if op == "==" else TRUE()
        gaps.add((x, c))
        below = f32_pred(c)
        if below != float("-inf"):
            gaps.add((x, below))
        eq = Equals(x, real(c))
        return eq if op == "==" else Not(eq)
    if op in ("<=", "<"):
        d = f32_down(c) if op == "<=" else (f32_down(c) if not is_f32(c) else f32_pred(c))
        if d == float("-inf"):
            return FALSE()
        if d == float("inf"):
            return TRUE()
        gaps.add((x, d))
        return LE(x, real(d))
    u = f32_up(c) if op == ">=" else (f32_up(c) if not is_f32(c) else f32_succ(c))
    if u == float("inf"):
        return FALSE()
    if u == float("-inf"):
        return TRUE()
    gaps.add((x, f32_pred(u)))
    return GE(x, real(u))


class ProgramEncoder:
    """Encodes steps of one program; ``symbolic`` parameter ids become solver symbols.

    After encoding, :attr:`gaps` holds the (observation term, float32 threshold) pairs whose
    gap constraints :meth:`gap_constraints` returns; :attr:`param_symbols` maps parameter
    ids to their symbols.
    """

    def __init__(self, program: Program, symbolic: Collection[int] = (), prefix: str = "param"):
        self.program = program
        self.f32 = {o.name: o.dtype == "float32" for o in program.observations}
        params = program.parameters()
        self._param_of = {id(p.node): p.id for p in params}
        self.symbolic = frozenset(symbolic)
        self.param_symbols: dict[int, FNode] = {
            k: Symbol(f"{prefix}{k}", REAL) for k in sorted(self.symbolic)
        }
        self.gaps: set[tuple[FNode, float]] = set()
        self._step = 0

    # -- symbols ---------------------------------------------------------------------
    @staticmethod
    def obs_symbol(name: str, label: str) -> FNode:
        """The real symbol of observation ``name`` at step ``label``."""
        return Symbol(f"{name}@{label}", REAL)

    @staticmethod
    def state_symbols(program: Program, label: str) -> tuple[FNode, ...]:
        return tuple(Symbol(f"{n}@{label}", REAL) for n in program.state_names)

    def gap_constraints(self) -> list[FNode]:
        """For each recorded (x, d): x <= d or x >= the float32 after d."""
        return [Or(LE(x, real(d)), GE(x, real(f32_succ(d)))) for x, d in sorted(self.gaps, key=str)]

    # -- encoding --------------------------------------------------------------------
    def step(
        self, obs: Mapping[str, FNode], state: Sequence[FNode]
    ) -> tuple[dict[str, FNode], tuple[FNode, ...]]:
        """Actions (one term each, discrete ones as their integer values) and next state."""
        self._obs = obs
        self._state = list(state)
        self._next = list(state)
        acts = self._block(self.program.body, TRUE())
        return acts, tuple(self._next)

    def _const(self, node: Num | Label) -> FNode:
        pid = self._param_of.get(id(node))
        if pid is not None and pid in self.symbolic:
            return self.param_symbols[pid]
        return real(node.value)

    def _is_symbolic(self, node: object) -> bool:
        pid = self._param_of.get(id(node))
        return pid is not None and pid in self.symbolic

    def _block(self, body: tuple[Stmt, ...], path: FNode) -> dict[str, FNode]:
        acts: dict[str, FNode] = {}
        for stmt in body:
            if isinstance(stmt, Assign):
                acts[stmt.target] = self._expr(stmt.value, path)
                continue
            if not isinstance(stmt, If):
                raise TypeError(f"not a statement: {stmt!r}")
            conds = [self._cond(c) for c, _ in stmt.branches]
            branch_acts = []
            for k, (_, blk) in enumerate(stmt.branches):
                here = And([path, *[Not(c) for c in conds[:k]], conds[k]])
                branch_acts.append(self._block(blk, here))
            else_path = And([path, *[Not(c) for c in conds]])
            else_acts = self._block(stmt.orelse, else_path) if stmt.orelse else {}
            for name in branch_acts[0]:
                term = else_acts.get(name)
                for k in range(len(conds) - 1, -1, -1):
                    term = branch_acts[k][name] if term is None else Ite(conds[k], branch_acts[k][name], term)
                if term is not None:
                    acts[name] = term
        return acts

    def _cond(self, c: Cond) -> FNode:
        if isinstance(c, Compare):
            left, right, op = c.left, c.right, c.op
            if isinstance(left, Num) and isinstance(right, Obs):
                left, right, op = right, left, MIRROR[op]
            if (
                isinstance(left, Obs)
                and isinstance(right, Num)
                and self.f32[left.name]
                and not self._is_symbolic(right)
            ):
                return snap_compare(op, self._obs[left.name], right.value, self.gaps)
            return compare(op, self._expr(left, TRUE()), self._expr(right, TRUE()))
        if isinstance(c, BoolOp):
            parts = [self._cond(o) for o in c.operands]
            return And(parts) if c.op == "and" else Or(parts)
        if isinstance(c, PNot):
            return Not(self._cond(c.operand))
        if isinstance(c, BoolConst):
            return TRUE() if c.value else FALSE()
        raise TypeError(f"not a condition: {c!r}")

    def _expr(self, e: Expr, path: FNode) -> FNode:
        if isinstance(e, Num | Label):
            return self._const(e)
        if isinstance(e, Obs):
            return self._obs[e.name]
        if isinstance(e, Neg):
            return Minus(real(0), self._expr(e.operand, path))
        if isinstance(e, BinOp):
            a = self._expr(e.left, path)
            if e.op == "/":
                if not isinstance(e.right, Num):
                    raise TypeError("division by a non-constant")
                if self._is_symbolic(e.right):
                    raise TypeError("a divisor cannot be a symbolic parameter")
                return Times(a, real(1 / Fraction(e.right.value)))
            b = self._expr(e.right, path)
            if e.op == "+":
                return Plus(a, b)
            if e.op == "-":
                return Minus(a, b)
            return Times(a, b)
        if isinstance(e, Call):
            args = [self._expr(a, path) for a in e.args]
            if e.func == "abs":
                return term_abs(args[0])
            if e.func == "clip":
                return term_min(term_max(args[0], args[1]), args[2])
            acc = args[0]
            for a in args[1:]:
                acc = term_min(acc, a) if e.func == "min" else term_max(acc, a)
            return acc
        if isinstance(e, Pid):
            k = 2 * e.site
            err = Minus(self._const(e.target), self._expr(e.signal, path))
            integral = Plus(self._state[k], err)
            deriv = Minus(err, self._state[k + 1])
            # the controller's state advances only on steps where it is evaluated
            self._next[k] = Ite(path, integral, self._state[k])
            self._next[k + 1] = Ite(path, err, self._state[k + 1])
            return Plus(
                Times(self._const(e.kp), err),
                Times(self._const(e.ki), integral),
                Times(self._const(e.kd), deriv),
            )
        raise TypeError(f"not an expression: {e!r}")
