"""``saferl repair`` as a user runs it: exit codes, the diff, JSON, bad input exits 2."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run
from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
WORST = str(ROOT / "policies/cartpole/worst.pol")
NEAR = str(ROOT / "policies/cartpole/near_optimal.pol")
FOLLOW = str(ROOT / "specs/cartpole/pole_follow.yaml")
PID = str(ROOT / "policies/repair/pid_accel.pol")
SMOOTH = str(ROOT / "specs/repair/pid_smooth.yaml")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["repair", *argv], out, err)
    return code, out.getvalue(), err.getvalue()


def test_repair_writes_a_policy_that_verifies(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.pol"
    code, out, err = cli(WORST, "--spec", FOLLOW, "-o", str(fixed))
    assert code == 0, err
    assert out.startswith(f"repaired: {WORST} -> {fixed}: SAFE (proved)")
    assert "@@ line 13 -> line 13 (threshold 0.5 -> " in out
    assert "-  if cart_velocity <= 0.5 {" in out
    assert "counterexamples that forced the repair:" in out
    assert verify_policy(load_policy(fixed), load_spec(FOLLOW)).verdict is Verdict.SAFE
    # the user's file is patched in place: comments kept, one line changed
    old, new = Path(WORST).read_text().splitlines(), fixed.read_text().splitlines()
    assert len(old) == len(new) and old[0].startswith("#") and new[0] == old[0]
    assert [i + 1 for i, (a, b) in enumerate(zip(old, new)) if a != b] == [13]


def test_repair_json_record(tmp_path: Path) -> None:
    code, out, err = cli(PID, "--spec", SMOOTH, "--format", "json", "-o", str(tmp_path / "pid.pol"))
    assert code == 0, err
    rec = json.loads(out)
    assert rec["status"] == "repaired" and rec["verdict"] == "SAFE"
    assert rec["changes"] and all(c["kind"] == "gain" for c in rec["changes"])
    assert rec["verify"]["verdict"] == "SAFE"
    assert rec["output"] == str(tmp_path / "pid.pol")


def test_already_safe_exits_0() -> None:
    code, out, _ = cli(NEAR, "--spec", FOLLOW)
    assert code == 0
    assert "already SAFE" in out


def test_unrepairable_exits_1_and_says_why(tmp_path: Path) -> None:
    pol = tmp_path / "p.pol"
    pol.write_text("policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0 { a = l } else { a = r }\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "observations: {x: [-1, 1]}\nproperties:\n"
        "  - {id: want-right, kind: invariant, when: x > 0, require: a == r}\n"
        "  - {id: want-left, kind: invariant, when: x > 0.5, require: a == l}\n"
    )
    out_pol = tmp_path / "fixed.pol"
    code, out, err = cli(str(pol), "--spec", str(spec), "-o", str(out_pol))
    assert code == 1, err
    assert out.startswith(f"not repaired: {pol}: the spec itself conflicts")
    assert "want-right" in out and "want-left" in out
    assert not out_pol.exists()


def test_env_reports_returns_before_and_after(tmp_path: Path) -> None:
    code, out, err = cli(WORST, "--spec", FOLLOW, "--env", "CartPole-v1", "--episodes", "20",
                         "-o", str(tmp_path / "f.pol"))
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("return on CartPole-v1"))
    before = float(line.split("before ")[1].split(",")[0])
    after = float(line.split("after ")[1])
    assert before < 10 and after >= 100  # issue 3's target (bench/repair.py measures 100 episodes)
    assert "(split-leaf)" in out and "pole_angular_velocity" in out


def test_select_change_keeps_the_minimal_parametric_repair() -> None:
    code, out, err = cli(WORST, "--spec", FOLLOW, "--env", "CartPole-v1", "--episodes", "5", "--select", "change")
    assert code == 0, err
    assert "repaired by parameters" in out.splitlines()[0]


def test_continuous_env_repair_reports_returns(tmp_path: Path) -> None:
    pol = tmp_path / "mc.pol"
    pol.write_text(
        (ROOT / "policies/mountaincar/bang_bang.pol").read_text().replace("force = 1", "force = -0.5", 1)
    )
    spec = str(ROOT / "specs/mountaincar/momentum.yaml")
    code, out, err = cli(str(pol), "--spec", spec, "--env", "MountainCarContinuous-v0", "--episodes", "3",
                         "--select", "change")
    assert code == 0, err
    assert "return on MountainCarContinuous-v0 (3 episodes, seeds 0..2)" in out
    assert verify_policy(load_policy(pol), load_spec(spec)).verdict is Verdict.UNSAFE  # input untouched


def test_states_file_csv_and_npy(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).uniform(-0.2, 0.2, size=(50, 4)).astype(np.float32)
    npy = tmp_path / "s.npy"
    np.save(npy, rows)
    csv = tmp_path / "s.csv"
    csv.write_text("a,b,c,d\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    for f in (npy, csv):
        code, out, err = cli(WORST, "--spec", FOLLOW, "--states", str(f))
        assert code == 0, err
        assert "visited states" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.pol", "--spec", FOLLOW], "policy file not found"),
        ([WORST, "--spec", "missing.yaml"], "not found"),
        ([WORST, "--spec", FOLLOW, "--format", "xml"], "unknown format 'xml'"),
        ([WORST, "--spec", FOLLOW, "--max-iters", "0"], "--max-iters must be between 1"),
        ([WORST, "--spec", FOLLOW, "--timeout", "-1"], "--timeout must be a positive"),
        ([WORST, "--spec", FOLLOW, "--select", "best"], "unknown --select 'best'"),
        ([WORST, "--spec", FOLLOW, "--select", "return"], "--select return needs --env"),
        ([WORST, "--spec", FOLLOW, "--env", "NoSuchEnv-v9"], "cannot make environment 'NoSuchEnv-v9'"),
        ([WORST, "--spec", FOLLOW, "--env", "Pendulum-v1"], "gives observations of shape"),
        ([WORST, "--spec", SMOOTH], "not an observation"),
        ([WORST, "--spec", FOLLOW, "--states", "nope.npy"], "states file not found"),
        ([WORST, "--spec", FOLLOW, "-o", "/nonexistent-dir/x.pol"], "does not exist"),
        ([str(ROOT / "policies/gridworld/gen-s8-c4-seed1.pol"), "--spec", FOLLOW], "gridworld subgoal program"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert out == ""
    assert err.startswith("saferl repair: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_states_files_exit_2(tmp_path: Path) -> None:
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 3)))
    nan = tmp_path / "nan.csv"
    nan.write_text("1,2,3,nan\n")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3,4\n1,2\n")
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps([1, 2]))
    for f, msg in ((pickled, "cannot read states file"), (wrong, "must have shape (rows, 4)"),
                   (nan, "NaN or infinite"), (ragged, "row 2 has 2 values"), (raw, "must be .npy or .csv")):
        code, out, err = cli(WORST, "--spec", FOLLOW, "--states", str(f))
        assert code == 2, (f, err)
        assert msg in err, err
        assert err.count("\n") == 1


def test_env_and_states_together_is_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "s.npy"
    np.save(f, np.zeros((3, 4)))
    code, _, err = cli(WORST, "--spec", FOLLOW, "--env", "CartPole-v1", "--states", str(f))
    assert code == 2 and "not both" in err
