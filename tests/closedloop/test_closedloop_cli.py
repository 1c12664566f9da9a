"""``saferl closedloop``: exit codes, one-line errors, reports and the plot."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run

pytest.importorskip("gymnasium")

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_refuted_policy_exits_1_with_a_replayed_trajectory():
    code, out, _ = _run("closedloop", str(ROOT / "policies/cartpole/worst.pol"), "--spec",
                        str(ROOT / "specs/closedloop/cartpole.yaml"), "--format", "json", "--timeout", "20")
    assert code == 1
    prop = json.loads(out)[0]["properties"][0] if isinstance(json.loads(out), list) else json.loads(out)["results"][0]["properties"][0]
    assert prop["verdict"] == "UNSAFE" and prop["counterexample"]["replayed"]


def test_proof_exits_0_and_draws_the_invariant(tmp_path):
    png = tmp_path / "inv.png"
    code, out, _ = _run("closedloop", str(ROOT / "policies/pendulum/swing_up.pol"), "--spec",
                        str(ROOT / "specs/closedloop/pendulum.yaml"), "--plot", str(png))
    assert code == 0, out
    assert "proved forever" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("properties:\n  - id: p\n    kind: safety\n    dynamics: CartPole-v7\n    initial: reset\n"
                    "    always: abs(theta) <= 0.2\n    horizon: 10\n")
    code, out, err = _run("closedloop", str(ROOT / "policies/cartpole/worst.pol"), "--spec", str(spec))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "s.yaml:4:15: unknown dynamics 'CartPole-v7'" in err and "CartPole-v1" in err


def test_policy_for_another_environment_is_exit_2():
    code, _, err = _run("closedloop", str(ROOT / "policies/mountaincar/bang_bang.pol"), "--spec",
                        str(ROOT / "specs/closedloop/cartpole.yaml"))
    assert code == 2 and "bang_bang.pol:" in err and "reads 2 observations" in err


def test_repair_points_of_a_refuted_policy(tmp_path):
    target = tmp_path / "points.json"
    code, _, _ = _run("closedloop", str(ROOT / "policies/cartpole/worst.pol"), "--spec",
                      str(ROOT / "specs/closedloop/cartpole.yaml"), "--repair-points", str(target), "--timeout", "20")
    assert code == 1
    points = json.loads(target.read_text())["pole-up-forever"]
    assert points and all(p["action"] == 0.0 and p["alternative"] == 1.0 for p in points)
    assert all(p["observations"]["pole_angle"] > 0 for p in points)


def test_counterexamples_name_the_policys_action_by_label():
    # the trajectory's actions carry the policy's action name; text reports use its labels
    for command in ("closedloop", "verify"):
        code, out, _ = _run(command, str(ROOT / "policies/cartpole/worst.pol"), "--spec",
                            str(ROOT / "specs/closedloop/cartpole.yaml"), "--timeout", "20")
        assert code == 1
        assert "action: push=left" in out or "action: push=right" in out
        assert "action=" not in out
    code, out, _ = _run("closedloop", str(ROOT / "policies/cartpole/worst.pol"), "--spec",
                        str(ROOT / "specs/closedloop/cartpole.yaml"), "--format", "json", "--timeout", "20")
    steps = json.loads(out)["results"][0]["properties"][0]["counterexample"]["steps"]
    assert {k for s in steps for k in s["actions"]} == {"push"}
    assert {v for s in steps for v in s["actions"].values()} <= {0, 1}
