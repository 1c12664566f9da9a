"""Run a policy in a gymnasium environment: episodes, returns, lap times.

Used by ``saferl eval`` and by repair, shield and learning code that need returns.
gymnasium is imported when a rollout starts, never at ``import saferl``.

Example:
    >>> from saferl.policy import parse_policy, ProgramPolicy
    >>> p = ProgramPolicy(parse_policy(open("policies/cartpole/near_optimal.pol").read()))  # doctest: +SKIP
    >>> evaluate_policy(p, "CartPole-v1", episodes=3).mean_return  # doctest: +SKIP
    500.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saferl.errors import InputError, MissingDependencyError

__all__ = ["EpisodeStats", "EvalResult", "evaluate_policy", "make_env", "action_adapter"]


@dataclass(frozen=True)
class EpisodeStats:
    """One episode: its return, length, and for racing envs its lap times and crash flag."""

    seed: int
    ret: float
    length: int
    lap_times: tuple[float, ...] = ()
    crashed: bool = False


@dataclass(frozen=True)
class EvalResult:
    """Returns over episodes (mean and population std, as RL papers report them)."""

    env_id: str
    episodes: tuple[EpisodeStats, ...]
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def returns(self) -> np.ndarray:
        return np.array([e.ret for e in self.episodes])

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def std_return(self) -> float:
        return float(self.returns.std())

    @property
    def best_lap_s(self) -> float:
        """Best completed lap over all episodes (inf if none, or if an episode crashed)."""
        if any(e.crashed for e in self.episodes):
            return math.inf
        laps = [t for e in self.episodes for t in e.lap_times]
        return min(laps) if laps else math.inf

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "env": self.env_id,
            "env_kwargs": dict(self.env_kwargs),
            "episodes": len(self.episodes),
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "min_return": float(self.returns.min()),
            "max_return": float(self.returns.max()),
            "mean_length": float(np.mean([e.length for e in self.episodes])),
        }
        if any(e.lap_times or e.crashed for e in self.episodes):
            best = self.best_lap_s
            rec["best_lap_s"] = None if math.isinf(best) else best
            rec["crashed"] = any(e.crashed for e in self.episodes)
            rec["lap_times"] = [list(e.lap_times) for e in self.episodes]
        return rec


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``gymnasium.make`` with saferl's own environments registered; errors are InputErrors."""
    try:
        import gymnasium as gym
    except ImportError:
        raise MissingDependencyError("gymnasium", "learn") from None
    if env_id.startswith("saferl/"):
        try:
            from saferl.envs import register_envs
        except ImportError:
            raise InputError(f"environment {env_id!r} is not available in this build") from None
        register_envs()
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        raise InputError(f"cannot make environment {env_id!r}: {exc}") from None
    except TypeError as exc:
        raise InputError(f"environment {env_id!r} does not take these options: {exc}") from None


def action_adapter(env: Any, n_actions: int) -> Callable[[Any], Any]:
    """Convert a policy's output into the env's action format, checking shapes once."""
    from gymnasium import spaces

    space = env.action_space
    if isinstance(space, spaces.Discrete):
        if n_actions != 1:
            raise InputError(f"the environment takes one discrete action; the policy has {n_actions}")
        return lambda a: int(a)
    if isinstance(space, spaces.Box):
        if int(np.prod(space.shape)) != n_actions:
            raise InputError(
                f"the environment takes {int(np.prod(space.shape))} continuous actions; the policy has {n_actions}"
            )
        dtype = space.dtype
        return lambda a: np.asarray(a, dtype=dtype).reshape(space.shape)
    raise InputError(f"unsupported action space {space}")


def evaluate_policy(
    policy: Any, env_id: str, episodes: int = 10, seed: int = 0, *, max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None, on_episode: Callable[[EpisodeStats], None] | None = None,
    n_actions: int | None = None,
) -> EvalResult:
    """Run ``policy.act(obs)`` for ``episodes`` episodes seeded ``seed, seed+1, …``."""
    kwargs = dict(env_kwargs or {})
    env = make_env(env_id, **kwargs)
    try:
        obs_shape = env.observation_space.shape
        want = getattr(policy, "n_obs", None)
        if want is not None and obs_shape is not None and int(np.prod(obs_shape)) != want:
            raise InputError(
                f"the environment gives {int(np.prod(obs_shape))} observations; the policy declares {want}"
            )
        if n_actions is None:
            program = getattr(policy, "program", None)
            n_actions = len(program.actions) if program is not None else 1
        adapt = action_adapter(env, n_actions)
        stats = []
        for ep in range(episodes):
            if hasattr(policy, "reset"):
                policy.reset()
            obs, info = env.reset(seed=seed + ep)
            total, steps, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, info = env.step(adapt(policy.act(obs)))
                total += float(reward)
                steps += 1
                done = terminated or truncated or (max_steps is not None and steps >= max_steps)
            st = EpisodeStats(
                seed + ep, total, steps, tuple(info.get("lap_times", ()) or ()), bool(info.get("crashed", False))
            )
            stats.append(st)
            if on_episode is not None:
                on_episode(st)
        return EvalResult(env_id, tuple(stats), kwargs)
    finally:
        env.close()
