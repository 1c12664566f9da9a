"""Readers for the smol-strats files: ``polygongrid.json`` and ``subgoals_policy.json``.

``polygongrid.json`` is ``[GRID, START_POINT]`` (or the bare ``GRID``, start (0, 0));
``subgoals_policy.json`` is ``[GRID, EAS, SUBGOALS, START_EDGE, START_POINT]``.  GRID is
``[HES, NEXTS, PREVS, OPPS, ROOT, TARGET, N]``; coordinates are gmpy2 binary mpq strings
(decoded by :mod:`saferl.gridworld.mpq`).  Everything malformed raises ModelFileError.
"""

from __future__ import annotations

import json
from typing import Any

from saferl.errors import Location, ModelFileError
from saferl.gridworld.geometry import Point
from saferl.gridworld.instance import GridWorld, build_from_half_edges
from saferl.gridworld.mpq import decode_mpq
from saferl.gridworld.program import Block, Preference, Rule, Segment, SubgoalProgram, Target

__all__ = ["is_smol_grid", "is_smol_policy", "grid_from_smol", "policy_from_smol", "ACTION_SETS"]

#: the 16 subsets of {L, R, U, D} in combinations order, as smol-strats indexes them
ACTION_SETS = ["", "L", "R", "U", "D", "LR", "LU", "LD", "RU", "RD", "UD", "LRU", "LRD", "LUD", "RUD", "LRUD"]
_BITS = {"L": 1, "R": 2, "U": 4, "D": 8}
_CONE_OF_INDEX = [sum(_BITS[c] for c in s) for s in ACTION_SETS]
_NAV: dict[int, Preference] = {0: "mid", 1: "max", 2: "min"}


def _looks_like_grid(obj: Any) -> bool:
    return isinstance(obj, list) and len(obj) == 7 and isinstance(obj[0], list) and isinstance(obj[6], int)


def is_smol_grid(doc: Any) -> bool:
    """Whether a parsed JSON document has the shape of a smol-strats ``polygongrid.json``."""
    return _looks_like_grid(doc) or (isinstance(doc, list) and len(doc) == 2 and _looks_like_grid(doc[0]))


def is_smol_policy(doc: Any) -> bool:
    """Whether a parsed JSON document has the shape of a smol-strats ``subgoals_policy.json``."""
    return isinstance(doc, list) and len(doc) == 5 and _looks_like_grid(doc[0])


class _Reader:
    def __init__(self, path: str):
        self.path = path
        self.cache: dict[str, Any] = {}

    def fail(self, msg: str, hint: str | None = None) -> ModelFileError:
        return ModelFileError(msg, Location(self.path), hint=hint)

    def num(self, text: Any, where: str) -> Any:
        got = self.cache.get(text) if isinstance(text, str) else None
        if got is not None:
            return got
        try:
            value = decode_mpq(text)
        except ValueError as exc:
            raise self.fail(f"{where}: garbage coordinate: {exc}", hint="coordinates are gmpy2 binary mpq strings") from None
        self.cache[text] = value
        return value

    def point(self, v: Any, where: str) -> Point:
        if not isinstance(v, list) or len(v) != 2:
            raise self.fail(f"{where}: a vertex must be [X, Y]")
        return (self.num(v[0], where), self.num(v[1], where))

    def segment(self, vi: Any, where: str) -> Segment:
        if not isinstance(vi, list) or len(vi) != 2:
            raise self.fail(f"{where}: a segment must be [V, V]")
        return Segment(self.point(vi[0], where), self.point(vi[1], where))

    def int_list(self, v: Any, name: str) -> list[int]:
        if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise self.fail(f"GRID.{name} must be a list of integers")
        return v

    def grid(self, g: Any, start: Point, start_edge: int = -1, validate: bool = True) -> GridWorld:
        if not _looks_like_grid(g):
            raise self.fail("not a smol-strats grid: expected [HES, NEXTS, PREVS, OPPS, ROOT, TARGET, N]")
        hes, nexts, prevs, opps, _root, target, size = g
        starts: list[Point] = []
        ends: list[Point] = []
        acts: list[int] = []
        for i, he in enumerate(hes):
            if not isinstance(he, list) or len(he) != 3:
                raise self.fail(f"half-edge {i}: expected [START_V, END_V, ACTIONS]")
            starts.append(self.point(he[0], f"half-edge {i}"))
            ends.append(self.point(he[1], f"half-edge {i}"))
            a = he[2]
            if not isinstance(a, int) or isinstance(a, bool) or not -1 <= a <= 15:
                raise self.fail(f"half-edge {i}: action index {a!r} is not in -1..15", hint="cones are indices 0..15 or -1")
            acts.append(0 if a < 0 else _CONE_OF_INDEX[a])
        nexts = self.int_list(nexts, "NEXTS")
        prevs = self.int_list(prevs, "PREVS")
        opps = self.int_list(opps, "OPPS")
        if not isinstance(target, int):
            raise self.fail("GRID.TARGET must be a half-edge index")
        return build_from_half_edges(size, starts, ends, nexts, prevs, opps, acts, target, start, start_edge, self.path,
                                     validate)


def _load(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"not valid JSON: {exc.msg}", Location(path, exc.lineno, exc.colno)) from None


def grid_from_smol(doc: Any, path: str = "<grid>", validate: bool = True) -> GridWorld:
    """A GridWorld from a parsed smol-strats ``polygongrid.json`` (or ``subgoals_policy.json``)."""
    r = _Reader(path)
    if is_smol_policy(doc):
        start = r.point(doc[4], "START_POINT")
        se = doc[3]
        return r.grid(doc[0], start, se if isinstance(se, int) and se >= 0 else -1, validate)
    if _looks_like_grid(doc):
        return r.grid(doc, (decode_mpq("\x03\x00"), decode_mpq("\x03\x00")))
    if is_smol_grid(doc):
        return r.grid(doc[0], r.point(doc[1], "START_POINT"))
    raise r.fail("not a smol-strats polygongrid.json: expected [GRID, START_POINT]")


def policy_from_smol(
    doc: Any, path: str = "<policy>", name: str = "smol", validate: bool = True
) -> tuple[GridWorld, SubgoalProgram]:
    """The grid and the subgoal program held by a parsed smol-strats ``subgoals_policy.json``.

    With ``validate=False`` the embedded grid's geometry is not checked (use it only when
    the grid is then compared with a validated one, as the certifier does).
    """
    r = _Reader(path)
    if not is_smol_policy(doc):
        raise r.fail("not a smol-strats subgoals_policy.json: expected [GRID, EAS, SUBGOALS, START_EDGE, START_POINT]")
    grid = grid_from_smol(doc, path, validate)
    _g, eas, subgoals, start_edge, _sp = doc
    n = len(grid.he_start)

    def he_seg(i: Any, where: str) -> Segment:
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
            raise r.fail(f"{where}: {i!r} is not a half-edge index")
        return Segment(grid.he_start[i], grid.he_end[i])

    if not isinstance(subgoals, list) or not subgoals:
        raise r.fail("SUBGOALS must be a non-empty list of segments")
    sg = [r.segment(s, f"subgoal {k}").lex() for k, s in enumerate(subgoals)]
    per_subgoal: dict[tuple[Point, Point], list[Rule]] = {s.unordered(): [] for s in sg}
    if not isinstance(eas, list):
        raise r.fail("EAS must be a list")
    for k, entry in enumerate(eas):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list) and len(entry[1]) == 2):
            raise r.fail(f"EAS[{k}]: expected [HE, [HE, [[SUBGOAL, TARGETS], ...]]]")
        source = he_seg(entry[1][0], f"EAS[{k}]")
        if not isinstance(entry[1][1], list):
            raise r.fail(f"EAS[{k}]: the subgoal list must be a list")
        for m, item in enumerate(entry[1][1]):
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], list)):
                raise r.fail(f"EAS[{k}][{m}]: expected [SUBGOAL_VI, TARGETS]")
            key = r.segment(item[0], f"EAS[{k}][{m}]").unordered()
            if key not in per_subgoal:
                raise r.fail(f"EAS[{k}][{m}]: its subgoal is not in SUBGOALS")
            targets = []
            for t, tgt in enumerate(item[1]):
                where = f"EAS[{k}][{m}] target {t}"
                if not (isinstance(tgt, list) and len(tgt) == 3):
                    raise r.fail(f"{where}: expected [TARGET_VI, NAV, TARGET_HE]")
                goal = r.segment(tgt[0], where)
                if tgt[1] not in _NAV:
                    raise r.fail(f"{where}: navigation {tgt[1]!r} is not 0, 1 or 2")
                targets.append(Target(goal, he_seg(tgt[2], where), _NAV[tgt[1]]))
            per_subgoal[key].append(Rule(source, tuple(targets)))
    blocks = []
    for k, s in enumerate(sg):
        until = sg[k + 1] if k + 1 < len(sg) else None
        blocks.append(Block(tuple(per_subgoal[s.unordered()]), until))
    return grid, SubgoalProgram(name, grid.size, grid.start, he_seg(start_edge, "START_EDGE"), tuple(blocks))


def load_smol_json(text: str, path: str) -> Any:
    """Parse JSON text, turning syntax errors into ModelFileError with line and column."""
    return _load(text, path)
