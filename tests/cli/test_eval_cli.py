"""``saferl eval`` in real gymnasium environments."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out, err), out.getvalue(), err.getvalue()


def test_near_optimal_cartpole_reaches_500() -> None:
    code, out, err = cli("eval", str(ROOT / "policies/cartpole/near_optimal.pol"), "--env", "CartPole-v1", "-n", "5", "-f", "json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["mean_return"] == 500.0 and rec["std_return"] == 0.0 and rec["episodes"] == 5


def test_worst_cartpole_text_report() -> None:
    code, out, _ = cli("eval", str(ROOT / "policies/cartpole/worst.pol"), "--env", "CartPole-v1", "-n", "3", "--seed", "7")
    assert code == 0
    assert out.startswith(str(ROOT / "policies/cartpole/worst.pol") + " on CartPole-v1: return ")
    mean = float(out.split("return ")[1].split(" ")[0])
    assert mean < 20


@pytest.mark.parametrize(
    ("policy", "env"),
    [
        ("policies/pendulum/swing_up.pol", "Pendulum-v1"),
        ("policies/mountaincar/bang_bang.pol", "MountainCarContinuous-v0"),
    ],
)
def test_continuous_examples_run(policy: str, env: str) -> None:
    code, out, err = cli("eval", str(ROOT / policy), "--env", env, "-n", "2", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["episodes"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["policies/cartpole/worst.pol", "--env", "NoSuchEnv-v9"], "cannot make environment 'NoSuchEnv-v9'"),
        (["policies/pendulum/swing_up.pol", "--env", "CartPole-v1"], "the environment gives 4 observations; the policy declares 3"),
        (["policies/cartpole/worst.pol", "--env", "Pendulum-v1"], "the environment gives 3 observations; the policy declares 4"),
        (["policies/cartpole/worst.pol", "--env", "CartPole-v1", "-n", "0"], "--episodes must be between"),
        (["policies/cartpole/worst.pol", "--env", "CartPole-v1", "-f", "xml"], "unknown format"),
        (["nope.pol", "--env", "CartPole-v1"], "policy file not found"),
    ],
)
def test_bad_eval_input_exit_2(argv: list[str], message: str) -> None:
    args = [str(ROOT / a) if a.endswith(".pol") else a for a in argv]
    code, out, err = cli("eval", *args)
    assert code == 2
    assert out == ""
    assert message in err and err.count("\n") == 1, err
