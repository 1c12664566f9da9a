"""Instances: our JSON format, the generator, and malformed inputs rejected with exit 2."""

from __future__ import annotations

import copy
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from saferl.cli import run
from saferl.errors import ModelFileError, UnsupportedError
from saferl.gridworld.generator import generate_grid
from saferl.gridworld.io import grid_from_text, grid_to_json, same_grid
from saferl.gridworld.mpq import encode_mpq


def _doc(regions, target=1, size=2, start=(0, 0)):  # type: ignore[no-untyped-def]
    return json.dumps({"format": "saferl-gridworld", "version": 1, "size": size, "start": list(start),
                       "target": target, "regions": regions})


GOOD = [
    {"moves": "RU", "vertices": [[0, 0], [2, 0], [0, 2]]},
    {"moves": "", "vertices": [[2, 0], [2, 2], [0, 2]]},
]


def test_good_instance_parses() -> None:
    g = grid_from_text(_doc(GOOD))
    assert g.n_regions == 2 and g.target == 1 and g.moves_of(0) == "RU"


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 14), st.integers(1, 7), st.integers(0, 10**6))
def test_generated_instances_are_valid_and_round_trip(size: int, chords: int, seed: int) -> None:
    try:
        g = generate_grid(size=size, n_chords=chords, seed=seed, require_reachable=False)
    except UnsupportedError:  # every chord ran along the border: a single region
        assume(False)
    again = grid_from_text(grid_to_json(g))
    assert same_grid(g, again)
    assert generate_grid(size=size, n_chords=chords, seed=seed, require_reachable=False).he_start == g.he_start


MALFORMED = {
    "non-convex region": (_doc([
        {"moves": "R", "vertices": [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]},
        {"moves": "", "vertices": [[1, 1], [2, 1], [2, 2], [1, 2]]}]), "not convex"),
    "clockwise region": (_doc([
        {"moves": "RU", "vertices": [[0, 0], [0, 2], [2, 0]]},
        {"moves": "", "vertices": [[2, 0], [2, 2], [0, 2]]}]), "not convex"),
    "gap in the tiling": (_doc([{"moves": "RU", "vertices": [[0, 0], [2, 0], [0, 2]]},
                                {"moves": "", "vertices": [[2, 0], [2, 2], [1, 2]]}], target=1), "gap or overlap"),
    "overlap in the tiling": (_doc(GOOD + [GOOD[1]]), "overlap"),
    "garbage coordinate": (_doc([{"moves": "RU", "vertices": [[0, 0], [2, 0], ["zero", 2]]}, GOOD[1]]), "garbage coordinate"),
    "float coordinate": (_doc([{"moves": "RU", "vertices": [[0, 0], [2.0, 0], [0, 2]]}, GOOD[1]]), "garbage coordinate"),
    "bad moves": (_doc([{"moves": "RX", "vertices": [[0, 0], [2, 0], [0, 2]]}, GOOD[1]]), "unknown move"),
    "missing target": (_doc(GOOD, target=5), "target region 5"),
    "outside the square": (_doc([{"moves": "RU", "vertices": [[0, 0], [3, 0], [0, 2]]}, GOOD[1]]), "outside"),
    "star (winds twice)": (_doc([{"moves": "R", "vertices": [[90, 50], [18, 74], [62, 12], [62, 88], [18, 26]]}],
                                 target=0, size=100), "winds around more than once"),
    "not json": ("{ nope", "not valid JSON"),
    "wrong format": (json.dumps({"format": "other"}), "unknown format"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_instances_are_rejected(case: str, tmp_path: Path) -> None:
    text, fragment = MALFORMED[case]
    with pytest.raises(ModelFileError) as info:
        grid_from_text(text, "bad.json")
    assert fragment in str(info.value)
    # and through the CLI: exit 2, one line, no traceback
    path = tmp_path / "bad.json"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert run(["grid", "convert", str(path)], out, err) == 2
    assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()
    assert fragment in err.getvalue()


def _smol_mutations(doc):  # type: ignore[no-untyped-def]
    grid = doc[0]
    hes, nexts, prevs, opps = grid[0], grid[1], grid[2], grid[3]
    interior = next(i for i, o in enumerate(opps) if o >= 0)
    out = {}
    m = copy.deepcopy(doc)
    m[0][1][0] = m[0][1][1]
    out["broken next link"] = (m, "half-edge")
    m = copy.deepcopy(doc)
    m[0][3][interior] = -1
    out["gap (missing twin)"] = (m, "gap or overlap")
    m = copy.deepcopy(doc)
    m[0][3][interior] = len(hes) + 5
    out["twin out of range"] = (m, "broken half-edge links")
    m = copy.deepcopy(doc)
    m[0][0][0][0][0] = "\x03\x07garbage"
    out["garbage coordinate"] = (m, "garbage coordinate")
    m = copy.deepcopy(doc)
    m[0][0][0][2] = 99
    out["bad action index"] = (m, "action index 99")
    m = copy.deepcopy(doc)
    m[0][0][0][2] = (m[0][0][0][2] + 1) % 16
    out["mixed cones in a region"] = (m, "different action sets")
    # non-convex: push the vertex (13, 11) up to (13, 12), consistently on every half-edge;
    # it lies on a straight side of the region above, which gets a reflex corner
    m = copy.deepcopy(doc)
    old = [encode_mpq(Fraction(13)), encode_mpq(Fraction(11))]
    new = [encode_mpq(Fraction(13)), encode_mpq(Fraction(12))]
    moved = 0
    for he in m[0][0]:
        for j in (0, 1):
            if he[j] == old:
                he[j] = list(new)
                moved += 1
    assert moved
    out["non-convex region"] = (m, "not convex")
    del prevs, nexts
    return out


def test_malformed_smol_instances_are_rejected(smol: Path, tmp_path: Path) -> None:
    doc = json.loads((smol / "spiral" / "polygongrid.json").read_text())
    for case, (mutated, fragment) in _smol_mutations(doc).items():
        path = tmp_path / "grid.json"
        path.write_text(json.dumps(mutated))
        out, err = io.StringIO(), io.StringIO()
        code = run(["certify", str(path), str(smol / "spiral" / "subgoals_policy.json")], out, err)
        assert code == 2, (case, out.getvalue(), err.getvalue())
        assert fragment in err.getvalue(), (case, err.getvalue())
        assert "Traceback" not in err.getvalue()
