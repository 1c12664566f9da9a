"""MountainCarContinuous-v0 (gymnasium 1.x ``Continuous_MountainCarEnv``), operation for operation.

The environment stores its state as float32 after every step, so from the second step on
the arithmetic is float32 (NumPy 2 rounds a Python constant next to a float32 to float32);
the state set by reset is float64, and the first step mixes both.  ``fresh`` selects it.
A force inside [-1, 1] stays a float32; a clipped one becomes the Python float ±1.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from saferl.dynamics.arith import Arith, f32c
from saferl.dynamics.base import Model, Values

__all__ = ["MountainCar"]


class MountainCar(Model):
    """State (position, velocity); one continuous action, the force."""

    env_id = "MountainCarContinuous-v0"
    state_names = ("position", "velocity")
    obs_names = ("position", "velocity")
    defaults = {"power": 0.0015, "max_speed": 0.07, "min_position": -1.2, "max_position": 0.6}
    reset_low = (-0.6, 0.0)
    reset_high = (-0.4, 0.0)
    state_low = (-1.2, -0.07)
    state_high = (0.6, 0.07)
    action_low = -1.0
    action_high = 1.0
    depends = {0: (0, 1), 1: (0, 1)}
    direct_obs = {0: 0, 1: 1}

    def step(self, A: Arith, state: Values, action: Any, fresh: bool = False) -> Values:
        p = self.params
        pos, vel = state
        r = (lambda v: v) if fresh else A.f32  # float32 arithmetic on float32 state values
        k = (lambda c: c) if fresh else f32c  # ... and constants rounded to float32
        # force = min(max(a, -1.0), 1.0): a float32 unless clipped
        inside = A.and_(A.not_(A.lt(action, -1.0)), A.not_(A.gt(action, 1.0)))
        cosine = A.mul(A.const(0.0025), A.cos(r(A.mul(A.const(3.0), pos))))
        # unclipped: float32 force * power (float32), minus the float64 term cast to float32
        push32 = A.f32(A.mul(action, A.const(f32c(p["power"]))))
        delta32 = A.f32(A.sub(push32, A.f32(cosine)))
        # clipped: Python floats throughout
        force64 = A.clip(action, -1.0, 1.0)
        delta64 = A.sub(A.mul(force64, A.const(p["power"])), cosine)
        delta = A.select(inside, delta32, delta64 if fresh else A.f32(delta64))
        vel = r(A.add(vel, delta))
        ms = p["max_speed"]
        # "if v > max: v = max" is min(v, max) (NaN stays NaN either way)
        vel = A.clip(vel, -np.inf, k(ms))
        vel = A.clip(vel, k(-ms), np.inf)
        pos = r(A.add(pos, vel))
        pos = A.clip(pos, -np.inf, k(p["max_position"]))
        pos = A.clip(pos, k(p["min_position"]), np.inf)
        at_wall = A.and_(A.eq(pos, k(p["min_position"])), A.lt(vel, 0.0))
        vel = A.select(at_wall, A.const(0.0), vel)
        return [A.f32(pos), A.f32(vel)]

    def observe(self, A: Arith, state: Values) -> Values:
        return [A.f32(v) for v in state]

    def env_state(self, state: np.ndarray, fresh: bool) -> np.ndarray:
        return np.array(state, dtype=np.float64 if fresh else np.float32)

