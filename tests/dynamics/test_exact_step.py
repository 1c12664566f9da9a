"""The models' concrete step equals gymnasium's, bit for bit, on random states and actions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from saferl.dynamics import make_model

gymnasium = pytest.importorskip("gymnasium")

N = 100_000


def _gym_steps(model, states, actions, fresh):
    env = model.make_env()
    out = np.empty_like(states)
    obs = np.empty((1000, len(model.obs_names)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(states.shape[0]):
            env.state = model.env_state(states[i], fresh)
            if i < 1000:
                obs[i] = model.env_observation(env)
            env.step(model.env_action(actions[i]))
            out[i] = np.asarray(env.state, dtype=np.float64)
    return out, obs[:1000]


def _check(model, states, actions, fresh=False):
    mine = model.concrete_step(states, actions, fresh)
    theirs, obs = _gym_steps(model, states, actions, fresh)
    assert np.array_equal(mine.view(np.int64), theirs.view(np.int64))
    assert np.array_equal(model.concrete_observe(states[:1000]), obs.astype(np.float64))


def test_cartpole_bit_for_bit():
    rng = np.random.default_rng(1)
    m = make_model("CartPole-v1")
    states = rng.uniform([-4.8, -5, -0.5, -5], [4.8, 5, 0.5, 5], size=(N, 4))
    _check(m, states, rng.integers(0, 2, N).astype(np.float64))


def test_cartpole_with_parameters():
    rng = np.random.default_rng(2)
    m = make_model("CartPole-v1", {"masspole": 0.3, "length": 0.7, "force_mag": 7.5, "gravity": 9.81})
    states = rng.uniform(-1, 1, size=(5000, 4))
    _check(m, states, rng.integers(0, 2, 5000).astype(np.float64))


def test_pendulum_bit_for_bit():
    rng = np.random.default_rng(3)
    m = make_model("Pendulum-v1")
    states = rng.uniform([-7, -9], [7, 9], size=(N, 2))
    actions = rng.uniform(-2.5, 2.5, N)
    actions[::7] = np.round(actions[::7])
    _check(m, states, actions)


@pytest.mark.parametrize("fresh", [True, False])
def test_mountaincar_bit_for_bit(fresh):
    rng = np.random.default_rng(4 + fresh)
    m = make_model("MountainCarContinuous-v0")
    n = N // 2
    states = rng.uniform([-1.25, -0.075], [0.65, 0.075], size=(n, 2))
    states[::5, 0] = -1.2
    states[1::5, 1] = 0.0
    if not fresh:
        states = states.astype(np.float32).astype(np.float64)
    actions = rng.uniform(-1.5, 1.5, n)
    actions[::3] = np.sign(actions[::3])
    _check(m, states, actions, fresh)
