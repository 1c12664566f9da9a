"""White-box models of gymnasium's classic-control environments (numpy only, no gymnasium
until a trajectory is replayed): an exact concrete step, a sound box step and the rigorous
step of the certificate check, all from one written step per environment.

Example:
    >>> import numpy as np
    >>> m = make_model("CartPole-v1")
    >>> m.concrete_step(np.zeros((1, 4)), np.array([1])).tolist()
    [[0.0, 0.1951219512195122, 0.0, -0.2926829268292683]]
"""

from __future__ import annotations

from collections.abc import Mapping

from saferl.dynamics.base import Model
from saferl.dynamics.cartpole import CartPole
from saferl.dynamics.mountaincar import MountainCar
from saferl.dynamics.pendulum import Pendulum
from saferl.errors import InputError

__all__ = ["Model", "MODELS", "make_model", "CartPole", "Pendulum", "MountainCar"]

#: gymnasium id -> model class
MODELS: dict[str, type[Model]] = {m.env_id: m for m in (CartPole, Pendulum, MountainCar)}


def make_model(env_id: str, params: Mapping[str, float] | None = None) -> Model:
    """The model of ``env_id`` with ``params`` overriding its physical parameters."""
    if env_id not in MODELS:
        raise InputError(f"unknown dynamics {env_id!r}; known: {', '.join(MODELS)}")
    return MODELS[env_id](params)
