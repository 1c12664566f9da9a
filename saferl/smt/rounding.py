"""Float64 arithmetic over the reals, soundly: every rounding is a bounded error.

The runtime computes ``+ - * /`` in IEEE float64 with round-to-nearest.  Over the reals,
the result ``r`` of an operation whose exact value is ``e`` satisfies

    |r - e| <= U * |e| + ETA        (U = 2**-53, ETA = 2**-1075; ETA = 0 for + and -)

as long as ``|e|`` stays below :data:`OVERFLOW` (from there on the result is ±inf).
:class:`Arith` carries that error forward as a bound: a value is an exact real term plus
a bound on how far the runtime value can be from it (:class:`Rounded`), propagated through
``+ - * /`` with interval magnitudes of the operands (forward error analysis), through
negation and ``if`` unchanged; ``abs``/``min``/``max``/``clip`` take symbols for their
arguments, so their results keep their exact range.  Where a value is
compared or used by the spec it becomes a fresh real symbol within that bound of its exact
term (a linear constraint with a constant bound), so a real model of the encoding covers
*every* rounding the runtime can make: unsat means no float64 execution violates the
property.  Two uses of one value get independent errors: looser, still sound.

Overflow is one more way to be wrong: an operation whose magnitude may reach DBL_MAX (by
its operands' intervals) gets a symbol tied to ``|e|`` relatively, and the disjunct
``|e| >= OVERFLOW`` joins the violation; NaN and ±inf otherwise only come from constants,
which the real encoding refuses (:class:`NotModelled`) and the bit-precise encoding
(:mod:`saferl.smt.fp`) takes over.

Operations on two constants are folded with Python floats: exactly what the runtime does.
Operations that are exact in float64 (negation, ``abs``, ``min``/``max``, ``x * 2**k`` for
``k >= 0``, ``x * ±1``, ``x ± 0``) need no error term.

Example:
    >>> from pysmt.shortcuts import Symbol
    >>> from pysmt.typing import REAL
    >>> ar = Arith()
    >>> x = Symbol("x", REAL)
    >>> ar.bound(x, -1.0, 1.0)
    >>> ar.binop("*", 0.1, 10.0)         # folded as the runtime folds it
    1.0
    >>> r = ar.binop("+", x, 0.1)        # x + 0.1 within 1.2 * 2**-53 of the real sum
    >>> 0 < r.err < 2 * 1.1 * 2**-53
    True
    >>> s = ar.materialize(r)            # a symbol within that bound of x + 0.1
    >>> len(ar.side_constraints()), len(ar.overflows)
    (1, 0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeAlias

from pysmt.fnode import FNode
from pysmt.shortcuts import GE, LE, And, Ite, Minus, Or, Plus, Real, Symbol, Times
from pysmt.typing import REAL

__all__ = ["Arith", "NotModelled", "Rounded", "Value", "U", "ETA", "OVERFLOW", "DBL_MAX", "lift"]

#: unit roundoff of float64 (round to nearest)
U = Fraction(1, 2**53)
#: half the smallest subnormal: the absolute error bound of a product or quotient
ETA = Fraction(1, 2**1075)
#: the smallest exact magnitude that rounds to ±inf
OVERFLOW = Fraction(2**1024 - 2**970)
DBL_MAX = float.fromhex("0x1.fffffffffffffp+1023")



@dataclass(frozen=True)
class Rounded:
    """A runtime float64 value known to lie within ``err`` of the real term ``term``."""

    term: FNode
    err: float


#: a float64 value in an encoding: a Python float when known, an exact real term, or a
#: term with a bound on the rounding error accumulated so far
Value: TypeAlias = "float | FNode | Rounded"

_INF = math.inf


class NotModelled(Exception):
    """The real encoding cannot model this input (a non-finite constant); the caller
    switches to the bit-precise encoding."""


def lift(v: float | FNode) -> FNode:
    """A constant or exact term as a real term (constants exactly, as ``Fraction``)."""
    if isinstance(v, FNode):
        return v
    if not math.isfinite(v):
        raise NotModelled(f"the non-finite constant {v!r}")
    return Real(Fraction(v))


def _is(v: object, c: float) -> bool:
    """Is ``v`` the constant ``c`` (never true of a term)?"""
    return isinstance(v, float | int) and v == c


def _is_pow2(c: float) -> bool:
    m, _ = math.frexp(abs(c))
    return m == 0.5


def _down(x: float) -> float:
    return math.nextafter(math.nextafter(x, -_INF), -_INF) if math.isfinite(x) else x


def _up(x: float) -> float:
    return math.nextafter(math.nextafter(x, _INF), _INF) if math.isfinite(x) else x


def _mul_iv(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    prods = []
    for p in a:
        for q in b:
            if (p == 0 and math.isinf(q)) or (q == 0 and math.isinf(p)):
                prods.append(0.0)
            else:
                prods.append(p * q)
    return _down(min(prods)), _up(max(prods))


class Arith:
    """Rounded float64 arithmetic on :data:`Value` s; collects the side constraints.

    ``rounding=False`` gives the plain real semantics (exact operations; used by repair's
    search, whose results are re-verified soundly).
    """

    def __init__(self, rounding: bool = True, prefix: str = "fl"):
        self.rounding = rounding
        self.prefix = prefix
        self.definitions: dict[FNode, FNode] = {}
        self.overflows: list[FNode] = []
        self._bounds: dict[FNode, tuple[float, float]] = {}
        self._count = 0

    # -- intervals (only to leave out overflow disjuncts that cannot hold) ---------------
    def bound(self, symbol: FNode, lo: float, hi: float) -> None:
        """Declare the range of a free symbol."""
        self._bounds[symbol] = (lo, hi)

    def interval(self, term: FNode) -> tuple[float, float]:
        """A sound float enclosure of ``term`` (iterative: terms can be deep)."""
        memo = self._bounds
        if term in memo:
            return memo[term]
        stack: list[tuple[FNode, bool]] = [(term, False)]
        while stack:
            node, ready = stack.pop()
            if node in memo:
                continue
            if node.is_constant():
                v = node.constant_value()
                try:
                    memo[node] = (_down(float(v)), _up(float(v))) if isinstance(v, Fraction) else (-_INF, _INF)
                except OverflowError:
                    memo[node] = (-_INF, _INF)
                continue
            if node.is_symbol():
                memo[node] = (-_INF, _INF)
                continue
            if node.is_ite():
                kids = node.args()[1:]
            elif node.is_plus() or node.is_minus() or node.is_times():
                kids = node.args()
            else:
                memo[node] = (-_INF, _INF)
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((k, False) for k in kids if k not in memo)
                continue
            ivs = [memo[k] for k in kids]
            if node.is_ite():
                memo[node] = (min(ivs[0][0], ivs[1][0]), max(ivs[0][1], ivs[1][1]))
            elif node.is_plus():
                memo[node] = (_down(sum(i[0] for i in ivs)), _up(sum(i[1] for i in ivs)))
            elif node.is_minus():
                memo[node] = (_down(ivs[0][0] - ivs[1][1]), _up(ivs[0][1] - ivs[1][0]))
            else:
                acc = ivs[0]
                for iv in ivs[1:]:
                    acc = _mul_iv(acc, iv)
                memo[node] = acc
        lo, hi = memo[term]
        if math.isnan(lo) or math.isnan(hi):
            memo[term] = (-_INF, _INF)
        return memo[term]

    # -- operations ----------------------------------------------------------------------
    def parts(self, v: Value) -> tuple[FNode, float]:
        """(exact term, bound on the distance of the runtime value from it)."""
        if isinstance(v, Rounded):
            return v.term, v.err
        return lift(v), 0.0

    def magnitude(self, term: FNode) -> float:
        lo, hi = self.interval(term)
        return max(abs(lo), abs(hi))

    def binop(self, op: str, a: Value, b: Value) -> Value:
        """``a op b`` as float64 computes it (op one of ``+ - * /``; divisors are constants)."""
        if isinstance(a, float | int) and isinstance(b, float | int):
            r = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
            if not math.isfinite(r):
                raise NotModelled(f"the constant expression {a!r} {op} {b!r} = {r!r}")
            return float(r)
        if op == "/" and not isinstance(b, float | int):
            raise TypeError("division by a non-constant")
        if self.rounding:
            # identities that are exact on every finite float (an execution with an
            # infinity has already met an overflow disjunct, so only finite ones matter;
            # the sign of a zero changes no comparison): x*0 = 0, x*1 = x, x*-1 = -x,
            # x + 0 = 0 + x = x - 0 = x, 0 - x = -x, x/1 = x, x/-1 = -x
            if op == "*" and (_is(a, 0.0) or _is(b, 0.0)):
                return 0.0
            if op == "/" and (_is(b, 1.0) or _is(b, -1.0)):
                return a if _is(b, 1.0) else self.negate(a)
            if op == "*" and (_is(a, 1.0) or _is(a, -1.0) or _is(b, 1.0) or _is(b, -1.0)):
                keep, sign = (a, b) if _is(b, 1.0) or _is(b, -1.0) else (b, a)
                return keep if _is(sign, 1.0) else self.negate(keep)
            if op == "+" and (_is(a, 0.0) or _is(b, 0.0)):
                return b if _is(a, 0.0) else a
            if op == "-" and _is(b, 0.0):
                return a
            if op == "-" and _is(a, 0.0):
                return self.negate(b)
        if op == "/" and (b == 0 or not math.isfinite(float(b))):  # type: ignore[arg-type]
            raise NotModelled(f"division by {b!r}")
        ta, ea = self.parts(a)
        tb, eb = self.parts(b)
        const = b if isinstance(b, float | int) else a if isinstance(a, float | int) else None
        if op == "+":
            exact, inherited = Plus(ta, tb), ea + eb
            exact_op = const == 0.0
        elif op == "-":
            exact, inherited = Minus(ta, tb), ea + eb
            exact_op = const == 0.0
        elif op == "*":
            exact = Times(ta, tb)
            inherited = _up(self.magnitude(ta) * eb + self.magnitude(tb) * ea + ea * eb) if ea or eb else 0.0
            exact_op = const is not None and (const == 0.0 or (_is_pow2(const) and abs(const) >= 1.0))
        else:
            exact = Times(ta, Real(1 / Fraction(b)))  # type: ignore[arg-type]
            inherited = _up(ea / abs(float(b))) if ea else 0.0  # type: ignore[arg-type]
            exact_op = b in (1.0, -1.0)
        if not self.rounding:
            return exact
        if not math.isfinite(inherited):
            raise NotModelled("an unbounded rounding error")
        return self._rounded(exact, inherited, absolute=op in ("*", "/"), exact_op=exact_op)

    def _rounded(self, exact: FNode, inherited: float, absolute: bool, exact_op: bool) -> Value:
        """The runtime result of an operation whose operands are within ``inherited`` (in
        total effect) of the exact operation ``exact``."""
        lo, hi = self.interval(exact)
        mag = _up(max(abs(lo), abs(hi)) + inherited)
        if mag >= DBL_MAX:
            # overflow is possible: the operation gets its own symbol, tied to its exact
            # value relative to |e|, and overflow becomes a way to violate the property.
            # With operands already within `inherited` of their terms, the runtime
            # overflows only if |e| >= OVERFLOW - inherited.
            if inherited >= float(DBL_MAX) / 2:
                raise NotModelled("a rounding error as large as the float64 range")
            edge = OVERFLOW - Fraction(inherited)
            self.overflows.append(Or(GE(exact, Real(edge)), LE(exact, Real(-edge))))
            if exact_op and not inherited:
                return exact
            return self._symbol_relative(exact, absolute and not exact_op, inherited)
        own = 0.0 if exact_op else _up(mag * 2.0**-53 + (2.0**-1074 if absolute else 0.0))
        err = _up(inherited + own) if (inherited or own) else 0.0
        return Rounded(exact, err) if err else exact

    def _symbol_relative(self, exact: FNode, absolute: bool, inherited: float = 0.0) -> FNode:
        """A symbol within ``inherited + U * (|e| + inherited) (+ ETA)`` of ``e``."""
        self._count += 1
        r = Symbol(f"{self.prefix}{self._count}", REAL)
        slack = Fraction(inherited)
        eta = Real(ETA + slack * (1 + U) if absolute else slack * (1 + U))
        err = Plus(Times(Real(U), Ite(GE(exact, Real(0)), exact, Minus(Real(0), exact))), eta)
        self.definitions[r] = And(LE(Minus(r, exact), err), LE(Minus(exact, r), err))
        return r

    def negate(self, v: Value) -> Value:
        """``-v`` (exact in float64)."""
        if isinstance(v, float | int):
            return -float(v)
        return self.exact_map(lambda ts: Minus(Real(0), ts[0]), [v])

    def ite(self, cond: FNode, a: Value, b: Value) -> Value:
        """``a if cond else b``: the error of the branch taken."""
        if cond.is_true():
            return a
        if cond.is_false():
            return b
        ta, ea = self.parts(a)
        tb, eb = self.parts(b)
        if ea != eb:
            # each branch keeps its own bound (a constant branch stays exact) instead of
            # the larger one for both
            return Ite(cond, self.materialize(a), self.materialize(b))
        term = Ite(cond, ta, tb)
        return Rounded(term, ea) if ea else term

    def exact_map(self, fn: Callable[[list[FNode]], FNode], args: list[Value]) -> Value:
        """A 1-Lipschitz exact function (``abs``, ``min``, ``max``, ``clip``, negation) of
        rounded values: the error is at most the largest argument error."""
        parts = [self.parts(a) for a in args]
        term = fn([t for t, _ in parts])
        err = max(e for _, e in parts)
        return Rounded(term, err) if err else term

    def materialize(self, v: Value) -> FNode:
        """A term for ``v``: the exact term when exact, else a fresh symbol within the
        error bound of it (a constant bound: linear, no case split)."""
        if not isinstance(v, Rounded):
            return lift(v)
        self._count += 1
        r = Symbol(f"{self.prefix}{self._count}", REAL)
        err = Real(Fraction(v.err))
        self.definitions[r] = And(LE(Minus(r, v.term), err), LE(Minus(v.term, r), err))
        lo, hi = self.interval(v.term)
        self._bounds[r] = (_down(lo - v.err), _up(hi + v.err))
        return r

    def side_constraints(self, goal: FNode | None = None) -> list[FNode]:
        """The definitions of the rounded results ``goal`` depends on (all when None).

        Each definition only ties its own fresh symbol to its inputs and holds for the
        exact value, so those that ``goal`` does not reach (through other definitions)
        can be left out without changing satisfiability.
        """
        if goal is None:
            return list(self.definitions.values())
        from pysmt.shortcuts import get_free_variables

        keep: dict[FNode, FNode] = {}
        # by name, not pySMT's node numbers (process history): the same order every run
        todo = sorted((v for v in get_free_variables(goal) if v in self.definitions), key=FNode.symbol_name)
        while todo:
            v = todo.pop()
            if v in keep:
                continue
            keep[v] = self.definitions[v]
            todo.extend(sorted((w for w in get_free_variables(keep[v]) if w in self.definitions and w not in keep),
                               key=FNode.symbol_name))
        return list(keep.values())
