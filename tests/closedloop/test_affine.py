"""The affine step encloses every concrete successor of the points its pieces stand for."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.closedloop.affine import AF, AFFINE, Pieces
from saferl.dynamics import make_model

CASES = {
    "CartPole-v1": ([-2, -2, -0.3, -2], [2, 2, 0.3, 2], [0.0, 1.0]),
    "Pendulum-v1": ([-4, -8.5], [4, 8.5], None),
    "MountainCarContinuous-v0": ([-1.25, -0.075], [0.65, 0.075], None),
}


@pytest.mark.parametrize("env_id", list(CASES))
@pytest.mark.parametrize("fresh", [False, True])
def test_affine_step_encloses_points(env_id, fresh):
    rng = np.random.default_rng(5)
    low, high, discrete = CASES[env_id]
    m = make_model(env_id)
    n_pieces, per = 300, 30
    centre = rng.uniform(low, high, size=(n_pieces, m.n))
    width = rng.choice([0.0, 1e-6, 1e-3, 0.05], size=(n_pieces, m.n)) * rng.uniform(0, 1, (n_pieces, m.n))
    lo, hi = centre - width, centre + width
    P = Pieces.from_boxes(lo, hi)
    # two steps: the second one runs on forms with symbols shared between variables
    if discrete:
        acts = rng.choice(discrete, (2, n_pieces))
        action = [AF(a, None, 0.0, 0.0) for a in acts]
    else:
        acts = rng.uniform(-2.5, 2.5, (2, n_pieces))
        action = [AF(a, None, np.zeros(n_pieces), np.zeros(n_pieces)) for a in acts]
    Q = P
    for k in range(2):
        Q = Pieces.from_state(m.step(AFFINE, Q.state(), m.action_value(AFFINE, action[k]), fresh=fresh and k == 0), n_pieces)
        if k == 0:
            Q = Q.fresh_symbols(P.G.shape[2], 4 * m.n)
    qlo, qhi = Q.hull()
    u = rng.uniform(0, 1, size=(n_pieces, per, m.n))
    pts = lo[:, None, :] + u * (hi - lo)[:, None, :]
    pts[:, 0, :], pts[:, 1, :] = lo, hi
    flat = pts.reshape(-1, m.n)
    for k in range(2):
        flat = m.concrete_step(flat, np.repeat(acts[k], per), fresh=fresh and k == 0)
    nxt = flat.reshape(n_pieces, per, m.n)
    ok = (nxt >= qlo[:, None, :]) & (nxt <= qhi[:, None, :])
    assert ok.all(), np.argwhere(~ok)[:5]
