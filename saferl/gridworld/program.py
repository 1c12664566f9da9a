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

from saferl.gridworld.geometry import Point, format_point, lex_order

__all__ = ["Segment", "Target", "Rule", "Block", "SubgoalProgram", "Preference", "format_subgoal_pol"]

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
        return format_subgoal_pol(self)

    def size_bytes(self) -> int:
        """Bytes of the canonical .pol text."""
        return len(self.text().encode("utf-8"))

    def digest(self) -> str:
        """sha256 (hex) of the canonical .pol text."""
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()


def format_subgoal_pol(program: SubgoalProgram) -> str:
    """The canonical .pol text of a subgoal program (``polfile.parse_subgoal_pol`` inverts it)."""
    # a point often comes back (rules, edges, until): its text is made once, keyed by the
    # identity of the point (alive while the program is), which is cheaper than its hash
    texts: dict[int, str] = {}

    def point(p: Point) -> str:
        got = texts.get(id(p))
        if got is None:
            got = texts[id(p)] = format_point(p)
        return got

    def _seg(s: Segment) -> str:
        return f"[{point(s.a)} -- {point(s.b)}]"

    out = [
        f"policy {program.name}",
        f"gridworld size {program.size} start {format_point(program.start)} on {_seg(program.start_edge)}",
    ]
    for block in program.blocks:
        out.append("")
        out.append("do")
        for rule in block.rules:
            out.append(f"  from {_seg(rule.source)}:")
            for k, t in enumerate(rule.targets):
                word = "reach" if k == 0 else "then reach"
                pref = "" if t.prefer == "mid" else f" prefer {t.prefer}"
                out.append(f"    {word} {_seg(t.goal)} on {_seg(t.edge)}{pref}")
        out.append("until target" if block.until is None else f"until {_seg(block.until)}")
    return "\n".join(out) + "\n"
