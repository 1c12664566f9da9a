"""``saferl tune``: a SAFE program in, a proved better one out; bad input is exit 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run
from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
BANG_BANG = str(ROOT / "policies" / "mountaincar" / "bang_bang.pol")
MOMENTUM = str(ROOT / "specs" / "mountaincar" / "momentum.yaml")
SMALL = ["--generations", "2", "--population", "6", "--episodes", "3", "--validation-episodes", "6"]


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out, err), out.getvalue(), err.getvalue()


def test_tune_writes_a_proved_program_with_a_higher_validation_return(tmp_path: Path) -> None:
    target = tmp_path / "tuned.pol"
    code, out, err = _cli("tune", BANG_BANG, "--env", "MountainCarContinuous-v0", "--spec", MOMENTUM,
                          "-o", str(target), *SMALL, "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["changed"] and record["validation_return"] > record["validation_return_start"]
    assert verify_policy(load_policy(target), load_spec(MOMENTUM)).verdict is Verdict.SAFE


def test_an_unsafe_start_is_exit_1_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "tuned.pol"
    code, _, err = _cli("tune", str(ROOT / "policies" / "cartpole" / "worst.pol"), "--env", "CartPole-v1",
                        "--spec", str(ROOT / "specs" / "cartpole" / "pole_follow.yaml"), "-o", str(target), *SMALL)
    assert code == 1
    assert "UNSAFE" in err and "saferl repair" in err
    assert not target.exists()


@pytest.mark.parametrize("argv, message", [
    (["--env", "NoSuchEnv-v9"], "NoSuchEnv-v9"),
    (["--env", "CartPole-v1"], "observations"),
    (["--env", "MountainCarContinuous-v0", "--generations", "0"], "--generations"),
    (["--env", "MountainCarContinuous-v0", "--format", "xml"], "format"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    code, _, err = _cli("tune", BANG_BANG, "--spec", MOMENTUM, "-o", str(tmp_path / "t.pol"), *SMALL, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_an_output_in_a_missing_folder_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _cli("tune", BANG_BANG, "--env", "MountainCarContinuous-v0", "--spec", MOMENTUM,
                        "-o", str(tmp_path / "no" / "such" / "t.pol"), *SMALL)
    assert code == 2 and len(err.strip().splitlines()) == 1
