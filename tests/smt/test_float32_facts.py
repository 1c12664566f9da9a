"""The pure-Python float32 helpers agree with numpy's float32 everywhere we use them."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.smt.floats import F32_MAX, f32_down, f32_pred, f32_succ, f32_up, is_f32, to_f32

SPECIAL = [0.0, -0.0, 0.1, -0.1, 1e-45, 1.4e-45, 2.0**-149, 2.0**-126, F32_MAX, -F32_MAX, 1 / 3]
values = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=False, allow_infinity=False, width=64))


@settings(max_examples=1000, deadline=None)
@given(values)
def test_rounding_and_neighbours_match_numpy(v: float) -> None:
    with np.errstate(over="ignore"):
        want = float(np.float32(v))
    assert to_f32(v) == want or (math.isinf(to_f32(v)) and math.isinf(want))
    if abs(v) <= F32_MAX:
        g = float(np.float32(v))
        with np.errstate(over="ignore"):  # nextafter past the largest float32 is inf, as intended
            up = float(np.nextafter(np.float32(g), np.float32(np.inf)))
            down = float(np.nextafter(np.float32(g), np.float32(-np.inf)))
        assert f32_succ(g) == up
        assert f32_pred(g) == down
        d, u = f32_down(v), f32_up(v)
        assert d <= v <= u and is_f32(d) and is_f32(u)
        assert f32_succ(d) > v and f32_pred(u) < v
