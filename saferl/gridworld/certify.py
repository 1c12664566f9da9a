"""The certifier: run a subgoal program from the start point with exact arithmetic.

Every move is checked: the rule exists, a target is reachable inside the region's cone,
the move ends on an edge of the current region that is shared with a neighbour (never the
outer boundary), and the agent does not stop or loop.  The path length is compared with
the backward tree's depth (the shortest path length) when asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from typing import Any

from saferl.gridworld.geometry import (
    Point,
    clip_scaled_to_cone,
    cone_allows_move,
    cone_letters,
    format_point,
)
from saferl.gridworld.instance import GridWorld, scaled_ints
from saferl.gridworld.program import Segment, SubgoalProgram, Target

__all__ = ["StepFailure", "CertifyResult", "run_program", "certify_program"]


@dataclass(frozen=True)
class StepFailure:
    """Why a run was refuted: the step (0-based), the point, the rule and the reason."""

    step: int
    point: Point
    block: int
    rule: str
    reason: str

    def to_record(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "step": self.step,
            "point": format_point(self.point),
            "block": self.block + 1,
            "rule": self.rule,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CertifyResult:
    """The outcome of certifying a program on a grid.

    ``certified`` is True exactly when the target was reached with every move checked
    (and, if ``require_shortest``, the path is shortest).
    """

    certified: bool
    reached: bool
    moves: int
    path: tuple[Point, ...]
    failure: StepFailure | None
    shortest_length: int | None = None
    shortest: bool | None = None
    tree_capped: bool = False
    seconds: float = 0.0
    program_instructions: int = 0
    program_bytes: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_record(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "certified": self.certified,
            "reached": self.reached,
            "moves": self.moves,
            "shortest_length": self.shortest_length,
            "shortest": self.shortest,
            "tree_capped": self.tree_capped,
            "failure": self.failure.to_record() if self.failure else None,
            "seconds": round(self.seconds, 6),
            "program_instructions": self.program_instructions,
            "program_bytes": self.program_bytes,
            "path": [format_point(p) for p in self.path],
            "notes": list(self.notes),
        }


class _LazyText:
    """Text built only when a failure needs it (the run formats nothing on success)."""

    __slots__ = ("make",)

    def __init__(self, make: Any):
        self.make = make

    def __str__(self) -> str:
        return str(self.make())


def _seg_text(s: Segment) -> str:
    return f"[{format_point(s.a)} -- {format_point(s.b)}]"


class _Goal:
    """A target's goal segment as the run uses it, worked out once per target and run.

    ``a``, ``b``: its ends in lexicographic order; ``m, ax, ay, dx, dy``: ``a`` and
    ``b - a`` in integers over the positive denominator ``m``.
    """

    __slots__ = ("a", "b", "m", "ax", "ay", "dx", "dy", "prefer", "edge", "on_edge")

    def __init__(self, t: Target):
        a, b = t.goal.a, t.goal.b
        m, (ax, ay, bx, by) = scaled_ints((a[0], a[1], b[0], b[1]))
        if (bx, by) < (ax, ay):  # lexicographic order, compared in integers
            a, b, ax, ay, bx, by = b, a, bx, by, ax, ay
        self.a, self.b, self.m, self.ax, self.ay = a, b, m, ax, ay
        self.dx, self.dy = bx - ax, by - ay
        self.prefer = t.prefer
        self.edge = -2  # the half-edge of t.edge, resolved on first use (-1: not an edge)
        self.on_edge: bool | None = None  # whether the whole goal lies on that edge


#: a point in integers: ``(m, x, y)`` stands for ``(x / m, y / m)``, ``m > 0``
_Scaled = tuple[int, int, int]


def _reachable_point(ps: _Scaled, g: _Goal, cone: int) -> tuple[Point, _Scaled] | None:
    """The goal's preferred point among those reachable from ``ps`` (None if none is), as a
    point and in integers (over the smallest common denominator of its coordinates)."""
    mp, px, py = ps
    m = g.m
    # everything over the common denominator m * mp
    rng = clip_scaled_to_cone((g.ax * mp, g.ay * mp), (g.dx * mp, g.dy * mp), (px * m, py * m), cone)
    if rng is None:
        return None
    (ln, ld), (hn, hd) = rng
    if g.prefer == "max":
        sn, sd = hn, hd
    elif g.prefer == "min":
        sn, sd = ln, ld
    else:
        sn, sd = ln * hd + hn * ld, 2 * ld * hd
    if sn == 0:
        return g.a, (m, g.ax, g.ay)
    if sn == sd:
        return g.b, (m, g.ax + g.dx, g.ay + g.dy)
    den, qx, qy = m * sd, g.ax * sd + g.dx * sn, g.ay * sd + g.dy * sn
    k = gcd(den, qx, qy)
    if k > 1:
        den, qx, qy = den // k, qx // k, qy // k
    return (Fraction(qx, den), Fraction(qy, den)), (den, qx, qy)


def run_program(
    grid: GridWorld, program: SubgoalProgram, max_moves: int = 1000, edges: list[int] | None = None
) -> tuple[bool, list[Point], StepFailure | None]:
    """Execute ``program`` on ``grid``; returns (reached, path points, first failure).

    If ``edges`` is given, the half-edge stood on before each move is appended to it.
    """
    p = program.start
    m0, (x0, y0) = scaled_ints(p)
    ps: _Scaled = (m0, x0, y0)
    path = [p]
    start_h = grid.half_edge(program.start_edge.a, program.start_edge.b)
    if start_h < 0:
        return False, path, StepFailure(0, p, 0, "start", f"start edge {_seg_text(program.start_edge)} is not a half-edge of the grid")
    if not grid.region_contains(grid.he_region[start_h], p):
        return False, path, StepFailure(0, p, 0, "start", "the start point is not in the region of the start edge")
    if p != grid.start:
        return False, path, StepFailure(0, p, 0, "start", f"the program starts at {format_point(p)}, "
                                        f"but the instance's start point is {format_point(grid.start)}")
    if program.size != grid.size:
        return False, path, StepFailure(0, p, 0, "start", f"program is for size {program.size}, grid has size {grid.size}")
    if grid.he_region[start_h] == grid.target:
        return True, path, None
    # index the rules of each block by the half-edge they stand on
    tables: list[dict[int, tuple[int, tuple[Target, ...]]]] = []
    for bi, block in enumerate(program.blocks):
        table: dict[int, tuple[int, tuple[Target, ...]]] = {}
        for ri, rule in enumerate(block.rules):
            h = grid.half_edge(rule.source.a, rule.source.b)
            if h < 0:
                return False, path, StepFailure(0, p, bi, _seg_text(rule.source),
                                                f"rule {ri + 1} of block {bi + 1} stands on {_seg_text(rule.source)}, which is not a half-edge of the grid")
            table[h] = (ri, rule.targets)
        tables.append(table)
    if not program.blocks:
        return False, path, StepFailure(0, p, 0, "-", "the program has no block")
    # each block's until edge as the set of its two half-edges (empty if it is no edge)
    until_ids: list[frozenset[int]] = []
    for blk in program.blocks:
        ids: set[int] = set()
        if blk.until is not None:
            for a, c in ((blk.until.a, blk.until.b), (blk.until.b, blk.until.a)):
                u = grid.half_edge(a, c)
                if u >= 0:
                    ids.add(u)
        until_ids.append(frozenset(ids))
    goals: dict[int, _Goal] = {}  # id(target) -> its goal, worked out once

    def goal_of(t: Target) -> _Goal:
        g = goals.get(id(t))
        if g is None:
            g = goals[id(t)] = _Goal(t)
        return g

    pointers: dict[tuple[int, int], int] = {}
    h = start_h
    b = 0
    saved: tuple[Any, ...] | None = None
    saved_step = 0
    next_save = 0
    for step in range(max_moves):
        region = grid.he_region[h]
        cone = grid.cones[region]
        if b + 1 < len(program.blocks) and h in until_ids[b]:
            b += 1
        # Brent's cycle detection: compare with the state saved at the last power of two
        if saved is not None and saved[0] == h and saved[1] == b and saved[2] == p \
                and saved[3] == tuple(sorted(pointers.items())):
            return False, path, StepFailure(step, p, b, grid.describe_edge(h),
                                            f"the run loops forever (it is back where it was at move {saved_step + 1})")
        if step == next_save:
            saved = (h, b, p, tuple(sorted(pointers.items())))
            saved_step = step
            next_save = 2 * step + 1
        entry = tables[b].get(h)
        rule_text = _LazyText(lambda b=b, h=h: f"block {b + 1}, from {grid.describe_edge(h)}")
        if entry is None:
            return False, path, StepFailure(step, p, b, str(rule_text), f"no rule for the edge {grid.describe_edge(h)} in block {b + 1}")
        ri, targets = entry
        if not targets:
            return False, path, StepFailure(step, p, b, str(rule_text), "the rule has no target")
        key = (b, h)
        i = pointers.get(key, 0)
        reached_q = None
        if i + 1 < len(targets):
            reached_q = _reachable_point(ps, goal_of(targets[i + 1]), cone)
            if reached_q is not None:
                i += 1
                pointers[key] = i
        target = targets[i]
        goal = goal_of(target)
        if reached_q is None:
            reached_q = _reachable_point(ps, goal, cone)
        rule_text = _LazyText(lambda b=b, h=h, i=i, target=target: (
            f"block {b + 1}, from {grid.describe_edge(h)}, target {i + 1}: "
            f"reach {_seg_text(target.goal)} on {_seg_text(target.edge)} prefer {target.prefer}"))
        if reached_q is None:
            return False, path, StepFailure(step, p, b, str(rule_text),
                                            f"no point of the target is reachable from {format_point(p)} with moves {cone_letters(cone) or 'none'}")
        q, qs = reached_q
        # the edge the move ends on, as a half-edge of the current region
        e = goal.edge
        if e == -2:
            e = goal.edge = grid.half_edge(target.edge.a, target.edge.b)
        if e < 0:
            return False, path, StepFailure(step, p, b, str(rule_text), f"{_seg_text(target.edge)} is not an edge of the grid")
        if grid.he_region[e] != region:
            o = grid.he_opp[e]
            if o < 0 or grid.he_region[o] != region:
                return False, path, StepFailure(step, p, b, str(rule_text),
                                                f"the edge {_seg_text(target.edge)} is not a side of the current region")
            crossed = o
        else:
            crossed = e
        if goal.on_edge is None:  # q lies on the goal; if the whole goal is on the edge, so is q
            gm, gx, gy = goal.m, goal.ax, goal.ay
            goal.on_edge = (grid.scaled_point_on_edge(gm, gx, gy, crossed)
                            and grid.scaled_point_on_edge(gm, gx + goal.dx, gy + goal.dy, crossed))
        if not goal.on_edge and not grid.point_on_edge(q, crossed):
            return False, path, StepFailure(step, p, b, str(rule_text),
                                            f"the chosen point {format_point(q)} is not on the edge {grid.describe_edge(crossed)}")
        if grid.he_opp[crossed] < 0:
            return False, path, StepFailure(step, p, b, str(rule_text),
                                            f"the move to {format_point(q)} goes through the outer boundary {grid.describe_edge(crossed)}")
        # q == p is allowed: an agent standing on a vertex of the crossed edge steps across it
        # the move's direction, in integers: q - p over the positive denominator qm * pm
        (pm, px, py), (qm, qx, qy) = ps, qs
        if not cone_allows_move(cone, qx * pm - px * qm, qy * pm - py * qm):
            return False, path, StepFailure(step, p, b, str(rule_text),
                                            f"the move to {format_point(q)} is outside the cone {cone_letters(cone) or 'none'}")
        # p lies on the closed convex region (invariant) and q on its edge: the segment is inside
        path.append(q)
        if edges is not None:
            edges.append(h)
        p, ps = q, qs
        h = grid.he_opp[crossed]
        if grid.he_region[h] == grid.target:
            return True, path, None
    return False, path, StepFailure(max_moves, p, b, grid.describe_edge(h), f"the target is not reached within {max_moves} moves")


def certify_program(
    grid: GridWorld,
    program: SubgoalProgram,
    *,
    max_moves: int = 1000,
    check_shortest: bool = True,
    depth_cap: int = 1000,
    require_shortest: bool = False,
) -> CertifyResult:
    """Run and check ``program`` on ``grid``; compare with the shortest path if asked."""
    t0 = time.perf_counter()
    reached, path, failure = run_program(grid, program, max_moves)
    moves = len(path) - 1
    shortest_len: int | None = None
    shortest: bool | None = None
    capped = False
    notes: list[str] = []
    if reached and check_shortest:
        from saferl.gridworld.tree import shortest_path_length

        start_h = grid.half_edge(program.start_edge.a, program.start_edge.b)
        info = shortest_path_length(grid, program.start, grid.he_region[start_h], depth_cap=depth_cap)
        shortest_len = info.length
        capped = info.capped
        if shortest_len is not None:
            shortest = moves == shortest_len
            if moves < shortest_len:
                notes.append("the run is shorter than the tree's depth: a tool error")
        elif capped:
            notes.append(f"the backward tree hit its depth cap {depth_cap} before reaching the start")
    certified = reached and (shortest is not False or not require_shortest)
    return CertifyResult(
        certified=certified, reached=reached, moves=moves, path=tuple(path), failure=failure,
        shortest_length=shortest_len, shortest=shortest, tree_capped=capped,
        seconds=time.perf_counter() - t0, program_instructions=program.n_instructions(),
        program_bytes=program.size_bytes(), notes=tuple(notes),
    )
