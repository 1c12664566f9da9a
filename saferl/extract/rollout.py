"""Rollouts shared by the extractors: visit states with one policy, score another.

Every function takes plain ``act(obs)`` policies; stateful programs are reset at each
episode start when they have ``reset()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.learn.envs import env_signature, make_env
from saferl.learn.evaluate import to_env_action

__all__ = ["Rollouts", "collect", "fidelity"]


@dataclass(frozen=True)
class Rollouts:
    """States visited (float32, shape (N, obs_dim)), episode ids per state, and returns."""

    states: np.ndarray
    episode: np.ndarray
    returns: tuple[float, ...]

    @property
    def mean_return(self) -> float:
        """Mean episode return."""
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        """Standard deviation of the episode return."""
        return float(np.std(self.returns))


def collect(policy: Any, env_id: str, episodes: int, seed: int, env: Any = None) -> Rollouts:
    """Run ``policy`` for ``episodes`` seeded episodes; keep every observation it acted on."""
    sig = env_signature(env_id)
    own = env is None
    env = make_env(env_id) if own else env
    states: list[np.ndarray] = []
    ep_ids: list[int] = []
    returns: list[float] = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if hasattr(policy, "reset"):
            policy.reset()
        total, done = 0.0, False
        while not done:
            states.append(np.asarray(obs, dtype=np.float32))
            ep_ids.append(ep)
            obs, r, term, trunc, _ = env.step(to_env_action(policy.act(obs), sig.discrete))
            total += float(r)
            done = bool(term or trunc)
        returns.append(total)
    if own:
        env.close()
    return Rollouts(np.asarray(states, dtype=np.float32), np.asarray(ep_ids), tuple(returns))


def fidelity(student_actions: np.ndarray, oracle_actions: np.ndarray, discrete: bool, span: float = 1.0) -> float:
    """Agreement with the oracle on the same states.

    Discrete: the fraction of states where the actions are equal.  Continuous: one minus
    the mean absolute action difference as a fraction of the action range ``span``.
    """
    if len(oracle_actions) == 0:
        return float("nan")
    s = np.asarray(student_actions).reshape(len(oracle_actions), -1)
    o = np.asarray(oracle_actions).reshape(len(oracle_actions), -1)
    if discrete:
        return float(np.mean(np.all(s == o, axis=1)))
    return float(1.0 - np.mean(np.abs(s.astype(np.float64) - o)) / span)
