"""The look-ahead table is sound: an action it allows at an observation takes every state
with that float32 observation into the invariant (checked concretely, near cell edges too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saferl.closedloop import ClosedLoopOptions
from saferl.closedloop.lookahead import ALLOWED, OUTSIDE, VETOED, LookaheadTable
from saferl.dynamics import make_model
from saferl.errors import InputError
from saferl.policy import ProgramPolicy, load_policy
from saferl.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table() -> LookaheadTable:
    prop = load_spec(ROOT / "specs/closedloop/cartpole.yaml").closed_loop[0]
    return LookaheadTable.prove(load_policy(ROOT / "policies/cartpole/pole_only.pol"), prop, ClosedLoopOptions(cells=40_000))


def _alive(table: LookaheadTable, states: np.ndarray) -> np.ndarray:
    grid = table.grid
    first, _, out = grid.index_ranges(states[:, grid.dims], states[:, grid.dims])
    return ~out & grid.alive.reshape(grid.shape)[tuple(first[:, j] for j in range(first.shape[1]))]


def test_allowed_actions_keep_every_successor_inside(table: LookaheadTable) -> None:
    model = make_model("CartPole-v1")
    rng = np.random.default_rng(0)
    grid = table.grid
    # states on and next to the invariant's cell edges (where float32 rounding may cross them)
    n = 20_000
    s = rng.uniform(-0.05, 0.05, size=(n, 4))
    for j, d in enumerate(grid.dims):
        e = grid.edges[j][np.isfinite(grid.edges[j])]
        pick = rng.choice(e, size=n)
        s[:, d] = pick + rng.choice([-1.0, 0.0, 1.0], size=n) * rng.uniform(0, 3e-8, size=n) * np.maximum(abs(pick), 1)
    s[:, 1] = rng.uniform(-2, 2, size=n)
    obs = model.concrete_observe(s)
    fallback = ProgramPolicy(table.program)
    checked = {ALLOWED: 0, VETOED: 0, OUTSIDE: 0}
    for i in range(n):
        for a in (0, 1):
            code = table.check(obs[i].tolist(), a)
            checked[code] += 1
            if code == OUTSIDE:
                continue
            assert _alive(table, s[i:i + 1])[0]
            if code == ALLOWED:
                nxt = model.concrete_step(s[i:i + 1], np.array([float(a)]))
                assert _alive(table, nxt)[0], (s[i], a)
        if table.check(obs[i].tolist(), 0) != OUTSIDE:  # the fallback's action is always allowed inside
            assert table.check(obs[i].tolist(), int(fallback.act(obs[i]))) == ALLOWED
    assert min(checked.values()) > 100


def test_nan_and_far_observations_are_outside(table: LookaheadTable) -> None:
    assert table.check([0.0, 0.0, float("nan"), 0.0], 0) == OUTSIDE
    assert table.check([0.0, 0.0, 0.0, 1e9], 1) == OUTSIDE
    assert table.check([0.0, 0.0, 0.0, 0.0], 1) == ALLOWED


def test_an_unproved_program_has_no_table() -> None:
    prop = load_spec(ROOT / "specs/closedloop/cartpole.yaml").closed_loop[0]
    with pytest.raises(InputError, match="no proved invariant"):
        LookaheadTable.prove(load_policy(ROOT / "policies/cartpole/worst.pol"), prop, ClosedLoopOptions(cells=10_000))
