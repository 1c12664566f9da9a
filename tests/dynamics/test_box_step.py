"""The box step (and the rigorous one) encloses every concrete successor of every point."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.dynamics import make_model

CASES = {
    "CartPole-v1": ([-2, -2, -0.3, -2], [2, 2, 0.3, 2], [0.0, 1.0]),
    "Pendulum-v1": ([-4, -8.5], [4, 8.5], None),
    "MountainCarContinuous-v0": ([-1.21, -0.071], [0.61, 0.071], None),
}


@pytest.mark.parametrize("env_id", list(CASES))
@pytest.mark.parametrize("rigorous", [False, True])
@pytest.mark.parametrize("fresh", [False, True])
def test_box_step_encloses_points(env_id, rigorous, fresh):
    rng = np.random.default_rng(7)
    low, high, discrete = CASES[env_id]
    m = make_model(env_id)
    boxes, per = 300, 40
    centre = rng.uniform(low, high, size=(boxes, m.n))
    width = rng.choice([0.0, 1e-6, 1e-3, 0.05, 1.0], size=(boxes, m.n)) * rng.uniform(0, 1, (boxes, m.n))
    lo, hi = centre - width, centre + width
    if discrete:
        alo = ahi = rng.choice(discrete, boxes)
    else:
        alo = rng.uniform(-2.5, 2.5, boxes)
        ahi = alo + rng.choice([0.0, 0.01, 1.0], boxes)
    blo, bhi = m.box_step(lo, hi, alo, ahi, fresh=fresh, rigorous=rigorous)
    olo, ohi = m.box_observe(lo, hi, rigorous=rigorous)
    u = rng.uniform(0, 1, size=(boxes, per, m.n))
    pts = lo[:, None, :] + u * (hi - lo)[:, None, :]
    pts[:, 0, :] = lo
    pts[:, 1, :] = hi
    acts = alo[:, None] + rng.uniform(0, 1, (boxes, per)) * (ahi - alo)[:, None]
    nxt = m.concrete_step(pts.reshape(-1, m.n), acts.reshape(-1), fresh).reshape(boxes, per, m.n)
    assert np.all(nxt >= blo[:, None, :]) and np.all(nxt <= bhi[:, None, :])
    obs = m.concrete_observe(pts.reshape(-1, m.n)).reshape(boxes, per, -1)
    assert np.all(obs >= olo[:, None, :]) and np.all(obs <= ohi[:, None, :])
