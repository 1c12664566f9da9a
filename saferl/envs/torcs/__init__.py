"""Real TORCS (headless, through the saferl_scr robot) and a fast surrogate of it.

The environments share PROPEL's spaces: a 29-dimensional normalised observation
(:data:`OBSERVATION_NAMES`) and the actions :data:`ACTION_NAMES` = steer in [-1, 1],
accel and brake in [0, 1].  Importing this package imports neither gymnasium nor
numpy-heavy modules; the classes load on first use.

Example:
    >>> from saferl.envs.torcs import OBSERVATION_NAMES, ACTION_NAMES
    >>> len(OBSERVATION_NAMES), ACTION_NAMES
    (29, ('steer', 'accel', 'brake'))
"""

from __future__ import annotations

from typing import Any

from saferl.envs.torcs.observation import ACTION_NAMES, OBSERVATION_NAMES

__all__ = ["ACTION_NAMES", "OBSERVATION_NAMES", "TorcsEnv", "TorcsSurrogateEnv"]


def __getattr__(name: str) -> Any:
    if name == "TorcsEnv":
        from saferl.envs.torcs.env import TorcsEnv

        return TorcsEnv
    if name == "TorcsSurrogateEnv":
        from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

        return TorcsSurrogateEnv
    raise AttributeError(f"module 'saferl.envs.torcs' has no attribute {name!r}")
