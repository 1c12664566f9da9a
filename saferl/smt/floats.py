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
from fractions import Fraction

__all__ = ["to_f32", "f32_down", "f32_up", "f32_succ", "f32_pred", "is_f32", "round_f32", "F32_MAX"]

F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
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
