"""Verdicts and results: ordered values and frozen records with ``to_record()``.

A :class:`Verdict` is ordered UNSAFE < UNKNOWN < SAFE, and verdicts merge by taking the
worst.  Results are frozen dataclasses without ``__bool__`` so that nobody writes
``if result:`` by accident.

Example:
    >>> Verdict.merge([Verdict.SAFE, Verdict.UNKNOWN])
    <Verdict.UNKNOWN: 'UNKNOWN'>
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from saferl.record import record

__all__ = ["Verdict", "Step", "Counterexample", "PropertyResult", "VerifyResult"]


class Verdict(enum.Enum):
    """The outcome of checking one property; ordered UNSAFE < UNKNOWN < SAFE."""

    UNSAFE = "UNSAFE"
    UNKNOWN = "UNKNOWN"
    SAFE = "SAFE"

    @property
    def rank(self) -> int:
        """0 for UNSAFE, 1 for UNKNOWN, 2 for SAFE."""
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self.rank <= other.rank

    @staticmethod
    def merge(verdicts: Iterable[Verdict]) -> Verdict:
        """The worst of ``verdicts`` (SAFE for none)."""
        return min(verdicts, default=Verdict.SAFE, key=lambda v: v.rank)


_RANK = {Verdict.UNSAFE: 0, Verdict.UNKNOWN: 1, Verdict.SAFE: 2}

Number = int | float


@record
class Step:
    """Concrete values at one point of a counterexample.

    ``label`` names the point: ``"t"`` for a single observation, ``"t-1"`` … for a
    history window, ``"a"``/``"b"`` for the two copies of a two-run smoothness property.
    """

    label: str
    observations: Mapping[str, float]
    actions: Mapping[str, Number] = field(default_factory=dict)
    state: Mapping[str, float] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "observations": dict(self.observations),
            "actions": dict(self.actions),
            "state": dict(self.state),
        }


@record
class Counterexample:
    """A concrete violation, already replayed on the concrete evaluator.

    ``replayed`` is True only when evaluating the policy on these values reproduced the
    violation; saferl never reports a counterexample whose ``replayed`` is False.
    """

    property_id: str
    steps: tuple[Step, ...]
    replayed: bool
    detail: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "property": self.property_id,
            "replayed": self.replayed,
            "detail": self.detail,
            "steps": [s.to_record() for s in self.steps],
        }


@record
class PropertyResult:
    """The verdict on one property, with where it came from and what it cost."""

    property_id: str
    kind: str
    verdict: Verdict
    message: str = ""
    counterexample: Counterexample | None = None
    solver: str = "z3"
    solver_time_s: float = 0.0
    spec_line: int = 0
    policy_line: int = 0
    description: str = ""
    cross_checked: bool = False

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.property_id,
            "kind": self.kind,
            "verdict": self.verdict.value,
            "message": self.message,
            "description": self.description,
            "solver": self.solver,
            "solver_time_s": round(self.solver_time_s, 6),
            "cross_checked": self.cross_checked,
            "spec_line": self.spec_line,
            "policy_line": self.policy_line,
            "counterexample": None
            if self.counterexample is None
            else self.counterexample.to_record(),
        }


@record
class VerifyResult:
    """Every property's result for one policy against one spec."""

    policy_path: str
    spec_path: str
    policy_name: str
    policy_digest: str
    spec_name: str
    results: tuple[PropertyResult, ...]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict over all properties."""
        return Verdict.merge(r.verdict for r in self.results)

    def to_record(self) -> dict[str, Any]:
        return {
            "policy": self.policy_path,
            "policy_name": self.policy_name,
            "policy_digest": self.policy_digest,
            "spec": self.spec_path,
            "spec_name": self.spec_name,
            "verdict": self.verdict.value,
            "properties": [r.to_record() for r in self.results],
        }
