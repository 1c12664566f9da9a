"""Subgoal programs: a sequence of ``do ... until <edge>`` blocks of local rules.

Semantics (the certifier's, and the smol-strats simulator's):

* The agent stands on a half-edge of the region it is in; at the start, the start edge
  (a side of the start region, holding the start point unless it is inside the region).
* Block ``b`` is active; before each move, if the agent stands on ``blocks[b].until``
  (compared as an unordered segment), block ``b + 1`` becomes active.
* In the active block, the rule whose ``source`` is the half-edge stood on applies.  Its
  targets form a list with a pointer (one per block and rule, starting at 0).  If the
  *next* target is reachable from the current point, the pointer advances to it; the
  current target is then reached at its preferred point: ``mid`` the midpoint of its
  reachable part, ``max``/``min`` the lexicographically largest/smallest reachable point.
* The move ends on ``target.edge`` (a half-edge of the next region); the agent is then in
  that region, standing on that half-edge.  Entering the target region wins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from saferl.gridworld.geometry import Point, lex_order

__all__ = ["Segment", "Target", "Rule", "Block", "SubgoalProgram", "Preference"]

Preference = Literal["mid", "max", "min"]


@dataclass(frozen=True)
class Segment:
    """A closed segment from ``a`` to ``b`` (oriented when it names a half-edge)."""

    a: Point
    b: Point

    def unordered(self) -> tuple[Point, Point]:
        """The endpoints in lexicographic order (twins compare equal this way)."""
        return lex_order(self.a, self.b)

    def lex(self) -> Segment:
        """The same segment with endpoints in lexicographic order."""
        a, b = self.unordered()
        return Segment(a, b)


@dataclass(frozen=True)
class Target:
    """Reach the segment ``goal`` (a part of ``edge``) at the preferred point."""

    goal: Segment
    edge: Segment
    prefer: Preference = "mid"


@dataclass(frozen=True)
class Rule:
    """When standing on half-edge ``source``: the targets, tried in order."""

    source: Segment
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Block:
    """``do rules until <edge>``; ``until is None`` means until the target region is entered."""

    rules: tuple[Rule, ...]
    until: Segment | None


@dataclass(frozen=True)
class SubgoalProgram:
    """A gridworld subgoal program (see the module docstring for its semantics)."""

    name: str
    size: int
    start: Point
    start_edge: Segment
    blocks: tuple[Block, ...]

    def n_instructions(self) -> int:
        """Instructions: one per ``until``, per rule and per ``reach``."""
        return sum(1 + len(b.rules) + sum(len(r.targets) for r in b.rules) for b in self.blocks)

    def n_targets(self) -> int:
        """Number of ``reach`` instructions."""
        return sum(len(r.targets) for b in self.blocks for r in b.rules)

    def text(self) -> str:
        """The canonical .pol text of this program (formatted once: a program is immutable)."""
        return self._text

    @cached_property
    def _text(self) -> str:
        from saferl.gridworld.polfile import format_subgoal_pol

        return format_subgoal_pol(self)

    def size_bytes(self) -> int:
        """Bytes of the canonical .pol text."""
        return len(self.text().encode("utf-8"))

    def digest(self) -> str:
        """sha256 (hex) of the canonical .pol text."""
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()
