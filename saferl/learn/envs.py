"""The gymnasium environments saferl learns on, with the names .pol files use.

Nothing here imports gymnasium at module import time; :func:`make_env` does, and raises
:class:`~saferl.errors.MissingDependencyError` when it is missing.

Example:
    >>> from saferl.learn.envs import env_signature
    >>> env_signature("Pendulum-v1").action_name
    'torque'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saferl.errors import InputError, MissingDependencyError

__all__ = ["EnvSignature", "KNOWN_ENVS", "env_signature", "make_env"]


@dataclass(frozen=True)
class EnvSignature:
    """How saferl names an environment's observations and action.

    ``action_labels`` is set for discrete actions (label of action ``i`` at index ``i``);
    ``action_low`` / ``action_high`` for continuous, one-dimensional actions.
    """

    env_id: str
    obs_names: tuple[str, ...]
    action_name: str
    action_labels: tuple[str, ...] | None = None
    action_low: float | None = None
    action_high: float | None = None
    obs_bounds: tuple[tuple[float, float] | None, ...] = ()
    """per observation, the (low, high) the environment guarantees (float32 values), or None"""

    @property
    def discrete(self) -> bool:
        """True when the action is discrete."""
        return self.action_labels is not None


KNOWN_ENVS: dict[str, EnvSignature] = {
    "CartPole-v1": EnvSignature(
        "CartPole-v1",
        ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"),
        "push",
        action_labels=("left", "right"),
        obs_bounds=((-4.800000190734863, 4.800000190734863), None, (-0.41887903213500977, 0.41887903213500977), None),
    ),
    "MountainCarContinuous-v0": EnvSignature(
        "MountainCarContinuous-v0",
        ("position", "velocity"),
        "force",
        None,
        -1.0,
        1.0,
        ((-1.2000000476837158, 0.6000000238418579), (-0.07000000029802322, 0.07000000029802322)),
    ),
    "Pendulum-v1": EnvSignature(
        "Pendulum-v1",
        ("cos_theta", "sin_theta", "theta_dot"),
        "torque",
        None,
        -2.0,
        2.0,
        ((-1.0, 1.0), (-1.0, 1.0), (-8.0, 8.0)),
    ),
}


def env_signature(env_id: str) -> EnvSignature:
    """The :class:`EnvSignature` of a supported environment; InputError otherwise."""
    try:
        return KNOWN_ENVS[env_id]
    except KeyError:
        raise InputError(
            f"unsupported environment {env_id!r}",
            hint=f"use one of {', '.join(KNOWN_ENVS)}",
        ) from None


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``gymnasium.make(env_id)`` for a supported environment."""
    env_signature(env_id)
    try:
        import gymnasium as gym
    except ImportError:
        raise MissingDependencyError("gymnasium", "learn") from None
    return gym.make(env_id, **kwargs)
