"""Hand-made neural oracles for fast extraction tests (no training needed)."""

from __future__ import annotations

import numpy as np
import pytest

from saferl.learn.envs import env_signature
from saferl.learn.model import NeuralPolicy, policy_from_parts


def cartpole_oracle() -> NeuralPolicy:
    """Push right when pole_angle + 0.5 * pole_angular_velocity > 0 (balances CartPole)."""
    sig = env_signature("CartPole-v1")
    w = np.array([[0.0, 0.0, -1.0, -0.5], [0.0, 0.0, 1.0, 0.5]], np.float32)
    manifest = {
        "format": "saferl-model",
        "version": 1,
        "env_id": "CartPole-v1",
        "observation": {"names": list(sig.obs_names)},
        "action": {"kind": "discrete", "name": "push", "labels": ["left", "right"]},
        "actor": {"layers": [4, 2], "activation": "relu", "output": "logits"},
        "critic": {"kind": "q", "layers": [4, 2], "activation": "relu"},
        "normalisation": None,
    }
    tensors = {
        "actor.0.weight": w,
        "actor.0.bias": np.zeros(2, np.float32),
        "critic.0.weight": w,
        "critic.0.bias": np.zeros(2, np.float32),
    }
    return policy_from_parts(manifest, tensors)


def pendulum_oracle() -> NeuralPolicy:
    """torque = 2 tanh(-(3 sin_theta + theta_dot) / 2): a saturating PD law."""
    sig = env_signature("Pendulum-v1")
    manifest = {
        "format": "saferl-model",
        "version": 1,
        "env_id": "Pendulum-v1",
        "observation": {"names": list(sig.obs_names)},
        "action": {"kind": "continuous", "name": "torque", "low": [-2.0], "high": [2.0]},
        "actor": {"layers": [3, 1], "activation": "relu", "output": "tanh"},
        "critic": None,
        "normalisation": None,
    }
    tensors = {
        "actor.0.weight": np.array([[0.0, -1.5, -0.5]], np.float32),
        "actor.0.bias": np.zeros(1, np.float32),
    }
    return policy_from_parts(manifest, tensors)


@pytest.fixture()
def cartpole_linear_oracle() -> NeuralPolicy:
    return cartpole_oracle()


@pytest.fixture()
def pendulum_pd_oracle() -> NeuralPolicy:
    return pendulum_oracle()
