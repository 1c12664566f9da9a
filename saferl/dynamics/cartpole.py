"""CartPole-v1 (gymnasium 1.x ``CartPoleEnv``, explicit Euler), operation for operation."""

from __future__ import annotations

import math
from typing import Any

from saferl.dynamics.arith import Arith
from saferl.dynamics.base import Model, Values

__all__ = ["CartPole"]


class CartPole(Model):
    """State (x, x_dot, theta, theta_dot); action 0 pushes left, 1 pushes right."""

    env_id = "CartPole-v1"
    state_names = ("x", "x_dot", "theta", "theta_dot")
    obs_names = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    defaults = {"gravity": 9.8, "masscart": 1.0, "masspole": 0.1, "length": 0.5, "force_mag": 10.0, "tau": 0.02}
    reset_low = (-0.05,) * 4
    reset_high = (0.05,) * 4
    state_low = (-4.8, -math.inf, -0.41887902047863906, -math.inf)
    state_high = (4.8, math.inf, 0.41887902047863906, math.inf)
    discrete_actions = (0, 1)
    depends = {0: (0, 1), 1: (1, 2, 3), 2: (2, 3), 3: (2, 3)}
    direct_obs = {0: 0, 1: 1, 2: 2, 3: 3}

    def step(self, A: Arith, state: Values, action: Any, fresh: bool = False) -> Values:
        p = self.params
        total_mass = p["masspole"] + p["masscart"]
        polemass_length = p["masspole"] * p["length"]
        x, x_dot, theta, theta_dot = state
        force = A.select(A.eq(action, 1.0), A.const(p["force_mag"]), A.const(-p["force_mag"]))
        costheta = A.cos(theta)
        sintheta = A.sin(theta)
        temp = A.div(A.add(force, A.mul(A.mul(A.const(polemass_length), A.square(theta_dot)), sintheta)), A.const(total_mass))
        denom = A.mul(
            A.const(p["length"]),
            A.sub(A.const(4.0 / 3.0), A.div(A.mul(A.const(p["masspole"]), A.square(costheta)), A.const(total_mass))),
        )
        thetaacc = A.div(A.sub(A.mul(A.const(p["gravity"]), sintheta), A.mul(costheta, temp)), denom)
        xacc = A.sub(temp, A.div(A.mul(A.mul(A.const(polemass_length), thetaacc), costheta), A.const(total_mass)))
        tau = A.const(p["tau"])
        return [
            A.add(x, A.mul(tau, x_dot)),
            A.add(x_dot, A.mul(tau, xacc)),
            A.add(theta, A.mul(tau, theta_dot)),
            A.add(theta_dot, A.mul(tau, thetaacc)),
        ]

    def observe(self, A: Arith, state: Values) -> Values:
        return [A.f32(v) for v in state]

    def configure_env(self, env: Any) -> None:
        super().configure_env(env)
        env.total_mass = env.masspole + env.masscart
        env.polemass_length = env.masspole * env.length
