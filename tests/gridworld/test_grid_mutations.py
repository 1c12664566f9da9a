"""Mutated programs are refuted with the right reason; the certifier never lets one through."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction as F
from pathlib import Path

import pytest

from saferl.gridworld.certify import certify_program
from saferl.gridworld.io import load_grid, load_grid_and_program
from saferl.gridworld.program import Segment, SubgoalProgram, Target
from saferl.gridworld.synth import synthesize


def _map_targets(prog: SubgoalProgram, f) -> SubgoalProgram:  # type: ignore[no-untyped-def]
    return replace(prog, blocks=tuple(
        replace(b, rules=tuple(replace(r, targets=tuple(f(t) for t in r.targets)) for r in b.rules))
        for b in prog.blocks))


def _replace_first_target(prog: SubgoalProgram, target: Target) -> SubgoalProgram:
    b0 = prog.blocks[0]
    r0 = replace(b0.rules[0], targets=(target,) + b0.rules[0].targets[1:])
    return replace(prog, blocks=(replace(b0, rules=(r0,) + b0.rules[1:]),) + prog.blocks[1:])


@pytest.fixture(params=["published", "synthesised"])
def spiral(request: pytest.FixtureRequest, smol: Path):  # type: ignore[no-untyped-def]
    d = smol / "spiral"
    grid, prog = load_grid_and_program(d / "polygongrid.json", d / "subgoals_policy.json")
    if request.param == "synthesised":
        prog = synthesize(load_grid(d / "polygongrid.json"), "spiral").program
    return grid, prog


def test_unmutated_spiral_certifies(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    assert certify_program(grid, prog).certified


def test_retargeted_rule_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    # from (0, 0) with moves R, D the edge above, towards the no-move region, is out of reach
    seg = Segment((F(10), F(10)), (F(13), F(10)))
    bad = _replace_first_target(prog, Target(seg, seg, "mid"))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert res.failure.step == 0
    assert "no point of the target is reachable from (0, 0) with moves RD" in res.failure.reason
    assert "reach [(10, 10) -- (13, 10)]" in res.failure.rule


def test_wrong_preference_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    flip = {"max": "min", "min": "max", "mid": "mid"}
    bad = _map_targets(prog, lambda t: replace(t, prefer=flip[t.prefer]))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert "loops forever" in res.failure.reason


def test_dropped_block_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    bad = replace(prog, blocks=prog.blocks[:3] + prog.blocks[4:])
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert res.failure.step == 3
    assert res.failure.reason == "no rule for the edge [(17, 10) -- (27, 0)] in block 4"


def test_move_through_outer_boundary_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    border = Segment((F(0), F(0)), (F(23), F(0)))
    bad = _replace_first_target(prog, Target(border, border, "mid"))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert "goes through the outer boundary" in res.failure.reason
    assert res.failure.point == (F(0), F(0))


def test_target_off_its_edge_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    t0 = prog.blocks[0].rules[0].targets[0]
    bad = _replace_first_target(prog, replace(t0, goal=Segment((F(20), F(0)), (F(21), F(0)))))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert "is not on the edge" in res.failure.reason


def test_wrong_start_edge_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    bad = replace(prog, start_edge=Segment((F(0), F(10)), (F(10), F(10))))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None and "start" in res.failure.reason


def test_longer_path_is_reported_not_shortest(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    res = certify_program(grid, prog, require_shortest=True)
    assert res.certified and res.shortest is True and res.shortest_length == 92


def test_program_starting_elsewhere_is_refuted(spiral) -> None:  # type: ignore[no-untyped-def]
    grid, prog = spiral
    bad = replace(prog, start=(F(5), F(0)), start_edge=Segment((F(0), F(0)), (F(23), F(0))))
    res = certify_program(grid, bad)
    assert not res.certified and res.failure is not None
    assert "the instance's start point is (0, 0)" in res.failure.reason
