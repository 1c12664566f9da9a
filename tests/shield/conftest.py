"""Fixtures of the shield tests: the CartPole spec and programs, a continuous toy problem,
and a scripted environment that replays given observations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from saferl.policy import load_policy, parse_policy
from saferl.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]

DAMP_POL = """\
policy damp
obs x: float32
obs v: float32
act f: continuous [-2, 2]

f = clip(-0.5 * x, -1, 1)
"""

DAMP_SPEC = """\
spec: damp
observations:
  x: [-3, 3]
  v: [-3, 3]
properties:
  - id: force-range
    kind: bounds
    action: f
    range: [-1, 1]
  - id: push-back
    kind: invariant
    when: x > 1
    require: f <= 0.6
  - id: smooth
    kind: smoothness
    when: abs(x[t] - x[t-1]) < 0.2
    require: abs(f[t] - f[t-1]) <= 0.5
"""


class ScriptedEnv(gym.Env):  # type: ignore[type-arg]
    """Returns the observations it is given, one per step; truncates after the last."""

    def __init__(self, observations: list[list[float]], action_space: gym.Space, low: float = -10.0, high: float = 10.0):  # type: ignore[type-arg]
        n = len(observations[0])
        self.observation_space = gym.spaces.Box(low, high, (n,), np.float32)
        self.action_space = action_space
        self.script = [np.asarray(o, dtype=np.float32) for o in observations]
        self.i = 0
        self.received: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self.i = 0
        return self.script[0].copy(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise AssertionError(f"the shield passed an action outside the space: {action!r}")
        self.received.append(action)
        self.i += 1
        return self.script[self.i].copy(), 0.0, False, self.i == len(self.script) - 1, {}


@pytest.fixture(scope="session")
def cartpole_spec() -> Any:
    return load_spec(ROOT / "specs/cartpole/pole_follow.yaml")


@pytest.fixture(scope="session")
def near_optimal() -> Any:
    return load_policy(ROOT / "policies/cartpole/near_optimal.pol")


@pytest.fixture(scope="session")
def worst() -> Any:
    return load_policy(ROOT / "policies/cartpole/worst.pol")


@pytest.fixture(scope="session")
def cartpole_proof(cartpole_spec: Any, near_optimal: Any) -> Any:
    from saferl.verify import verify_policy

    return verify_policy(near_optimal, cartpole_spec)


@pytest.fixture(scope="session")
def damp() -> Any:
    return parse_policy(DAMP_POL, "damp.pol")


@pytest.fixture(scope="session")
def damp_spec() -> Any:
    return parse_spec(DAMP_SPEC, "damp.yaml")


@pytest.fixture(scope="session")
def damp_proof(damp: Any, damp_spec: Any) -> Any:
    from saferl.verify import verify_policy

    return verify_policy(damp, damp_spec)
