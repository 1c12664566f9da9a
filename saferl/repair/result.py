"""Records of a repair: what changed, which counterexamples forced it, how it ended.

Every record is a frozen dataclass with ``to_record()`` (plain JSON-ready values), so the
CLI renders text and JSON from the same data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from saferl.results import Verdict, VerifyResult

__all__ = ["ParamChange", "Edit", "Witness", "Attempt", "RepairResult", "STATUSES"]

#: how a repair ended: ``repaired`` (a changed policy proved SAFE), ``already-safe``
#: (nothing to do), ``unrepairable`` (proved: the spec conflicts, or no values of the tried
#: shapes satisfy the counterexamples), ``not-repaired`` (the budget ended first, or the search
#: could not decide; ``reason`` says what was tried)
STATUSES = ("repaired", "already-safe", "unrepairable", "not-repaired")


def _short(v: float) -> str:
    """The shortest text that reads back to ``v`` (as a float32 when ``v`` is one)."""
    import numpy as np

    f = np.float32(v)
    text = str(f) if float(f) == v else repr(float(v))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class Witness:
    """A counterexample point the repair had to respect: property id and observations per step."""

    property_id: str
    observations: Mapping[str, Mapping[str, float]]
    state: Mapping[str, float] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "property": self.property_id,
            "observations": {k: dict(v) for k, v in self.observations.items()},
            "state": dict(self.state),
        }

    def describe(self) -> str:
        """One line: ``prop @ t: x=0.1, y=2``."""
        parts = []
        for lbl, obs in self.observations.items():
            vals = ", ".join(f"{k}={_short(v)}" for k, v in obs.items())
            parts.append(f"{lbl}: {vals}" if len(self.observations) > 1 else vals)
        text = "; ".join(parts)
        if self.state:
            text += "; state " + ", ".join(f"{k}={_short(v)}" for k, v in self.state.items())
        return f"{self.property_id} at {text}"


@dataclass(frozen=True)
class ParamChange:
    """One changed constant: its kind, old and new value, and its lines in the old and new file."""

    kind: str
    old: float
    new: float
    old_line: int
    new_line: int
    action: str | None = None
    old_text: str = ""
    new_text: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "old_line": self.old_line,
            "new_line": self.new_line,
            "action": self.action,
            "old_text": self.old_text,
            "new_text": self.new_text,
        }


@dataclass(frozen=True)
class Edit:
    """A structural edit: ``kind`` (split-leaf, guard), the leaf it replaced and the new code."""

    kind: str
    old_line: int
    new_lines: tuple[int, int]
    old_text: str
    new_text: str

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old_line": self.old_line,
            "new_lines": list(self.new_lines),
            "old_text": self.old_text,
            "new_text": self.new_text,
        }


@dataclass(frozen=True)
class Attempt:
    """One shape the repair tried (parametric, or a structural edit) and how it ended."""

    shape: str
    outcome: str
    iterations: int
    detail: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"shape": self.shape, "outcome": self.outcome, "iterations": self.iterations, "detail": self.detail}


@dataclass(frozen=True)
class RepairResult:
    """The outcome of :func:`saferl.repair.repair_policy`.

    ``verify`` is the final re-verification of ``policy_text`` (SAFE only with a proof).
    ``witnesses`` are the counterexamples that forced the change (or, when unrepairable,
    the ones that conflict); ``returns`` maps ``before``/``after`` to mean environment
    returns when an environment was given.
    """

    status: str
    policy_name: str
    policy_text: str
    verify: VerifyResult | None
    changes: tuple[ParamChange, ...] = ()
    edits: tuple[Edit, ...] = ()
    witnesses: tuple[Witness, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    iterations: int = 0
    time_s: float = 0.0
    reason: str = ""
    returns: Mapping[str, float] = field(default_factory=dict)
    behaviour_states: int = 0
    behaviour_changed: float | None = None
    original_verdict: Verdict | None = None
    #: what ``witnesses`` are: ``forcing`` (they forced the repair), ``conflicting`` (no
    #: policy of this shape, or of any shape, satisfies them together) or ``open`` (found
    #: before the budget ran out)
    witness_kind: str = "forcing"

    @property
    def verdict(self) -> Verdict:
        """The verdict of the returned policy (UNSAFE when there is none)."""
        return self.verify.verdict if self.verify is not None else Verdict.UNSAFE

    def to_record(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "policy_name": self.policy_name,
            "verdict": self.verdict.value,
            "original_verdict": None if self.original_verdict is None else self.original_verdict.value,
            "iterations": self.iterations,
            "time_s": round(self.time_s, 3),
            "reason": self.reason,
            "changes": [c.to_record() for c in self.changes],
            "edits": [e.to_record() for e in self.edits],
            "witnesses": [w.to_record() for w in self.witnesses],
            "witness_kind": self.witness_kind,
            "attempts": [a.to_record() for a in self.attempts],
            "returns": dict(self.returns),
            "behaviour_states": self.behaviour_states,
            "behaviour_changed": self.behaviour_changed,
            "verify": None if self.verify is None else self.verify.to_record(),
            "policy": self.policy_text,
        }
