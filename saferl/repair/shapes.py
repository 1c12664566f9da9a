"""The program shapes a repair tries, and what one CEGIS run on a shape ended with."""

from __future__ import annotations

from dataclasses import dataclass, field

from saferl.policy.ast import Program
from saferl.repair.points import Point, PointConstraints
from saferl.repair.space import ParamSpace

__all__ = ["_Shape", "_Outcome"]


@dataclass
class _Shape:
    """One program shape under repair and where its parameters came from."""

    program: Program
    origin: dict[int, int | None]  # parameter id -> id in the canonical original, or None if new
    shape: str
    kind: str = "parametric"
    size: int = 0
    leaf_line: int = 0
    fixed: tuple[int, ...] = ()
    leaves: tuple[int, ...] = ()  # canonical lines of every leaf an edit replaced


@dataclass
class _Outcome:
    status: str  # safe | unsat | unknown | budget
    shape: _Shape
    program: Program | None = None
    values: dict[int, float] = field(default_factory=dict)
    cost: float = 0.0
    iterations: int = 0
    core: list[Point] = field(default_factory=list)
    detail: str = ""
    space: ParamSpace | None = None
    pc: PointConstraints | None = None
