"""Three arithmetics over numpy arrays, so that each environment's step is written once.

A model's step is a function of an arithmetic ``A`` (see :class:`Arith`):

- :data:`FLOATS` computes what gymnasium computes: float64 operations (float32 ones are
  written as a float64 operation followed by :meth:`Arith.f32`, which is exact because
  double rounding through float64 is innocuous for + - * / of float32 values) and libm's
  sin/cos through numpy.  The tests hold it equal to gymnasium bit for bit.
- :data:`BOXES` computes, for boxes of inputs, an interval that contains every value the
  *float* computation can produce.  Round-to-nearest is monotone, so for + - * / the
  float results at the corners bound the float results inside: no outward rounding is
  needed.  sin/cos are bounded from their values at the ends (libm's, widened by a few
  ulps for libm's error) and their extrema when the interval contains one.
- :data:`RIGOROUS` is the independent arithmetic of the certificate check: it encloses the
  real result of each operation with outward rounding (``nextafter``), which also encloses
  the rounded one, and evaluates sin/cos by a Taylor series with a bounded remainder instead
  of libm, widened by libm's error.

Interval values are pairs ``(lo, hi)`` of float64 arrays; a bound that became NaN (0·∞)
is replaced by the infinite bound on its side, which is always sound.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Arith", "Floats", "Boxes", "Rigorous", "FLOATS", "BOXES", "RIGOROUS", "f32c", "LIBM_ULPS", "widen_libm"]

#: ulps of slack on each side of a libm sin/cos value (glibc documents at most 1)
LIBM_ULPS = 4

_F32 = np.float32
_INF = math.inf


def f32c(c: float) -> float:
    """A Python float rounded to float32 (as numpy does to a Python constant next to float32)."""
    return float(_F32(c))


def _down(x: Any, n: int = 1) -> Any:
    for _ in range(n):
        x = np.nextafter(x, -_INF)
    return x


def _up(x: Any, n: int = 1) -> Any:
    for _ in range(n):
        x = np.nextafter(x, _INF)
    return x


#: |v| * _LIBM_REL + _LIBM_ABS >= LIBM_ULPS ulps of v with room for one rounding: an ulp of
#: v is at most |v| * 2^-52, or 2^-1074 below the normal range
_LIBM_REL = 2.0 ** (-52 + math.ceil(math.log2(LIBM_ULPS)) + 1)
_LIBM_ABS = 4 * LIBM_ULPS * 2.0**-1074


def widen_libm(v: Any) -> tuple[Any, Any]:
    """(lo, hi) with lo <= LIBM_ULPS steps below v and hi >= LIBM_ULPS steps above, for
    finite v: one multiply-add instead of 2 * LIBM_ULPS ``nextafter`` passes (the box
    step's hot path); a little wider than the exact count, never narrower."""
    slack = np.abs(v) * _LIBM_REL + _LIBM_ABS
    return v - slack, v + slack


class Arith:
    """The operations a step uses.  Values are arrays (FLOATS), (lo, hi) pairs (BOXES,
    RIGOROUS) or affine forms (:mod:`saferl.closedloop.affine`); conditions are boolean
    arrays or (certainly, possibly) pairs."""

    name = "abstract"

    def const(self, c: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def add(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def sub(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def mul(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def div(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def square(self, a: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def sin(self, a: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def cos(self, a: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def f32(self, a: Any) -> Any:  # pragma: no cover - interface
        """Round to float32 (round to nearest), as numpy's cast does."""
        raise NotImplementedError

    def clip(self, a: Any, lo: float, hi: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def gt(self, a: Any, c: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def lt(self, a: Any, c: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def eq(self, a: Any, c: float) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def and_(self, p: Any, q: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def not_(self, p: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def select(self, cond: Any, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        """``a`` where ``cond`` holds, else ``b``."""
        raise NotImplementedError


class Floats(Arith):
    """Concrete float64 arithmetic: what gymnasium computes."""

    name = "floats"

    def const(self, c: float) -> Any:
        return np.float64(c)

    def add(self, a: Any, b: Any) -> Any:
        return np.add(a, b, dtype=np.float64)

    def sub(self, a: Any, b: Any) -> Any:
        return np.subtract(a, b, dtype=np.float64)

    def mul(self, a: Any, b: Any) -> Any:
        return np.multiply(a, b, dtype=np.float64)

    def div(self, a: Any, b: Any) -> Any:
        return np.divide(a, b, dtype=np.float64)

    def square(self, a: Any) -> Any:
        return np.square(np.asarray(a, dtype=np.float64))

    def sin(self, a: Any) -> Any:
        return np.sin(np.asarray(a, dtype=np.float64))

    def cos(self, a: Any) -> Any:
        return np.cos(np.asarray(a, dtype=np.float64))

    def f32(self, a: Any) -> Any:
        return np.asarray(a, dtype=np.float64).astype(_F32).astype(np.float64)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        return np.minimum(np.maximum(a, lo), hi)

    # comparisons and selection, as the step's ``if`` statements do them
    def gt(self, a: Any, c: float) -> Any:
        return np.asarray(a) > c

    def lt(self, a: Any, c: float) -> Any:
        return np.asarray(a) < c

    def eq(self, a: Any, c: float) -> Any:
        return np.asarray(a) == c

    def and_(self, p: Any, q: Any) -> Any:
        return p & q

    def not_(self, p: Any) -> Any:
        return ~p

    def select(self, cond: Any, a: Any, b: Any) -> Any:
        return np.where(cond, a, b)


def _pair(x: Any) -> tuple[Any, Any]:
    if isinstance(x, tuple):
        return x
    return (x, x)


def _scalar_point(lo: Any, hi: Any) -> bool:
    """A constant: one number (not an array), not NaN."""
    return np.ndim(lo) == 0 and np.ndim(hi) == 0 and bool(lo == hi)


def _clean(lo: Any, hi: Any) -> tuple[Any, Any]:
    """NaN bounds replaced by the infinite bound on their side (fmax/fmin ignore a NaN: one
    pass each instead of isnan and where)."""
    return np.fmax(lo, -_INF), np.fmin(hi, _INF)


_NEAR_ZERO = 1.5  # below pi/2: the fast path of Boxes._periodic


class Boxes(Arith):
    """Intervals enclosing every float64 result (monotone rounding; libm sin/cos + slack)."""

    name = "boxes"

    def const(self, c: float) -> Any:
        return (np.float64(c), np.float64(c))

    def _round(self, lo: Any, hi: Any) -> tuple[Any, Any]:
        return _clean(lo, hi)

    def add(self, a: Any, b: Any) -> Any:
        (al, ah), (bl, bh) = _pair(a), _pair(b)
        return self._round(np.add(al, bl, dtype=np.float64), np.add(ah, bh, dtype=np.float64))

    def sub(self, a: Any, b: Any) -> Any:
        (al, ah), (bl, bh) = _pair(a), _pair(b)
        return self._round(np.subtract(al, bh, dtype=np.float64), np.subtract(ah, bl, dtype=np.float64))

    def mul(self, a: Any, b: Any) -> Any:
        (al, ah), (bl, bh) = _pair(a), _pair(b)
        if _scalar_point(al, ah):
            (al, ah), (bl, bh) = (bl, bh), (al, ah)
        if _scalar_point(bl, bh):  # times a constant: two products, the same bounds
            with np.errstate(invalid="ignore"):
                p0, p1 = np.multiply(al, bl, dtype=np.float64), np.multiply(ah, bl, dtype=np.float64)
            anynan = np.isnan(p0) | np.isnan(p1)
            lo = np.where(anynan, -_INF, np.fmin(p0, p1))
            hi = np.where(anynan, _INF, np.fmax(p0, p1))
            return self._round(lo, hi)
        with np.errstate(invalid="ignore"):
            ps = [np.multiply(x, y, dtype=np.float64) for x in (al, ah) for y in (bl, bh)]
        lo = np.fmin(np.fmin(ps[0], ps[1]), np.fmin(ps[2], ps[3]))
        hi = np.fmax(np.fmax(ps[0], ps[1]), np.fmax(ps[2], ps[3]))
        anynan = np.isnan(ps[0]) | np.isnan(ps[1]) | np.isnan(ps[2]) | np.isnan(ps[3])
        lo = np.where(anynan, -_INF, lo)
        hi = np.where(anynan, _INF, hi)
        return self._round(lo, hi)

    def div(self, a: Any, b: Any) -> Any:
        (al, ah), (bl, bh) = _pair(a), _pair(b)
        if _scalar_point(bl, bh) and bl != 0:  # by a nonzero constant: two quotients
            with np.errstate(invalid="ignore", over="ignore"):
                p0, p1 = np.divide(al, bl, dtype=np.float64), np.divide(ah, bl, dtype=np.float64)
            anynan = np.isnan(p0) | np.isnan(p1)
            return self._round(np.where(anynan, -_INF, np.fmin(p0, p1)), np.where(anynan, _INF, np.fmax(p0, p1)))
        zero = (np.asarray(bl) <= 0) & (np.asarray(bh) >= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ps = [np.divide(x, y, dtype=np.float64) for x in (al, ah) for y in (bl, bh)]
        lo = np.fmin(np.fmin(ps[0], ps[1]), np.fmin(ps[2], ps[3]))
        hi = np.fmax(np.fmax(ps[0], ps[1]), np.fmax(ps[2], ps[3]))
        anynan = np.isnan(ps[0]) | np.isnan(ps[1]) | np.isnan(ps[2]) | np.isnan(ps[3])
        bad = zero | anynan
        return self._round(np.where(bad, -_INF, lo), np.where(bad, _INF, hi))

    def square(self, a: Any) -> Any:
        al, ah = _pair(a)
        sl, sh = np.square(np.asarray(al, dtype=np.float64)), np.square(np.asarray(ah, dtype=np.float64))
        straddle = (np.asarray(al) <= 0) & (np.asarray(ah) >= 0)
        lo = np.where(straddle, 0.0, np.minimum(sl, sh))
        return self._round(lo, np.maximum(sl, sh))

    def _point_sin(self, x: Any) -> tuple[Any, Any]:
        return widen_libm(np.sin(x))

    def _point_cos(self, x: Any) -> tuple[Any, Any]:
        return widen_libm(np.cos(x))

    def _periodic(self, a: Any, phase: float, point: Any) -> Any:
        """sin (phase 0) or cos (phase pi/2) of an interval: ends plus extrema inside."""
        al, ah = (np.asarray(v, dtype=np.float64) for v in _pair(a))
        al, ah = np.broadcast_arrays(al, ah)
        if al.size and np.max(np.abs(al)) <= _NEAR_ZERO and np.max(np.abs(ah)) <= _NEAR_ZERO:
            # every interval inside [-1.5, 1.5] (a pole, a pendulum near upright): sin has no
            # extremum there and cos only its maximum at 0; the general case below decides
            # exactly this, with more passes over the arrays
            (l1, h1), (l2, h2) = point(al), point(ah)
            lo, hi = np.minimum(l1, l2), np.maximum(h1, h2)
            if phase != 0.0:
                hi = np.where((ah >= 0) & (al <= 1e-9), _up(np.float64(1.0), LIBM_ULPS), hi)
            return (lo, hi)
        finite = np.isfinite(al) & np.isfinite(ah) & (ah - al < 6.0)
        sal, sah = np.where(finite, al, 0.0), np.where(finite, ah, 0.0)
        l1, h1 = point(sal)
        l2, h2 = point(sah)
        lo, hi = np.minimum(l1, l2), np.maximum(h1, h2)
        top = _up(np.float64(1.0), LIBM_ULPS)
        # does [al, ah] contain a maximum (x + phase = pi/2 + 2k pi) or a minimum?  Decided
        # with a margin: a doubtful "yes" only loses precision.
        two_pi = 2 * math.pi
        margin = 1e-9
        for target, is_max in ((math.pi / 2, True), (-math.pi / 2, False)):
            k = np.floor((sah + phase - target) / two_pi)
            p = target + k * two_pi - phase
            inside = p >= sal - margin
            if is_max:
                hi = np.where(inside, top, hi)
            else:
                lo = np.where(inside, -top, lo)
        lo = np.where(finite, lo, -top)
        hi = np.where(finite, hi, top)
        return (lo, hi)

    def sin(self, a: Any) -> Any:
        return self._periodic(a, 0.0, self._point_sin)

    def cos(self, a: Any) -> Any:
        return self._periodic(a, math.pi / 2, self._point_cos)

    def f32(self, a: Any) -> Any:
        al, ah = _pair(a)
        lo = np.asarray(al, dtype=np.float64).astype(_F32).astype(np.float64)
        hi = np.asarray(ah, dtype=np.float64).astype(_F32).astype(np.float64)
        return (lo, hi)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        al, ah = _pair(a)
        return (np.minimum(np.maximum(al, lo), hi), np.minimum(np.maximum(ah, lo), hi))

    # three-valued comparisons: (certainly, possibly)
    def gt(self, a: Any, c: float) -> Any:
        al, ah = _pair(a)
        return (np.asarray(al) > c, np.asarray(ah) > c)

    def lt(self, a: Any, c: float) -> Any:
        al, ah = _pair(a)
        return (np.asarray(ah) < c, np.asarray(al) < c)

    def eq(self, a: Any, c: float) -> Any:
        al, ah = _pair(a)
        al, ah = np.asarray(al), np.asarray(ah)
        return ((al == c) & (ah == c), (al <= c) & (ah >= c))

    def and_(self, p: Any, q: Any) -> Any:
        return (p[0] & q[0], p[1] & q[1])

    def not_(self, p: Any) -> Any:
        return (~p[1], ~p[0])

    def select(self, cond: Any, a: Any, b: Any) -> Any:
        must, may = cond
        (al, ah), (bl, bh) = _pair(a), _pair(b)
        lo = np.where(must, al, np.where(may, np.minimum(al, bl), bl))
        hi = np.where(must, ah, np.where(may, np.maximum(ah, bh), bh))
        return (lo, hi)


# -- the rigorous arithmetic of the certificate check --------------------------------

_TAYLOR_TERMS = 40  # at most; 8^82/82! < 1e-48
_TAYLOR_MAX = 8.0  # |x| above this: [-1, 1]
_TAYLOR_REMAINDER = 1e-30


def _taylor_terms(m: float, start: int) -> int:
    """Terms after the first that the series of sin (start 1) or cos (start 0) needs on
    |x| <= m: the fewest whose next exponent k = start + 2*(terms+1) has m^k/k! below a
    tenth of _TAYLOR_REMAINDER (a margin far above the float error of this estimate)."""
    if not m <= _TAYLOR_MAX:
        return _TAYLOR_TERMS
    for terms in range(_TAYLOR_TERMS):
        k = start + 2 * (terms + 1)
        if m == 0.0 or k * math.log(m) - math.lgamma(k + 1) < math.log(_TAYLOR_REMAINDER / 10):
            return terms
    return _TAYLOR_TERMS


class Rigorous(Boxes):
    """Outward-rounded real interval arithmetic; sin/cos by Taylor series with remainder."""

    name = "rigorous"

    def _round(self, lo: Any, hi: Any) -> tuple[Any, Any]:
        lo, hi = _clean(lo, hi)
        return _down(lo), _up(hi)

    def _series(self, x: Any, start: int) -> tuple[Any, Any]:
        """sum_k (-1)^k x^(2k+start) / (2k+start)!  enclosed, for |x| <= _TAYLOR_MAX.

        Only as many terms as the largest |x| needs: the series stops at the first
        exponent n+2 whose Lagrange remainder |x|^(n+2)/(n+2)! is below _TAYLOR_REMAINDER / 10
        (|sin^(k)|, |cos^(k)| <= 1), and the enclosure is widened by _TAYLOR_REMAINDER."""
        x = np.asarray(x, dtype=np.float64)
        xi = (x, x)
        term = (np.ones_like(x), np.ones_like(x)) if start == 0 else xi
        total = term
        x2 = self.mul(xi, xi)
        n = start
        terms = _taylor_terms(float(np.max(np.abs(x), initial=0.0)), start)
        for _ in range(terms):
            term = self.mul(term, x2)
            denom = float((n + 1) * (n + 2))
            term = self.div(term, (np.float64(denom), np.float64(denom)))
            n += 2
            term = (-term[1], -term[0])  # negation is exact
            total = self.add(total, term)
        rem = np.float64(_TAYLOR_REMAINDER)
        return _down(total[0] - rem), _up(total[1] + rem)

    def _point_sin(self, x: Any) -> tuple[Any, Any]:
        ok = np.abs(x) <= _TAYLOR_MAX
        lo, hi = self._series(np.where(ok, x, 0.0), 1)
        lo, hi = _down(lo, LIBM_ULPS), _up(hi, LIBM_ULPS)
        return np.where(ok, lo, -1.0 - 1e-15), np.where(ok, hi, 1.0 + 1e-15)

    def _point_cos(self, x: Any) -> tuple[Any, Any]:
        ok = np.abs(x) <= _TAYLOR_MAX
        lo, hi = self._series(np.where(ok, x, 0.0), 0)
        lo, hi = _down(lo, LIBM_ULPS), _up(hi, LIBM_ULPS)
        return np.where(ok, lo, -1.0 - 1e-15), np.where(ok, hi, 1.0 + 1e-15)


FLOATS = Floats()
BOXES = Boxes()
RIGOROUS = Rigorous()
