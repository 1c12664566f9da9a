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


def test_box_libm_slack_covers_its_ulps():
    """The box step's sin/cos slack (one multiply-add) is never narrower than LIBM_ULPS
    nextafter steps, at powers of two, subnormals, zero and random values."""
    from saferl.dynamics.arith import LIBM_ULPS, widen_libm

    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-1, 1, 10_000), 2.0 ** np.arange(-1074, 1), -(2.0 ** np.arange(-1074, 1)),
                        [0.0, -0.0, 5e-324, 1.0, -1.0, np.nextafter(1.0, 0.0)]])
    lo, hi = widen_libm(v)
    down, up = v.copy(), v.copy()
    for _ in range(LIBM_ULPS):
        down, up = np.nextafter(down, -np.inf), np.nextafter(up, np.inf)
    assert np.all(lo <= down) and np.all(hi >= up)
    assert np.all(hi - lo <= 1e-14 * np.abs(v) + 1e-300)  # and still tight


@pytest.mark.parametrize("name", ["BOXES", "RIGOROUS"])
def test_near_zero_fast_path_gives_the_general_enclosures(name, monkeypatch):
    """Intervals inside [-1.5, 1.5] take a shorter path; it must give the same bounds as the
    general one (ends plus extrema), including intervals that touch or straddle 0."""
    from saferl.dynamics import arith

    A = getattr(arith, name)
    rng = np.random.default_rng(3)
    lo = rng.uniform(-1.5, 1.5, 5000)
    hi = np.minimum(lo + rng.uniform(0, 0.4, 5000) * rng.integers(0, 2, 5000), 1.5)
    lo[:6], hi[:6] = [0.0, -0.0, 1e-9, 2e-9, -1e-300, -1.5], [0.0, 0.0, 1e-9, 3e-9, 0.0, 1.5]
    fast = [A.sin((lo, hi)), A.cos((lo, hi))]
    monkeypatch.setattr(arith, "_NEAR_ZERO", -1.0)
    general = [A.sin((lo, hi)), A.cos((lo, hi))]
    for (fl, fh), (gl, gh) in zip(fast, general, strict=True):
        assert np.array_equal(fl, gl) and np.array_equal(fh, gh)
