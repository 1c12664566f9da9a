"""saferl repair against a closed-loop property: counterexample trajectories become repair
points, and the repaired tree is proved by the closed-loop engine."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from saferl.cli import run
from saferl.closedloop import check_property
from saferl.policy import ProgramPolicy, load_policy
from saferl.repair.closedloop import pin_properties
from saferl.results import Verdict
from saferl.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs/closedloop/cartpole.yaml"
POLE_ONLY = ROOT / "policies/cartpole/pole_only.pol"


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    """pole_only.pol with one threshold moved: it pushes left while the pole falls right."""
    text = POLE_ONLY.read_text().replace("pole_angular_velocity <= -0.3", "pole_angular_velocity <= 0.6")
    path = tmp_path / "broken.pol"
    path.write_text(text)
    return path


def test_pins_are_exact_invariant_properties() -> None:
    program = load_policy(POLE_ONLY)
    from saferl.closedloop.repairpoints import RepairPoint

    pin = RepairPoint(3, {"cart_position": 0.1, "cart_velocity": -0.25, "pole_angle": 0.0714875534176826,
                          "pole_angular_velocity": 1e-30}, 0.0, 1.0, 9)
    spec = parse_spec("properties:\n" + pin_properties(program, [pin]))
    (prop,) = spec.properties
    assert prop.kind == "invariant" and prop.id == "closed-loop-pin-1"
    text = pin_properties(program, [pin])
    assert "pole_angle == 0.0714875534176826 and pole_angular_velocity == 1e-30" in text
    assert "require: push == right" in text


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["repair", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_repairs_against_a_safety_property(broken: Path, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pol"
    code, out, err = _cli(str(broken), "--spec", str(SPEC), "-o", str(fixed), "--format", "json", "--timeout", "120")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["status"] == "repaired" and rec["closed_loop"][0]["verdict"] == "SAFE"
    assert rec["history"][0]["verdicts"] == {"pole-up-forever": "UNSAFE"} and rec["pins"]
    (change,) = rec["changes"]
    assert change["old"] == 0.6 and change["new"] < 0.6
    assert rec["output"] == str(fixed)
    # the gate, again, from the file written: proved with an invariant
    program = load_policy(fixed)
    again = check_property(program, load_spec(SPEC).closed_loop[0])
    assert again.result.verdict is Verdict.SAFE and again.invariant is not None
    # each pin holds in the repaired tree: at its observations, its action
    policy = ProgramPolicy(program)
    for pin in rec["pins"]:
        assert policy.act(list(pin["observations"].values())) == pin["alternative"]


def test_cli_already_safe_and_undecided(tmp_path: Path) -> None:
    code, out, err = _cli(str(POLE_ONLY), "--spec", str(SPEC))
    assert code == 0, err
    assert out.startswith("already safe:")
    # near_optimal is neither proved nor refuted in 3 s: nothing to learn from, nothing proved
    code, out, err = _cli(str(ROOT / "policies/cartpole/near_optimal.pol"), "--spec", str(SPEC), "--timeout", "3",
                          "-o", str(tmp_path / "x.pol"))
    assert code == 1, err
    assert out.startswith("not repaired:") and "could not decide 'pole-up-forever'" in out
    assert not (tmp_path / "x.pol").exists()
