"""``saferl shield run``: JSON summary, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs/cartpole/pole_follow.yaml")
NEAR = str(ROOT / "policies/cartpole/near_optimal.pol")
WORST = str(ROOT / "policies/cartpole/worst.pol")


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["shield", "run", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_json_summary_for_an_unsafe_policy() -> None:
    code, out, err = _cli("--policy", WORST, "--fallback", NEAR, "--spec", SPEC, "--env", "CartPole-v1",
                          "--episodes", "3", "--format", "json", "--compare", "--seed", "4")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["verified"] is True
    assert summary["monitored"] == ["follow-right", "follow-left", "push-is-a-label"]
    shielded, unshielded = summary["shielded"], summary["unshielded"]
    assert shielded["violations"] == 0 and shielded["unsafe_steps"] == 0
    assert shielded["interventions"] > 0 and shielded["by_source"] == {"fallback": shielded["interventions"]}
    assert unshielded["violations"] > 0
    assert len(shielded["returns"]) == 3
    assert "saferl shield" in err  # the live table went to stderr


def test_random_policy_text_summary_quiet() -> None:
    code, out, err = _cli("--policy", "random", "--fallback", NEAR, "--spec", SPEC, "--env", "CartPole-v1",
                          "--episodes", "2", "--quiet")
    assert code == 0, err
    assert "shielded" in out and "violations 0" in out
    assert err == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "nope"], "saferl shield: error: nope: policy file not found (hint: pass a .pol file, a saferl model directory, "
         "an SB3 .zip, an .onnx MLP or a .skops tree)\n"),
        (["--policy", "random", "--env", "Nope-v9"], "saferl shield: error: cannot make environment 'Nope-v9'"),
        (["--policy", "random", "--fallback", WORST], "saferl shield: error: the fallback 'cartpole_worst' is not proved against property 'follow-right'"),
        (["--policy", "random", "--format", "xml"], "saferl shield: error: unknown format 'xml'; formats: text, json\n"),
        (["--policy", "random", "--env", "Pendulum-v1"], "saferl shield: error: the environment's observation space is"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    base = {"--fallback": NEAR, "--spec": SPEC, "--env": "CartPole-v1"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = [x for kv in base.items() for x in kv] + ["--episodes", "1", "--quiet"]
    code, out, err = _cli(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_unverified_fallback_runs_when_allowed() -> None:
    code, out, err = _cli("--policy", "random", "--fallback", WORST, "--spec", SPEC, "--env", "CartPole-v1",
                          "--episodes", "2", "--allow-unverified", "--quiet", "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["verified"] is False and summary["shielded"]["violations"] == 0


def test_unverified_fallback_hint_names_cli_flags() -> None:
    code, out, err = _cli("--policy", "random", "--fallback", WORST, "--spec", SPEC, "--env", "CartPole-v1", "--quiet")
    assert code == 2 and out == ""
    assert "or pass --allow-unverified)" in err and "allow_unverified=True" not in err
