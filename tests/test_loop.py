"""saferl loop: finetune -> extract -> verify -> repair -> distill, CI-sized, on CartPole."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")
pytest.importorskip("sklearn")

from saferl.cli import run  # noqa: E402
from saferl.policy import load_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORST = ROOT / "policies" / "cartpole" / "worst.pol"
SWING_UP = ROOT / "policies" / "pendulum" / "swing_up.pol"
POLE_FOLLOW = ROOT / "specs" / "cartpole" / "pole_follow.yaml"


def _cli(*argv: str) -> tuple[int, str, str]:
    torch.set_num_threads(1)
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _loop(out_dir: Path, iters: int) -> tuple[int, str, str]:
    return _cli("loop", "--env", "CartPole-v1", "--spec", str(POLE_FOLLOW), "--program", str(WORST),
                "--out", str(out_dir), "--iters", str(iters), "--ci", "--timesteps", "1024", "--episodes", "5",
                "--format", "json")


def test_loop_from_the_unsafe_worst_program_writes_only_verified_best(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, out, err = _loop(out_dir, 1)
    assert code == 0, err
    lines = (out_dir / "iterations.jsonl").read_text().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {"iteration", "verdict", "program_return", "seconds", "extract", "finetune", "distill"} <= set(record)
    # worst.pol breaks pole_follow; whatever the iteration extracted, best.pol is proved SAFE
    assert verify_policy(load_policy(WORST), load_spec(POLE_FOLLOW)).verdict is Verdict.UNSAFE
    best = load_policy(out_dir / "best.pol")
    assert verify_policy(best, load_spec(POLE_FOLLOW)).verdict is Verdict.SAFE
    assert json.loads((out_dir / "best.json").read_text())["verdict"] == "SAFE"
    assert "iteration 1/1 extract" in err

    # resuming: the finished iteration is kept, one more is run
    code, out, err = _loop(out_dir, 2)
    assert code == 0, err
    records = [json.loads(x) for x in (out_dir / "iterations.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [0, 1]
    assert records[0] == record
    assert "iteration 1/2" not in err and "iteration 2/2 finetune" in err
    for r in records:
        if r["verdict"] != "SAFE":
            assert not r["best"]


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "loop.json").write_text(json.dumps({"env": "Pendulum-v1"}))
    code, out, err = _loop(out_dir, 1)
    assert code == 2 and err.count("\n") == 1 and "other settings" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--program", str(SWING_UP)], "declares 3 observations; CartPole-v1 has 4"),
        (["--program", str(WORST), "--kind", "program"], "PID programs need a continuous action"),
        (["--program", str(WORST), "--iters", "0"], "--iters must be between 1 and 1000"),
        ([], "one of the arguments --oracle --program is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    code, out, err = _cli("loop", "--env", "CartPole-v1", "--spec", str(POLE_FOLLOW), "--out", str(tmp_path / "o"), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_non_writable_out_dir_is_exit_2(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _cli("loop", "--env", "CartPole-v1", "--spec", str(POLE_FOLLOW), "--program", str(WORST),
                            "--out", str(locked / "run"))
    finally:
        locked.chmod(0o700)
    assert code == 2 and "not writable" in err and err.count("\n") == 1


def test_missing_parent_folder_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _cli("loop", "--env", "CartPole-v1", "--spec", str(POLE_FOLLOW), "--program", str(WORST),
                        "--out", str(tmp_path / "no" / "run"))
    assert code == 2 and "does not exist" in err


def test_loop_from_the_shipped_ppo_oracle(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, out, err = _cli("loop", "--env", "CartPole-v1", "--spec", str(POLE_FOLLOW),
                          "--oracle", str(ROOT / "oracles" / "cartpole-ppo"), "--out", str(out_dir), "--iters", "1",
                          "--ci", "--timesteps", "1024", "--episodes", "5")
    assert code == 0, err
    assert "best verified program" in out
    record = json.loads((out_dir / "iterations.jsonl").read_text())
    assert record["verdict"] == "SAFE" and record["extract"]["size"] <= 8
    assert record["program_return"] >= 400  # CI budget; bench/loop.py measures the full one
    assert verify_policy(load_policy(out_dir / "best.pol"), load_spec(POLE_FOLLOW)).verdict is Verdict.SAFE


def test_a_safe_starting_program_is_tuned_and_competes(tmp_path: Path) -> None:
    # bang_bang.pol is SAFE against momentum.yaml and wastes energy at full force: the
    # tuned start beats it on fresh episodes, is proved, and is what best.pol holds
    # unless an iteration does better
    bang_bang = ROOT / "policies" / "mountaincar" / "bang_bang.pol"
    spec = ROOT / "specs" / "mountaincar" / "momentum.yaml"
    out_dir = tmp_path / "run"
    code, out, err = _cli("loop", "--env", "MountainCarContinuous-v0", "--spec", str(spec), "--program", str(bang_bang),
                          "--out", str(out_dir), "--iters", "1", "--ci", "--timesteps", "512", "--episodes", "5",
                          "--format", "json")
    assert code == 0, err
    start = json.loads((out_dir / "start.json").read_text())
    assert start["verdict"] == "SAFE" and start["tuned"]
    assert start["validation"] > start["validation_start"]
    tuned = load_policy(out_dir / "start.pol")
    assert verify_policy(tuned, load_spec(spec)).verdict is Verdict.SAFE
    best = json.loads((out_dir / "best.json").read_text())
    assert best["program_return"] >= start["program_return"]
    assert verify_policy(load_policy(out_dir / "best.pol"), load_spec(spec)).verdict is Verdict.SAFE
    record = json.loads((out_dir / "iterations.jsonl").read_text().splitlines()[0])
    assert set(record["properties"]) == {"force-range", "never-brake-uphill", "escape-left-wall"}
    assert "iteration 1/1 start: SAFE, return" in err and "(tuned)" in err
