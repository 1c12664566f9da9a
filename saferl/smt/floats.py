"""Exact float32 facts used to make real-arithmetic encodings match float32 comparisons.

An observation ``x`` the environment gives as float32 satisfies ``x <= c`` exactly when it
satisfies ``x <= f32_down(c)``; likewise for the other comparisons.  After snapping every
threshold to float32 and excluding the open gaps between a threshold and its float32
successor, any real model rounds to a float32 point with the same comparison outcomes.

Pure Python (``struct``), so that the verify path does not import numpy.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = [
    "to_f32", "f32_down", "f32_up", "f32_succ", "f32_pred", "is_f32", "round_f32", "F32_MAX", "F64_MAX",
    "snap_threshold", "snapped_range",
]

F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
#: the largest finite float64
F64_MAX = float.fromhex("0x1.fffffffffffffp+1023")
_INF = math.inf


def to_f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (ties to even), as a Python float."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", x))[0])
    except OverflowError:
        return _INF if x > 0 else -_INF


def is_f32(c: float) -> bool:
    """Is ``c`` exactly representable as a finite float32?"""
    return math.isfinite(c) and to_f32(c) == c


def _bits(f: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", f))[0])


def _from_bits(b: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", b))[0])


def f32_succ(f: float) -> float:
    """The next float32 above the float32 ``f`` (``inf`` above the largest)."""
    if f == _INF or math.isnan(f):
        return f
    if f == 0.0:
        return _from_bits(1)
    if f == F32_MAX:
        return _INF
    b = _bits(f)
    return _from_bits(b + 1) if f > 0 else _from_bits(b - 1)


def f32_pred(f: float) -> float:
    """The next float32 below the float32 ``f`` (``-inf`` below the lowest)."""
    return -f32_succ(-f)


def f32_down(c: float) -> float:
    """The largest float32 <= c (``-inf`` if there is none)."""
    if c > F32_MAX:
        return F32_MAX
    f = to_f32(c)
    return f32_pred(f) if f > c else f


def f32_up(c: float) -> float:
    """The smallest float32 >= c (``inf`` if there is none)."""
    return -f32_down(-c)


def round_f32(q: Fraction) -> float:
    """Round an exact rational to a nearest float32, as a Python float.

    (Rounding goes through float64; both roundings are monotone, so a value between two
    float32 numbers stays between them, which is all the encodings rely on.)
    """
    return to_f32(float(q))


def snap_threshold(op: str, c: float) -> tuple[str, float]:
    """What ``x op c`` means for a float32 ``x`` and a finite float64 constant ``c``, as a
    float32 comparison: ``("le", d)`` (x <= d), ``("ge", u)`` (x >= u), ``("eq", c)``,
    ``("ne", c)`` with float32 ``d``, ``u``, ``c``, or ``("true", 0.0)`` / ``("false", 0.0)``.

    The one place that decides how a threshold snaps to float32: the SMT encoding
    (:func:`saferl.smt.encode.snap_compare`) builds its terms from it and the tree
    decomposition (:mod:`saferl.smt.tree`) its boxes.

    Example:
        >>> snap_threshold("<", 0.5), snap_threshold("<=", 0.1)
        (('le', 0.4999999701976776), ('le', 0.09999999403953552))
    """
    if op in ("==", "!="):
        if not is_f32(c):
            return ("false", 0.0) if op == "==" else ("true", 0.0)
        return ("eq" if op == "==" else "ne", c)
    if op in ("<=", "<"):
        d = f32_down(c) if op == "<=" else (f32_down(c) if not is_f32(c) else f32_pred(c))
        if d == -_INF:
            return ("false", 0.0)
        if d == _INF:
            return ("true", 0.0)
        return ("le", d)
    u = f32_up(c) if op == ">=" else (f32_up(c) if not is_f32(c) else f32_succ(c))
    if u == _INF:
        return ("false", 0.0)
    if u == -_INF:
        return ("true", 0.0)
    return ("ge", u)


def snapped_range(lo: float, hi: float, dtype: str) -> tuple[float, float]:
    """The values of type ``dtype`` (float32 or float64) in ``[lo, hi]``, as a closed
    range with ends of that type, within its finite range (empty when ``lo > hi``).

    Example:
        >>> snapped_range(-0.1, 0.1, "float32")
        (-0.09999999403953552, 0.09999999403953552)
    """
    finite = F32_MAX if dtype == "float32" else F64_MAX
    lo, hi = max(lo, -finite), min(hi, finite)
    if dtype == "float32":
        lo, hi = f32_up(lo), f32_down(hi)
    return lo, hi
