"""``saferl torcs search``: program parameters tuned by real TORCS laps, every candidate verified."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from saferl.cli import run as cli_run
from saferl.learn.program_search import tunable_parameters
from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import needs_torcs  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_default_parameters_leave_ranges_and_caps_alone() -> None:
    program = load_policy(ROOT / "policies/torcs/propel_prog.pol")
    ids = tunable_parameters(program)
    values = {p.id: p.value for p in program.parameters()}
    # the clip bounds (-1, 1, 0) and the 0/1 brake leaves are not tuned; gains and targets are
    assert ids and all(values[i] not in (0.0, 1.0, -1.0) for i in ids)
    assert {0.5, 6.28, 1.37, 8.6, 0.45, 3.54, 53.39} <= {values[i] for i in ids}


@needs_torcs
def test_a_short_search_writes_a_verified_program(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    best, log = tmp_path / "best.pol", tmp_path / "log.jsonl"
    code = cli_run(["torcs", "search", str(ROOT / "policies/torcs/propel_prog.pol"),
                    "--spec", str(ROOT / "specs/torcs/smooth.yaml"), "--output", str(best),
                    "--tracks", "aalborg", "--params", "0,1", "--iterations", "1", "--population", "2",
                    "--max-steps", "200", "--seeds", "2", "--log", str(log), "--format", "json"], out, err)
    assert code == 0, err.getvalue()
    record = json.loads(out.getvalue())
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == record["candidates"] == 3 and all(c["verified"] for c in lines)
    # two perturbed starts per track: two races of 200 steps each, no lap completed
    assert all(c["detail"]["aalborg"] == [[], []] for c in lines)
    assert record["cost"] == min(c["cost"] for c in lines)
    program = load_policy(best)
    assert verify_policy(program, load_spec(ROOT / "specs/torcs/smooth.yaml")).verdict is Verdict.SAFE


@needs_torcs
def test_an_unverified_start_is_refused_before_any_race(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(["torcs", "search", str(ROOT / "policies/torcs/propel_prog.pol"),
                    "--spec", str(ROOT / "specs/torcs/track.yaml"), "--output", str(tmp_path / "b.pol"),
                    "--tracks", "aalborg", "--iterations", "1", "--population", "1"], out, err)
    assert code == 2
    assert err.getvalue().splitlines()[-1] == (
        "saferl torcs: error: the start program does not verify: "
        "torcs-track: UNSAFE (no-full-throttle-misaligned, steer-smooth)"
    )
    assert not (tmp_path / "b.pol").exists()
