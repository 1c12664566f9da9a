"""Exact float32 facts used to make real-arithmetic encodings match float32 comparisons.

An observation ``x`` the environment gives as float32 satisfies ``x <= c`` exactly when it
satisfies ``x <= f32_down(c)``; likewise for the other comparisons.  After snapping every
threshold to float32 and excluding the open gaps between a threshold and its float32
successor, any real model rounds to a float32 point with the same comparison outcomes.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["f32_down", "f32_up", "f32_succ", "f32_pred", "is_f32", "round_f32", "F32_MAX"]

F32_MAX = float(np.finfo(np.float32).max)
_POS = np.float32(np.inf)
_NEG = np.float32(-np.inf)


def is_f32(c: float) -> bool:
    """Is ``c`` exactly representable as a finite float32?"""
    return abs(c) <= F32_MAX and float(np.float32(c)) == c


def f32_down(c: float) -> float:
    """The largest float32 <= c (``-inf`` if there is none)."""
    f = np.float32(c) if abs(c) <= F32_MAX else (np.float32(F32_MAX) if c > 0 else _NEG)
    if float(f) > c:
        f = np.nextafter(f, _NEG, dtype=np.float32)
    return float(f)


def f32_up(c: float) -> float:
    """The smallest float32 >= c (``inf`` if there is none)."""
    return -f32_down(-c)


def f32_succ(f: float) -> float:
    """The next float32 above the float32 ``f``."""
    return float(np.nextafter(np.float32(f), _POS, dtype=np.float32))


def f32_pred(f: float) -> float:
    """The next float32 below the float32 ``f``."""
    return float(np.nextafter(np.float32(f), _NEG, dtype=np.float32))


def round_f32(q: Fraction) -> float:
    """Round an exact rational to a nearest float32, as a Python float.

    (Rounding goes through float64; both roundings are monotone, so a value between two
    float32 numbers stays between them, which is all the encodings rely on.)
    """
    return float(np.float32(float(q)))
