"""saferl loop on real TORCS (saferl/Torcs-v0): PID programs projected, verified, raced; CI-sized."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from saferl.cli import run  # noqa: E402
from saferl.policy import format_policy, load_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torcs_support import live_torcs_children, needs_torcs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST = ROOT / "policies" / "torcs" / "propel_fast.pol"
TRACK = ROOT / "specs" / "torcs" / "track.yaml"


def _cli(*argv: str) -> tuple[int, str, str]:
    torch.set_num_threads(1)
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _loop(out_dir: Path, *extra: str) -> tuple[int, str, str]:
    return _cli("loop", "--env", "saferl/Torcs-v0", "--spec", str(TRACK), "--program", str(FAST), "--kind", "program",
                "--out", str(out_dir), "--iters", "1", "--ci", "--format", "json", *extra)


def _shape(program: object) -> str:
    # the program's text with every number blanked: its structure
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", format_policy(program))  # type: ignore[arg-type]


@pytest.mark.integration
@needs_torcs
def test_one_torcs_iteration_keeps_the_structure_and_ships_only_a_proved_fast_program(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, out, err = _loop(out_dir)
    assert code == 0, err
    records = [json.loads(x) for x in (out_dir / "iterations.jsonl").read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    # the projection fits the start program's constants: same structure, closer to the network
    program = load_policy(out_dir / "iter-0" / "program.pol")
    assert _shape(program) == _shape(load_policy(FAST))
    fit = record["extract"]["fit"]
    assert fit["error"] <= fit["start_error"] and fit["states"] == 500
    # every property has a verdict; a SAFE iteration was raced (500 steps: a cut race)
    assert set(record["properties"]) == {p.id for p in load_spec(TRACK).properties}
    assert record["verdict"] in ("SAFE", "UNSAFE", "UNKNOWN")
    assert record["race"]["dist_raced"] > 20 and record["program_return"] == -record["race"]["cost"]
    assert "iteration 1/1 extract" in err and "iteration 1/1 tune" in err
    # best.pol is the fastest program the verifier proved, and is SAFE on the exact text
    best = json.loads((out_dir / "best.json").read_text())
    assert best["verdict"] == "SAFE"
    assert verify_policy(load_policy(out_dir / "best.pol"), load_spec(TRACK)).verdict is Verdict.SAFE
    start = json.loads((out_dir / "start.json").read_text())
    candidates = [start["program_return"]] + [r["program_return"] for r in records if r["verdict"] == "SAFE"]
    assert best["program_return"] == max(candidates)
    assert json.loads(out)["best"] == best
    # resuming a finished run redoes nothing; no TORCS process outlives its run
    code, _, err = _loop(out_dir)
    assert code == 0, err
    assert len((out_dir / "iterations.jsonl").read_text().splitlines()) == 1
    assert not live_torcs_children()


@pytest.mark.integration
@needs_torcs
def test_from_the_td3_oracle_the_projection_keeps_the_template_and_is_proved(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, _, err = _cli("loop", "--env", "saferl/Torcs-v0", "--spec", str(TRACK), "--oracle",
                        str(ROOT / "oracles" / "torcs-td3"), "--template", str(FAST), "--kind", "program",
                        "--out", str(out_dir), "--iters", "1", "--ci", "--tune", "0",
                        "--score-tracks", "aalborg,g-track-2", "--score-seeds", "2")
    assert code == 0, err
    record = json.loads((out_dir / "iterations.jsonl").read_text())
    # the projection's elites are proved, starting from the SAFE template: no repair needed
    assert record["extracted_verdict"] == "SAFE" and record["repair"] is None
    assert _shape(load_policy(out_dir / "iter-0" / "extracted.pol")) == _shape(load_policy(FAST))
    # scored on both tracks, two perturbed starts each (500-step races: no lap finished,
    # each costs by its distance)
    assert set(record["race"]["laps"]) == {"aalborg", "g-track-2"}
    assert 1000.0 < record["race"]["cost"] < 2000.0
    assert verify_policy(load_policy(out_dir / "best.pol"), load_spec(TRACK)).verdict is Verdict.SAFE
    assert not live_torcs_children()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--kind", "tree", "--template", str(FAST)),
         "saferl loop: error: the loop on saferl/Torcs-v0 projects to PID programs (--kind program, PROPEL-Prog) or "
         "trees of them (--kind tree, PROPEL-Tree)"),
        (("--track", "nowhere"), "saferl loop: error: unknown track 'nowhere'"),
        (("--template", str(FAST)), "saferl loop: error: the loop on saferl/Torcs-v0 projects to PID programs"),
        (("--score-tracks", "aalborg,nowhere"), "saferl loop: error: unknown track 'nowhere'"),
        (("--score-tracks", " , "), "saferl loop: error: --score-tracks names no track"),
        (("--score-seeds", "-1"), "saferl loop: error: --score-seeds must be between 0 and 100, got -1"),
        (("--tree-depth", "4"), "saferl loop: error: --tree-depth must be 1, 2 or 3, got 4"),
        (("--tree-depth", "2"), "saferl loop: error: --tree-depth is for --env saferl/Torcs-v0 --kind tree"),
    ],
)
def test_bad_torcs_input_is_one_line_and_exit_2(tmp_path: Path, extra: tuple[str, ...], message: str) -> None:
    argv = ["loop", "--env", "saferl/Torcs-v0", "--spec", str(TRACK), "--program", str(FAST), "--kind", "program",
            "--out", str(tmp_path / "run"), *extra]
    code, out, err = _cli(*argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message)
    assert not live_torcs_children()


def test_a_one_action_program_does_not_fit_torcs() -> None:
    from saferl.errors import InputError
    from saferl.learn.distill import check_program_fits
    from saferl.learn.envs import env_signature
    from saferl.policy import parse_policy

    text = FAST.read_text()
    steer_only = "\n".join(line for line in text.splitlines()
                           if not line.startswith(("act accel", "act brake", "accel =", "brake =")))
    with pytest.raises(InputError, match="declares 1 actions; saferl/Torcs-v0 takes 3 continuous values"):
        check_program_fits(parse_policy(steer_only, "steer.pol"), env_signature("saferl/Torcs-v0"))
