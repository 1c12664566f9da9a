"""Pendulum-v1 (gymnasium 1.x ``PendulumEnv``; theta = 0 upright), operation for operation.

The torque reaches the step as float32 (the action space's dtype), so ``3/(m l^2) * u`` is a
float32 product (NumPy 2 keeps a Python float next to a float32 in float32).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from saferl.dynamics.arith import Arith
from saferl.dynamics.base import Model, Values

__all__ = ["Pendulum"]


class Pendulum(Model):
    """State (theta, theta_dot); one continuous action, the torque."""

    env_id = "Pendulum-v1"
    state_names = ("theta", "theta_dot")
    obs_names = ("cos_theta", "sin_theta", "theta_dot")
    defaults = {"g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0}
    reset_low = (-math.pi, -1.0)
    reset_high = (math.pi, 1.0)
    state_low = (-1e6, -8.0)
    state_high = (1e6, 8.0)
    action_low = -2.0
    action_high = 2.0
    depends = {0: (0, 1), 1: (0, 1)}
    direct_obs = {2: 1}

    def step(self, A: Arith, state: Values, action: Any, fresh: bool = False) -> Values:
        p = self.params
        th, thdot = state
        u = A.f32(A.clip(action, -p["max_torque"], p["max_torque"]))
        c_grav = 3 * p["g"] / (2 * p["l"])
        c_torque = 3.0 / (p["m"] * p["l"] ** 2)
        torque_term = A.f32(A.mul(A.const(float(np.float32(c_torque))), u))
        acc = A.add(A.mul(A.const(c_grav), A.sin(th)), torque_term)
        newthdot = A.add(thdot, A.mul(acc, A.const(p["dt"])))
        newthdot = A.clip(newthdot, -p["max_speed"], p["max_speed"])
        newth = A.add(th, A.mul(newthdot, A.const(p["dt"])))
        return [newth, newthdot]

    def observe(self, A: Arith, state: Values) -> Values:
        th, thdot = state
        return [A.f32(A.cos(th)), A.f32(A.sin(th)), A.f32(thdot)]

    def configure_env(self, env: Any) -> None:
        for name, value in self.params.items():
            setattr(env, name, value)

    def env_observation(self, env: Any) -> np.ndarray:
        th, thdot = env.state
        return np.array([np.cos(th), np.sin(th), thdot], dtype=np.float32)
