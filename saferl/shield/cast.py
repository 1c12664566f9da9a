"""Casting a float into an action interval at the action space's dtype.

The shield executes continuous actions of the space's dtype: a value ``x`` inside
``[lo, hi]`` is rounded to the dtype (round to nearest, as numpy's ``float32(x)``), and if
the rounding left the interval, moved one step of the dtype back inside (as numpy's
``nextafter``).  For float32 and float64 this is done on Python floats (``struct`` and
``math``), which costs a fraction of numpy scalars; other dtypes use numpy.  Tests keep the
two equal bit for bit.

Example:
    >>> cast = caster(np.dtype(np.float32))
    >>> cast(0.4, 0.0, 0.4)       # float32(0.4) is above 0.4: the float32 just below
    0.3999999761581421
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

import numpy as np

__all__ = ["caster", "numpy_cast_into"]

_F32 = struct.Struct("<f")
_U32 = struct.Struct("<I")


def numpy_cast_into(t: type, x: float, lo: float, hi: float) -> float:
    """The reference: ``x`` as numpy scalar type ``t``, nudged back into ``[lo, hi]``."""
    y = float(t(x))
    if y > hi:
        y = float(np.nextafter(t(y), t(-np.inf)))
    elif y < lo:
        y = float(np.nextafter(t(y), t(np.inf)))
    return y


def _f32(x: float) -> float:
    try:
        return _F32.unpack(_F32.pack(x))[0]  # type: ignore[no-any-return]
    except OverflowError:  # beyond float32's range after rounding: numpy gives an infinity
        return math.copysign(math.inf, x)


def _f32_next(y: float, up: bool) -> float:
    """The float32 next to float32 value ``y`` towards +inf (``up``) or -inf."""
    if y == 0.0:
        bits = 0x00000001 if up else 0x80000001
    else:
        bits = _U32.unpack(_F32.pack(y))[0] + (1 if (y > 0.0) == up else -1)
    return _F32.unpack(_U32.pack(bits))[0]  # type: ignore[no-any-return]


def _cast_f32(x: float, lo: float, hi: float) -> float:
    y = _f32(x)
    if y > hi:
        return _f32_next(y, False)
    if y < lo:
        return _f32_next(y, True)
    return y


def _cast_f64(x: float, lo: float, hi: float) -> float:
    y = float(x)
    if y > hi:
        return math.nextafter(y, -math.inf)
    if y < lo:
        return math.nextafter(y, math.inf)
    return y


def caster(dtype: np.dtype) -> Callable[[float, float, float], float]:  # type: ignore[type-arg]
    """``cast_into(x, lo, hi)`` for actions of ``dtype``."""
    if dtype == np.float32:
        return _cast_f32
    if dtype == np.float64:
        return _cast_f64
    t = dtype.type
    return lambda x, lo, hi: numpy_cast_into(t, x, lo, hi)
