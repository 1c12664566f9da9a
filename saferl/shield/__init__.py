"""Runtime shielding: only actions that satisfy a verified spec reach the environment.

Importing this package imports gymnasium (``import saferl`` does not).

Example:
    >>> import gymnasium as gym
    >>> from saferl.policy import load_policy
    >>> from saferl.spec import load_spec
    >>> from saferl.shield import Shield
    >>> env = Shield(gym.make("CartPole-v1"), load_spec("specs/cartpole/pole_follow.yaml"),
    ...              fallback=load_policy("policies/cartpole/near_optimal.pol"))   # doctest: +SKIP
    >>> obs, _ = env.reset(seed=0)                                                 # doctest: +SKIP
    >>> obs, r, term, trunc, info = env.step(env.action_space.sample())           # doctest: +SKIP
    >>> info["saferl"].source                                                      # doctest: +SKIP
    'policy'
"""

from saferl.shield.compile import CompiledChecks, compile_checks
from saferl.shield.monitor import ViolationMonitor
from saferl.shield.records import (
    EPISODE_FIELDS,
    REASONS,
    RECORD_FIELDS,
    RECORD_VERSION,
    SOURCES,
    EpisodeStats,
    ShieldRecord,
)
from saferl.shield.wrapper import Policy, Shield, UnverifiedFallbackError

__all__ = [
    "Shield",
    "Policy",
    "ShieldRecord",
    "EpisodeStats",
    "UnverifiedFallbackError",
    "ViolationMonitor",
    "CompiledChecks",
    "compile_checks",
    "RECORD_FIELDS",
    "EPISODE_FIELDS",
    "RECORD_VERSION",
    "REASONS",
    "SOURCES",
]
