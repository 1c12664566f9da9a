"""The certificate's sin/cos (Taylor series with remainder, as many terms as the widest
argument needs) encloses the true value, checked against 50-digit mpmath."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.dynamics.arith import RIGOROUS

mpmath = pytest.importorskip("mpmath")


@pytest.mark.parametrize("scale", [0.0, 1e-300, 1e-8, 0.02, 0.21, 1.0, 3.2, 8.0])
def test_rigorous_sin_cos_enclose_the_real_values(scale):
    rng = np.random.default_rng(int(scale * 1000) + 1)
    x = rng.uniform(-scale, scale, size=400)
    x[:2] = [scale, -scale]
    slo, shi = RIGOROUS.sin((x, x))
    clo, chi = RIGOROUS.cos((x, x))
    mpmath.mp.dps = 50
    for i, v in enumerate(x.tolist()):
        s, c = mpmath.sin(mpmath.mpf(v)), mpmath.cos(mpmath.mpf(v))
        assert mpmath.mpf(float(slo[i])) <= s <= mpmath.mpf(float(shi[i])), v
        assert mpmath.mpf(float(clo[i])) <= c <= mpmath.mpf(float(chi[i])), v
    # and tightly where the pole and the pendulum live (a few ulps plus libm's slack; larger
    # arguments lose digits to the alternating terms' cancellation, soundly)
    if scale <= 1.0:
        assert np.all(shi - slo <= 1e-14) and np.all(chi - clo <= 1e-14)
