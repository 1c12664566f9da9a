"""Encode .pol programs as pySMT terms over the reals, soundly for float64 arithmetic.

:class:`ProgramEncoder` turns one step of a program into a term per action and the next
PID state.  Constants enter as exact rationals (``Fraction`` of the float64); operations
on constants are folded in float64 as the runtime folds them; every other ``+ - * /`` is
rounded soundly by :class:`~saferl.smt.rounding.Arith` (a fresh symbol within float64's
rounding error, overflow a way to fail).  Comparisons of float32 observations against
constants are snapped to float32 (see :mod:`saferl.smt.floats`) and the open gaps next to
each threshold are excluded, so a real model rounds to a float32 counterexample.  Any
subset of the program's parameters (thresholds, leaves, gains) can be symbols instead of
constants: repair reuses the encoder that way, with ``rounding=False`` (plain reals; its
results are re-verified soundly).

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
    Real,
    Symbol,
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
from saferl.smt.floats import f32_pred, f32_succ, snap_threshold
from saferl.smt.rounding import Arith, Value, lift

__all__ = [
    "MIRROR", "ProgramEncoder", "real", "compare", "snap_compare", "snap_threshold", "term_abs", "term_min",
    "term_max", "gap_term", "value_compare", "call_value", "negate",
]

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


def gap_term(x: FNode, d: float) -> FNode | None:
    """``x <= d or x >= next float32 after d``: no real strictly between (None above the
    largest float32, where the finite range already excludes the gap)."""
    succ = f32_succ(d)
    if succ == float("inf") or d == float("-inf"):
        return None
    return Or(LE(x, real(d)), GE(x, real(succ)))


def value_compare(
    op: str, a: float | FNode, b: float | FNode, f32_symbols: Collection[FNode], gaps: set[tuple[FNode, float]]
) -> FNode:
    """``a op b`` for float64 values: folded when both are constants, snapped when one is
    a float32 observation and the other a constant, exact otherwise (float64 compares
    exactly).  An infinite constant compares with a finite value by its sign."""
    if isinstance(a, float | int) and isinstance(b, float | int):
        return TRUE() if _py_compare(op, float(a), float(b)) else FALSE()
    if isinstance(a, float | int):
        a, b, op = b, a, MIRROR[op]
    if isinstance(b, float | int):
        c = float(b)
        if c in (float("inf"), float("-inf")):  # a is finite in every encoding
            holds = op == "!=" or (op in ("<", "<=") if c > 0 else op in (">", ">="))
            return TRUE() if holds else FALSE()
        if a in f32_symbols:
            return snap_compare(op, a, c, gaps)
    return compare(op, a, lift(b))


def _py_compare(op: str, a: float, b: float) -> bool:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    return a != b


def snap_compare(op: str, x: FNode, c: float, gaps: set[tuple[FNode, float]]) -> FNode:
    """``x op c`` for a float32 variable ``x`` and float64 constant ``c``, exactly as float32
    compares, over the reals.  Records in ``gaps`` the float32 thresholds whose open gap
    to the next float32 must be excluded for rounding to preserve the outcome."""
    kind, v = snap_threshold(op, c)
    if kind == "true":
        return TRUE()
    if kind == "false":
        return FALSE()
    if kind in ("eq", "ne"):
        gaps.add((x, v))
        below = f32_pred(v)
        if below != float("-inf"):
            gaps.add((x, below))
        eq = Equals(x, real(v))
        return eq if kind == "eq" else Not(eq)
    if kind == "le":
        gaps.add((x, v))
        return LE(x, real(v))
    gaps.add((x, f32_pred(v)))
    return GE(x, real(v))


class ProgramEncoder:
    """Encodes steps of one program; ``symbolic`` parameter ids become solver symbols.

    After encoding, :attr:`gaps` holds the (observation term, float32 threshold) pairs whose
    gap constraints :meth:`gap_constraints` returns; :attr:`param_symbols` maps parameter
    ids to their symbols.
    """

    def __init__(
        self, program: Program, symbolic: Collection[int] = (), prefix: str = "param", *,
        rounding: bool | None = None, arith: Arith | None = None,
    ):
        self.program = program
        #: float64 rounding modelled soundly (default: yes, unless parameters are symbolic)
        self.rounding = (not symbolic) if rounding is None else rounding
        self.arith = arith if arith is not None else Arith(self.rounding)
        self.f32 = {o.name: o.dtype == "float32" for o in program.observations}
        self.symbolic = frozenset(symbolic)
        # which node is which parameter matters only when some are symbolic (a walk of
        # the whole program otherwise spent for nothing)
        self._param_of = {id(p.node): p.id for p in program.parameters()} if self.symbolic else {}
        self.param_symbols: dict[int, FNode] = {
            k: Symbol(f"{prefix}{k}", REAL) for k in sorted(self.symbolic)
        }
        self.gaps: set[tuple[FNode, float]] = set()
        self._gap_cache: tuple[int, list[FNode]] | None = None
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
        if self._gap_cache is not None and self._gap_cache[0] == len(self.gaps):
            return list(self._gap_cache[1])
        terms = (gap_term(x, d) for x, d in sorted(self.gaps, key=lambda g: (g[0].symbol_name(), g[1])))
        out = [t for t in terms if t is not None]
        self._gap_cache = (len(self.gaps), out)
        return list(out)

    # -- encoding --------------------------------------------------------------------
    def step(
        self, obs: Mapping[str, FNode], state: Sequence[FNode]
    ) -> tuple[dict[str, FNode], tuple[FNode, ...]]:
        """Actions (one term each, discrete ones as their integer values) and next state."""
        acts, nxt = self.step_values(obs, state)
        m = self.arith.materialize
        return {k: m(v) for k, v in acts.items()}, tuple(m(v) for v in nxt)

    def step_values(
        self, obs: Mapping[str, FNode], state: Sequence[Value]
    ) -> tuple[dict[str, Value], tuple[Value, ...]]:
        """Like :meth:`step`, with values that may carry a rounding-error bound
        (:class:`~saferl.smt.rounding.Rounded`), so that errors accumulate as bounds
        instead of one symbol per operation."""
        self.bind_step(obs, state)
        acts = self._block(self.program.body, TRUE())
        return acts, tuple(self._next)

    def bind_step(self, obs: Mapping[str, FNode], state: Sequence[Value]) -> None:
        """Make ``obs`` and ``state`` the step that :meth:`condition` and :meth:`value`
        encode (:meth:`step_values` does this itself)."""
        self._obs = obs
        self._f32_syms = {obs[n] for n, is32 in self.f32.items() if is32 and n in obs}
        self._state = list(state)
        self._next: list[Value] = list(state)

    @property
    def f32_symbols(self) -> frozenset[FNode]:
        """The float32 observation symbols of the bound step."""
        return frozenset(self._f32_syms)

    def condition(self, c: Cond) -> FNode:
        """The term of one condition of the bound step (thresholds snapped, gaps recorded)."""
        return self._cond(c)

    def value(self, e: Expr) -> Value:
        """One expression of the bound step, outside any pid: a float when constant
        (folded as float64 folds it), an observation's symbol, or a (rounded) term."""
        return self._expr(e, TRUE())

    def _const(self, node: Num | Label) -> Value:
        pid = self._param_of.get(id(node))
        if pid is not None and pid in self.symbolic:
            return self.param_symbols[pid]
        return float(node.value)

    def _is_symbolic(self, node: object) -> bool:
        pid = self._param_of.get(id(node))
        return pid is not None and pid in self.symbolic

    def _block(self, body: tuple[Stmt, ...], path: FNode) -> dict[str, Value]:
        acts: dict[str, Value] = {}
        for stmt in body:
            if isinstance(stmt, Assign):
                acts[stmt.target] = self._expr(stmt.value, path)
                continue
            if not isinstance(stmt, If):
                raise TypeError(f"not a statement: {stmt!r}")
            conds = [self._cond(c) for c, _ in stmt.branches]
            branch_acts = []
            rest = path  # no earlier branch taken (built once per branch: linear in the chain)
            for k, (_, blk) in enumerate(stmt.branches):
                branch_acts.append(self._block(blk, And(rest, conds[k])))
                rest = And(rest, Not(conds[k]))
            else_path = rest
            else_acts = self._block(stmt.orelse, else_path) if stmt.orelse else {}
            for name in branch_acts[0]:
                term: Value | None = else_acts.get(name)
                for k in range(len(conds) - 1, -1, -1):
                    here_v = branch_acts[k][name]
                    term = here_v if term is None else self.arith.ite(conds[k], here_v, term)
                if term is not None:
                    acts[name] = term
        return acts

    def _cond(self, c: Cond) -> FNode:
        if isinstance(c, Compare):
            m = self.arith.materialize
            a, b = m(self._expr(c.left, TRUE())), m(self._expr(c.right, TRUE()))
            return value_compare(c.op, a, b, self._f32_syms, self.gaps)
        if isinstance(c, BoolOp):
            parts = [self._cond(o) for o in c.operands]
            return And(parts) if c.op == "and" else Or(parts)
        if isinstance(c, PNot):
            return Not(self._cond(c.operand))
        if isinstance(c, BoolConst):
            return TRUE() if c.value else FALSE()
        raise TypeError(f"not a condition: {c!r}")

    def _expr(self, e: Expr, path: FNode) -> Value:
        if isinstance(e, Num | Label):
            return self._const(e)
        if isinstance(e, Obs):
            return self._obs[e.name]
        ar = self.arith
        if isinstance(e, Neg):
            return negate(self._expr(e.operand, path), ar)
        if isinstance(e, BinOp):
            a = self._expr(e.left, path)
            if e.op == "/":
                if not isinstance(e.right, Num):
                    raise TypeError("division by a non-constant")
                if self._is_symbolic(e.right):
                    raise TypeError("a divisor cannot be a symbolic parameter")
                return ar.binop("/", a, e.right.value)
            return ar.binop(e.op, a, self._expr(e.right, path))
        if isinstance(e, Call):
            return call_value(e.func, [self._expr(a, path) for a in e.args], ar)
        if isinstance(e, Pid):
            k = self.program.pid_slots[e.site]
            err = ar.binop("-", self._const(e.target), self._expr(e.signal, path))
            integral, deriv, nxt = e.update(err, self._state[k:k + e.state_size],
                                            lambda a, b: ar.binop("+", a, b), lambda a, b: ar.binop("-", a, b))
            # the controller's state advances only on steps where it is evaluated
            for j, v in enumerate(nxt):
                self._next[k + j] = ar.ite(path, v, self._state[k + j])
            out = ar.binop("+", ar.binop("*", self._const(e.kp), err), ar.binop("*", self._const(e.ki), integral))
            return ar.binop("+", out, ar.binop("*", self._const(e.kd), deriv))
        raise TypeError(f"not an expression: {e!r}")


def negate(v: Value, arith: Arith) -> Value:
    """``-v`` (exact in float64)."""
    return arith.negate(v)


def call_value(func: str, args: list[Value], arith: Arith) -> Value:
    """``abs``/``min``/``max``/``clip`` as Python computes them on floats (all exact);
    folded when every argument is a constant."""
    if all(isinstance(a, float | int) for a in args):
        fargs = [float(a) for a in args]  # type: ignore[arg-type]
        if func == "abs":
            return abs(fargs[0])
        if func == "clip":
            return min(max(fargs[0], fargs[1]), fargs[2])
        acc = fargs[0]
        for a in fargs[1:]:
            acc = min(acc, a) if func == "min" else max(acc, a)
        return acc

    def build(terms: list[FNode]) -> FNode:
        if func == "abs":
            return term_abs(terms[0])
        if func == "clip":
            return term_min(term_max(terms[0], terms[1]), terms[2])
        acc_t = terms[0]
        for t in terms[1:]:
            acc_t = term_min(acc_t, t) if func == "min" else term_max(acc_t, t)
        return acc_t

    # the arguments become symbols first, so the result keeps what these functions
    # guarantee exactly (clip's range, abs's sign) instead of a blurred bound
    return build([arith.materialize(a) for a in args])
