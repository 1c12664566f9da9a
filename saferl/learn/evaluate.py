"""Roll a policy out in a gymnasium environment and summarise its return.

Works for anything with ``act(obs) -> action``: neural policies, extracted trees and
programs.  Stateful programs (PID) are reset at each episode when they have ``reset()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.learn.envs import env_signature, make_env

__all__ = ["ReturnStats", "evaluate_policy", "to_env_action"]


@dataclass(frozen=True)
class ReturnStats:
    """Episode returns of a policy: ``returns`` in episode order, and their summary."""

    returns: tuple[float, ...]

    @property
    def mean(self) -> float:
        """Mean return."""
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        """Standard deviation of the return (population)."""
        return float(np.std(self.returns))


def to_env_action(action: Any, discrete: bool) -> Any:
    """Turn a policy's action into what ``env.step`` accepts."""
    if discrete:
        return int(np.asarray(action).reshape(-1)[0]) if np.ndim(action) else int(action)
    return np.asarray(action, dtype=np.float32).reshape(-1)


def evaluate_policy(policy: Any, env_id: str, episodes: int = 10, seed: int = 0) -> ReturnStats:
    """Mean and spread of the undiscounted return over ``episodes`` seeded episodes."""
    sig = env_signature(env_id)
    env = make_env(env_id)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        if hasattr(policy, "reset"):
            policy.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(to_env_action(policy.act(obs), sig.discrete))
            total += float(r)
            done = bool(term or trunc)
        returns.append(total)
    env.close()
    return ReturnStats(tuple(returns))
