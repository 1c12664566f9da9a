"""saferl's environments, registered with Gymnasium on request.

``register_envs()`` registers ``saferl/Torcs-v0`` (real TORCS, headless) and
``saferl/TorcsSurrogate-v0`` (a fast pure-Python car model on the same tracks).  It is
idempotent, and it is the only place that imports gymnasium: ``import saferl`` and
``import saferl.envs`` stay light.

Example:
    >>> from saferl.envs import register_envs
    >>> sorted(register_envs())
    ['saferl/Torcs-v0', 'saferl/TorcsSurrogate-v0']
"""

from __future__ import annotations

__all__ = ["ENV_IDS", "register_envs"]

#: Gymnasium id -> entry point.
ENV_IDS: dict[str, str] = {
    "saferl/Torcs-v0": "saferl.envs.torcs.env:TorcsEnv",
    "saferl/TorcsSurrogate-v0": "saferl.envs.torcs.surrogate:TorcsSurrogateEnv",
}


def register_envs() -> list[str]:
    """Register saferl's environments with Gymnasium (idempotent); return their ids."""
    import gymnasium

    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=entry_point)
    return list(ENV_IDS)
