"""The look-ahead shield keeps CartPole in the proved invariant whatever the policy proposes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saferl.closedloop import ClosedLoopOptions
from saferl.closedloop.lookahead import LookaheadShield, LookaheadTable
from saferl.policy import ProgramPolicy, load_policy
from saferl.spec import load_spec

gymnasium = pytest.importorskip("gymnasium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table():
    prop = load_spec(ROOT / "specs/closedloop/cartpole.yaml").closed_loop[0]
    return LookaheadTable.prove(load_policy(ROOT / "policies/cartpole/pole_only.pol"), prop, ClosedLoopOptions(cells=40_000))


@pytest.mark.parametrize("proposer", ["random", "worst"])
def test_shielded_states_never_leave_the_invariant(table, proposer):
    env = LookaheadShield(gymnasium.make("CartPole-v1", max_episode_steps=10**9), table)
    rng = np.random.default_rng(2)
    worst = ProgramPolicy(load_policy(ROOT / "policies/cartpole/worst.pol"))
    obs, _ = env.reset(seed=3)
    states, checks = [], set()
    for _ in range(3000):
        action = int(rng.integers(2)) if proposer == "random" else worst.act(obs)
        obs, _, term, trunc, info = env.step(action)
        record = info["saferl"]
        checks.add(record.check)
        assert record.executed == action or record.intervened
        states.append(np.asarray(env.unwrapped.state, dtype=np.float64))
        if term or trunc:
            obs, _ = env.reset()
    s = np.array(states)
    grid = table.grid
    first, _, out = grid.index_ranges(s[:, grid.dims], s[:, grid.dims])
    assert not out.any()
    assert grid.alive.reshape(grid.shape)[first[:, 0], first[:, 1]].all()
    assert np.all(np.abs(s[:, 2]) <= 0.20943951023931953)
    assert "outside" not in checks and "fallback" in checks
    assert env.interventions > 0
