"""The shield's cast of an action into its interval equals numpy's, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.shield.cast import caster, numpy_cast_into

EDGES = [0.0, -0.0, 0.4, 0.2, 1.0, -1.0, 1e-45, -1e-45, 1.5e-45, 3.4028234663852886e38, 3.4028235677973366e38,
         3.402823669209385e38, 1e300, -1e300, math.inf, -math.inf, float(np.float32(0.1)), 0.1]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@settings(max_examples=1500, deadline=None)
@given(x=st.one_of(st.floats(allow_nan=False), st.sampled_from(EDGES)),
       lo=st.one_of(st.floats(allow_nan=False), st.sampled_from(EDGES)),
       hi=st.one_of(st.floats(allow_nan=False), st.sampled_from(EDGES)),
       clamp=st.booleans())
def test_cast_into_equals_numpy(x: float, lo: float, hi: float, clamp: bool) -> None:
    if clamp and lo <= hi:
        x = min(max(x, lo), hi)  # what the shield passes
    for dtype in (np.float32, np.float64):
        with np.errstate(over="ignore"):
            expected = numpy_cast_into(np.dtype(dtype).type, x, lo, hi)
        got = caster(np.dtype(dtype))(x, lo, hi)
        assert same(got, expected), (dtype, x, lo, hi, got, expected)


def test_nan_passes_through_and_float16_uses_numpy() -> None:
    assert math.isnan(caster(np.dtype(np.float32))(math.nan, 0.0, 1.0))
    half = caster(np.dtype(np.float16))
    for x, lo, hi in [(0.4, 0.0, 0.4), (0.3999, 0.3999, 1.0), (0.1, 0.0, 0.1)]:
        assert half(x, lo, hi) == numpy_cast_into(np.float16, x, lo, hi)
    assert half(0.3999, 0.3999, 1.0) > 0.3999  # float16(0.3999) is below: one float16 up
