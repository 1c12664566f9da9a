"""What the shield writes: the per-step ``info["saferl"]`` record and episode counters.

Both are immutable.  :class:`ShieldRecord` is a ``NamedTuple`` rather than a dataclass on
purpose: the shield writes one per step, and building a tuple costs a fraction of a frozen
dataclass's ``__init__`` (for discrete actions the records of steps without an
intervention are built once and shared).  The field list is frozen:
:data:`RECORD_FIELDS` and :data:`EPISODE_FIELDS` are pinned by the tests; a change of
schema must bump :data:`RECORD_VERSION`.

Reasons (why the shield intervened), :data:`REASONS`:

``violation``       the proposed action breaks ``property_id`` at this step;
``invalid-action``  the proposed action is not in the action space (NaN, infinite,
                    out of the box, wrong shape or type);
``policy-error``    the policy raised an exception instead of proposing an action
                    (only through :meth:`Shield.step_with`);
``lookahead``       the proposed action passes the per-state checks, but its successor
                    may leave the proved invariant of closed-loop property
                    ``property_id`` (the fallback's action keeps it inside);
``outside-invariant`` the state may lie outside the invariant of ``property_id``: the
                    fallback's action ran (nothing is proved from there).

Version 2 added the two look-ahead reasons.

Sources (where the executed action came from), :data:`SOURCES`:

``policy``               the proposed action, unchanged;
``projection``           the proposed action clamped into the interval the properties
                         allow (continuous actions, bounds and linear ``require`` only);
``fallback``             the verified fallback program's action;
``fallback-projection``  the fallback's action clamped into that interval (outside the
                         verified domain only);
``search``               the first discrete action that satisfies every property
                         (outside the verified domain only: inside it the fallback's
                         action always does);
``unsafe-fallback``      no candidate satisfied every property; the fallback's action was
                         executed anyway and the step counts in ``unsafe_steps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "ShieldRecord",
    "EpisodeStats",
    "RECORD_FIELDS",
    "EPISODE_FIELDS",
    "RECORD_VERSION",
    "REASONS",
    "SOURCES",
]

RECORD_VERSION = 2
REASONS = ("violation", "invalid-action", "policy-error", "lookahead", "outside-invariant")
SOURCES = ("policy", "projection", "fallback", "fallback-projection", "search", "unsafe-fallback")


@dataclass(frozen=True)
class EpisodeStats:
    """Counters of one episode, attached to the record of its last step.

    ``by_property`` counts the proposed actions each property rejected; ``by_reason`` and
    ``by_source`` count interventions by reason and by the source of the executed action.
    ``unsafe_steps`` counts steps where no candidate satisfied every property (0 whenever
    the observations stay inside the spec's verified domain).
    """

    steps: int
    interventions: int
    unsafe_steps: int
    by_property: Mapping[str, int] = field(default_factory=dict)
    by_reason: Mapping[str, int] = field(default_factory=dict)
    by_source: Mapping[str, int] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "steps": self.steps,
            "interventions": self.interventions,
            "unsafe_steps": self.unsafe_steps,
            "by_property": dict(self.by_property),
            "by_reason": dict(self.by_reason),
            "by_source": dict(self.by_source),
        }


class ShieldRecord(NamedTuple):
    """``info["saferl"]`` after every shielded step.

    Actions are plain Python values: an ``int`` for a discrete action, a ``float`` for one
    continuous action, a tuple of floats for several.  ``proposed`` is ``None`` when the
    policy raised, and the ``repr`` of the object when it was not a number at all.
    ``executed`` is exactly what the environment received (continuous values after the
    cast to the action space's dtype).  ``property_id`` is the first property (in spec
    order) the proposed action broke (or, for the look-ahead reasons, the closed-loop
    property whose invariant vetoed it), else ``None``; ``reason`` is one of :data:`REASONS`
    when ``intervened``, else ``None``; ``source`` is one of :data:`SOURCES`;
    ``episode`` is set on the last step of an episode (terminated or truncated) only.
    """

    proposed: Any
    executed: Any
    intervened: bool
    property_id: str | None
    reason: str | None
    source: str
    episode: EpisodeStats | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {
            "proposed": _plain(self.proposed),
            "executed": _plain(self.executed),
            "intervened": self.intervened,
            "property_id": self.property_id,
            "reason": self.reason,
            "source": self.source,
            "episode": self.episode.to_record() if self.episode is not None else None,
        }
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


RECORD_FIELDS = ShieldRecord._fields
EPISODE_FIELDS = ("steps", "interventions", "unsafe_steps", "by_property", "by_reason", "by_source")
