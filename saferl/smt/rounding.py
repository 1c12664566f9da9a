"""Float64 arithmetic over the reals, soundly: every rounding is a bounded error.

The runtime computes ``+ - * /`` in IEEE float64 with round-to-nearest.  Over the reals,
the result ``r`` of an operation whose exact value is ``e`` satisfies

    |r - e| <= U * |e| + ETA        (U = 2**-53, ETA = 2**-1075; ETA = 0 for + and -)

as long as ``|e|`` stays below :data:`OVERFLOW` (from there on the result is ±inf).  An
:class:`Arith` gives every rounded operation a fresh real symbol tied to its exact value by
that constraint, so a real model of the encoding covers *every* rounding the runtime can
make: unsat means no float64 execution violates the property.  Overflow is one more way to
be wrong, so each operation whose value may reach :data:`OVERFLOW` (by interval bounds of
its operands) adds a disjunct ``|e| >= OVERFLOW`` to the violation; NaN and ±inf can then
only come from constants, which the real encoding refuses (:class:`NotModelled`) and the
bit-precise encoding (:mod:`saferl.smt.fp`) takes over.

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
    >>> r = ar.binop("+", x, 0.1)        # a fresh symbol within the rounding error
    >>> len(ar.side_constraints()), len(ar.overflows)
    (1, 0)
"""

from __future__ import annotations

import math
from fractions import Fraction

from pysmt.fnode import FNode
from pysmt.shortcuts import GE, LE, And, Ite, Minus, Or, Plus, Real, Symbol, Times
from pysmt.typing import REAL

__all__ = ["Arith", "NotModelled", "Value", "U", "ETA", "OVERFLOW", "DBL_MAX", "lift"]

#: unit roundoff of float64 (round to nearest)
U = Fraction(1, 2**53)
#: half the smallest subnormal: the absolute error bound of a product or quotient
ETA = Fraction(1, 2**1075)
#: the smallest exact magnitude that rounds to ±inf
OVERFLOW = Fraction(2**1024 - 2**970)
DBL_MAX = float.fromhex("0x1.fffffffffffffp+1023")

#: a float64 value in an encoding: a Python float when known, else a real term
Value = float | FNode

_INF = math.inf


class NotModelled(Exception):
    """The real encoding cannot model this input (a non-finite constant); the caller
    switches to the bit-precise encoding."""


def lift(v: Value) -> FNode:
    """A value as a real term (constants exactly, as ``Fraction`` of the float)."""
    if isinstance(v, FNode):
        return v
    if not math.isfinite(v):
        raise NotModelled(f"the non-finite constant {v!r}")
    return Real(Fraction(v))


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
                memo[node] = (_down(float(v)), _up(float(v))) if isinstance(v, Fraction) else (-_INF, _INF)
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
    def binop(self, op: str, a: Value, b: Value) -> Value:
        """``a op b`` as float64 computes it (op one of ``+ - * /``; divisors are constants)."""
        if not isinstance(a, FNode) and not isinstance(b, FNode):
            r = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
            if not math.isfinite(r):
                raise NotModelled(f"the constant expression {a!r} {op} {b!r} = {r!r}")
            return r
        if op == "/":
            if isinstance(b, FNode):
                raise TypeError("division by a non-constant")
            if b == 0 or not math.isfinite(b):
                raise NotModelled(f"division by {b!r}")
            exact = Times(lift(a), Real(1 / Fraction(b)))
            return self._rounded(exact, absolute=b not in (1.0, -1.0), exact_op=b in (1.0, -1.0))
        ta, tb = lift(a), lift(b)
        if op in ("+", "-"):  # adding zero is exact
            exact_op = any(not isinstance(v, FNode) and v == 0.0 for v in (a, b))
            exact = Plus(ta, tb) if op == "+" else Minus(ta, tb)
            return self._rounded(exact, absolute=False, exact_op=exact_op)
        const = b if not isinstance(b, FNode) else a if not isinstance(a, FNode) else None
        exact_op = const is not None and (const == 0.0 or (_is_pow2(const) and abs(const) >= 1.0))
        return self._rounded(Times(ta, tb), absolute=True, exact_op=exact_op)

    def _rounded(self, exact: FNode, absolute: bool, exact_op: bool) -> FNode:
        if not self.rounding:
            return exact
        lo, hi = self.interval(exact)
        if not (-DBL_MAX <= lo and hi <= DBL_MAX):  # beyond DBL_MAX, OVERFLOW may be reached
            self.overflows.append(Or(GE(exact, Real(OVERFLOW)), LE(exact, Real(-OVERFLOW))))
        if exact_op:
            return exact
        self._count += 1
        r = Symbol(f"{self.prefix}{self._count}", REAL)
        eta = Real(ETA) if absolute else Real(0)
        # The error bound U*|e| (+ ETA), kept linear and free of case splits: |e| is e or -e
        # where the sign of e is known; elsewhere the bound U*max|e| over e's interval is a
        # constant (weaker, still sound); only an unbounded e needs the case split.
        if lo >= 0 or hi <= 0:
            mag = exact if lo >= 0 else Minus(Real(0), exact)
            err = Plus(Times(Real(U), mag), eta)
        elif math.isfinite(lo) and math.isfinite(hi):
            err = Real(U * Fraction(max(-lo, hi)) + (ETA if absolute else 0))
        else:
            err = Plus(Times(Real(U), Ite(GE(exact, Real(0)), exact, Minus(Real(0), exact))), eta)
        self.definitions[r] = And(LE(Minus(r, exact), err), LE(Minus(exact, r), err))
        lo_r = lo if math.isinf(lo) else _down(lo - abs(lo) * 2.0**-52 - 1e-300)
        hi_r = hi if math.isinf(hi) else _up(hi + abs(hi) * 2.0**-52 + 1e-300)
        self._bounds[r] = (lo_r, hi_r)
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
        todo = [v for v in get_free_variables(goal) if v in self.definitions]
        while todo:
            v = todo.pop()
            if v in keep:
                continue
            keep[v] = self.definitions[v]
            todo.extend(w for w in get_free_variables(keep[v]) if w in self.definitions and w not in keep)
        return list(keep.values())
