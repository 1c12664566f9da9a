"""The names a policy file does not carry: observations, the action, its labels and range.

A neural network or a scikit-learn tree knows only widths; saferl's policies name every
observation and the action.  Names come, in this order, from the user (flags or a small
names file), from the environment (:func:`saferl.learn.envs.env_signature`, generic
``obs0, obs1, ...`` for environments saferl does not know), or default to generic ones.

A names file is YAML (or JSON)::

    obs: [cart_position, cart_velocity, pole_angle, pole_angular_velocity]
    action: push
    labels: [left, right]        # discrete actions, in index order
    # low: -2.0                  # continuous actions: the range
    # high: 2.0

Example:
    >>> PolicyNames.from_options("x,y", "a", "l,r").obs
    ('x', 'y')
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from saferl.errors import InputError
from saferl.record import record

__all__ = ["PolicyNames", "load_names_file"]

_KEYS = ("obs", "action", "labels", "low", "high")


def _identifiers(values: Any, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",")]
    if not isinstance(values, list | tuple) or not values:
        raise InputError(f"{what} must be a non-empty list of names")
    out = []
    for v in values:
        if not isinstance(v, str) or not v.isidentifier():
            raise InputError(f"{what}: {v!r} is not an identifier (letters, digits and _, not starting with a digit)")
        out.append(v)
    if len(set(out)) != len(out):
        raise InputError(f"{what} repeats a name")
    return tuple(out)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{what} must be a finite number")
    return float(value)


@record
class PolicyNames:
    """User-given names; ``None`` where the user said nothing (the environment decides)."""

    obs: tuple[str, ...] | None = None
    action: str | None = None
    labels: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_options(
        cls,
        obs_names: str | None = None,
        action_name: str | None = None,
        labels: str | None = None,
        names_file: Path | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> PolicyNames:
        """Names from comma-separated CLI flags, over those of an optional names file."""
        base = load_names_file(names_file) if names_file is not None else cls()
        if obs_names is not None:
            base = replace(base, obs=_identifiers(obs_names, "--obs-names"))
        if action_name is not None:
            base = replace(base, action=_identifiers([action_name], "--action-name")[0])
        if labels is not None:
            base = replace(base, labels=_identifiers(labels, "--labels"))
        if low is not None:
            base = replace(base, low=_number(low, "--action-low"))
        if high is not None:
            base = replace(base, high=_number(high, "--action-high"))
        if base.low is not None and base.high is not None and not base.low < base.high:
            raise InputError("the action range needs low < high")
        return base

    def obs_for(self, n: int, env_id: str | None = None) -> tuple[str, ...]:
        """``n`` observation names: the user's, the environment's, or ``obs0..``."""
        if self.obs is not None:
            if len(self.obs) != n:
                raise InputError(f"{len(self.obs)} observation names given, the model observes {n} values")
            return self.obs
        sig = _signature(env_id)
        if sig is not None and len(sig.obs_names) == n:
            return tuple(sig.obs_names)
        return tuple(f"obs{i}" for i in range(n))

    def action_for(self, env_id: str | None = None) -> str:
        """The action's name: the user's, the environment's, or ``action``."""
        if self.action is not None:
            return self.action
        sig = _signature(env_id)
        return sig.action_name if sig is not None else "action"

    def labels_for(self, n: int, env_id: str | None = None) -> tuple[str, ...]:
        """``n`` discrete action labels: the user's, the environment's, or ``a0..``."""
        if self.labels is not None:
            if len(self.labels) != n:
                raise InputError(f"{len(self.labels)} action labels given, the model has {n} actions")
            return self.labels
        sig = _signature(env_id)
        if sig is not None and sig.action_labels is not None and len(sig.action_labels) == n:
            return tuple(sig.action_labels)
        return tuple(f"a{i}" for i in range(n))

    def range_for(self, env_id: str | None = None) -> tuple[float, float] | None:
        """The continuous action range: the user's, else the environment's, else None."""
        sig = _signature(env_id)
        low = self.low if self.low is not None else (sig.action_low if sig is not None else None)
        high = self.high if self.high is not None else (sig.action_high if sig is not None else None)
        if low is None or high is None:
            return None
        return float(low), float(high)


def _signature(env_id: str | None) -> Any:
    if env_id is None:
        return None
    from saferl.learn.envs import env_signature

    return env_signature(env_id)


def load_names_file(path: Path) -> PolicyNames:
    """Read a names file (YAML or JSON; keys obs, action, labels, low, high)."""
    from saferl.userfile import read_user_text
    from saferl.yamlfile import parse_user_yaml

    text = read_user_text(path, "names file")
    data = parse_user_yaml(text, str(path), "names file")  # plain data, bounded depth, 1e-30 a number
    if not isinstance(data, dict):
        raise InputError(f"{path}: a names file is a mapping with keys {', '.join(_KEYS)}")
    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r}; keys: {', '.join(_KEYS)}")
    return PolicyNames(
        obs=_identifiers(data["obs"], f"{path}: obs") if "obs" in data else None,
        action=_identifiers([data["action"]], f"{path}: action")[0] if "action" in data else None,
        labels=_identifiers(data["labels"], f"{path}: labels") if "labels" in data else None,
        low=_number(data["low"], f"{path}: low") if "low" in data else None,
        high=_number(data["high"], f"{path}: high") if "high" in data else None,
    )
