"""The smol-strats corpus: every published policy certified, our synthesis certified everywhere."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run
from saferl.gridworld.io import load_grid, load_grid_and_program
from saferl.gridworld.synth import synthesize

from .conftest import SMOL_NAMES

NAMES = SMOL_NAMES or ["(corpus missing)"]


def test_corpus_has_all_19_instances(smol: Path) -> None:
    assert len(SMOL_NAMES) == 19


@pytest.mark.parametrize("name", NAMES)
def test_published_policy_is_certified(smol: Path, name: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    d = smol / name
    code = run(["certify", str(d / "polygongrid.json"), str(d / "subgoals_policy.json"), "--format", "json"], out, err)
    assert code == 0, err.getvalue() + out.getvalue()
    rec = json.loads(out.getvalue())
    assert rec["certified"] and rec["reached"] and rec["failure"] is None
    # the tree never finds a path longer than one the policy demonstrably takes
    assert rec["shortest_length"] is not None and rec["shortest_length"] <= rec["moves"]


@pytest.mark.parametrize("name", NAMES)
def test_our_synthesis_is_certified_and_shortest(smol: Path, name: str) -> None:
    grid = load_grid(smol / name / "polygongrid.json")
    result = synthesize(grid, name)
    assert result.certificate.certified
    assert result.certificate.moves == result.path_length
    assert result.certificate.shortest is True
    assert result.program.n_instructions() <= result.size_bound


def test_known_path_lengths(smol: Path) -> None:
    """Golden figures: path lengths of the published policies and of the shortest paths."""
    expected = {"spiral": (92, 92), "spiral2": (25, 25), "one_triangle_two_pass": (4, 4), "diagonal": (1, 1)}
    for name, (moves, shortest) in expected.items():
        d = smol / name
        out, err = io.StringIO(), io.StringIO()
        assert run(["certify", str(d / "polygongrid.json"), str(d / "subgoals_policy.json"), "-f", "json"], out, err) == 0
        rec = json.loads(out.getvalue())
        assert (rec["moves"], rec["shortest_length"]) == (moves, shortest)


def test_policy_with_the_wrong_grid_is_bad_input(smol: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["certify", str(smol / "spiral" / "polygongrid.json"), str(smol / "spiral2" / "subgoals_policy.json")], out, err)
    assert code == 2
    assert "different grid" in err.getvalue()


def test_smol_policy_converts_to_pol_and_still_certifies(smol: Path, tmp_path: Path) -> None:
    d = smol / "spiral"
    grid, prog = load_grid_and_program(d / "polygongrid.json", d / "subgoals_policy.json")
    pol = tmp_path / "spiral.pol"
    pol.write_text(prog.text())
    out, err = io.StringIO(), io.StringIO()
    assert run(["certify", str(d / "polygongrid.json"), str(pol)], out, err) == 0, err.getvalue()
    assert "CERTIFIED" in out.getvalue()
