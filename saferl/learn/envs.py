"""The gymnasium environments saferl learns on, with the names .pol files use.

Nothing here imports gymnasium at module import time; :func:`make_env` does, and raises
:class:`~saferl.errors.MissingDependencyError` when it is missing.

Example:
    >>> from saferl.learn.envs import env_signature
    >>> env_signature("Pendulum-v1").action_name
    'torque'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.errors import InputError, MissingDependencyError

__all__ = ["EnvSignature", "KNOWN_ENVS", "env_signature", "generic_signature", "make_env"]


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
    action_dim: int = 1
    """how many continuous values one action holds (extracted programs need 1)"""

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
    """The :class:`EnvSignature` of an environment.

    The environments saferl knows have meaningful names; any other gymnasium environment
    with a flat Box observation and a Discrete or one-dimensional Box action gets generic
    ones (:func:`generic_signature`).  InputError when the environment cannot be made or
    its spaces do not fit.
    """
    known = KNOWN_ENVS.get(env_id)
    if known is not None:
        return known
    return generic_signature(env_id)


@functools.lru_cache(maxsize=64)
def generic_signature(env_id: str) -> EnvSignature:
    """Names ``obs0, obs1, ...``, action ``action`` with labels ``a0, a1, ...`` (discrete).

    Observation bounds are the observation space's finite float32 bounds.

    Example:
        >>> env_signature("Acrobot-v1").obs_names[:2]        # doctest: +SKIP
        ('obs0', 'obs1')
    """
    try:
        import gymnasium as gym
        from gymnasium import spaces
    except ImportError:
        raise MissingDependencyError("gymnasium", "learn") from None
    if env_id.startswith("saferl/"):
        from saferl.envs import register_envs

        register_envs()
    try:
        env = gym.make(env_id)
    except gym.error.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"unsupported environment {env_id!r} ({first})",
            hint=f"use one of {', '.join(KNOWN_ENVS)} or any gymnasium id with a flat Box observation",
        ) from None
    except ImportError as exc:
        raise InputError(f"environment {env_id!r} needs a package that is not installed: {exc}") from None
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
        raise InputError(f"environment {env_id!r} has observation space {obs_space}; saferl needs a flat Box")
    n = int(obs_space.shape[0])
    low = np.asarray(obs_space.low, dtype=np.float32)
    high = np.asarray(obs_space.high, dtype=np.float32)
    bounds = tuple(
        (float(lo) + 0.0, float(hi) + 0.0) if np.isfinite(lo) and np.isfinite(hi) else None
        for lo, hi in zip(low, high, strict=True)
    )
    names = tuple(f"obs{i}" for i in range(n))
    if isinstance(act_space, spaces.Discrete):
        if int(act_space.start) != 0:
            raise InputError(f"environment {env_id!r} has a Discrete action starting at {act_space.start}; saferl needs 0")
        labels = tuple(f"a{i}" for i in range(int(act_space.n)))
        return EnvSignature(env_id, names, "action", action_labels=labels, obs_bounds=bounds)
    if isinstance(act_space, spaces.Box) and act_space.shape in ((1,), ()):
        lo, hi = float(np.asarray(act_space.low).reshape(-1)[0]), float(np.asarray(act_space.high).reshape(-1)[0])
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError(f"environment {env_id!r} has an unbounded action")
        return EnvSignature(env_id, names, "action", None, lo, hi, bounds)
    if isinstance(act_space, spaces.Box) and len(act_space.shape) == 1:
        return EnvSignature(env_id, names, "action", None, None, None, bounds, action_dim=int(act_space.shape[0]))
    raise InputError(f"environment {env_id!r} has action space {act_space}; saferl needs Discrete or a flat Box")


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``gymnasium.make(env_id)`` for a supported environment."""
    env_signature(env_id)
    if env_id.startswith("saferl/"):
        from saferl.envs import register_envs

        register_envs()
    try:
        import gymnasium as gym
    except ImportError:
        raise MissingDependencyError("gymnasium", "learn") from None
    return gym.make(env_id, **kwargs)
