"""saferl loop --kind tree on real TORCS (PROPEL-Tree): a split grown from a PID program, SAFE-gated."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gymnasium")
pytest.importorskip("sklearn")

from saferl.cli import run  # noqa: E402
from saferl.loop_torcs import grow_tree, is_tree  # noqa: E402
from saferl.policy import format_policy, load_policy  # noqa: E402
from saferl.policy.ast import Assign, If  # noqa: E402
from saferl.policy.printer import format_expr  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torcs_support import live_torcs_children, needs_torcs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CAREFUL = ROOT / "policies" / "torcs" / "propel_careful.pol"
TRACK = ROOT / "specs" / "torcs" / "track.yaml"
TRACK_SPEED = ROOT / "specs" / "torcs" / "track_speed.yaml"
FRONT = (18, 19, 20)  # track8, track9, track10 in the 29 sensors


def _cli(*argv: str) -> tuple[int, str, str]:
    torch.set_num_threads(1)
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _shape(program: object) -> str:
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", format_policy(program))  # type: ignore[arg-type]


def _thresholds(program: object) -> list[float]:
    return [p.value for p in program.parameters() if p.kind == "threshold"]  # type: ignore[attr-defined]


def _states(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # a driver that brakes below 0.3 of free distance ahead and opens the throttle above it
    rng = np.random.default_rng(seed)
    states = rng.uniform(-0.5, 1.0, size=(n, 29)).astype(np.float32)
    front = states[:, list(FRONT)].max(axis=1)
    actions = np.zeros((n, 3))
    actions[:, 1] = np.where(front <= 0.3, 0.1, 0.9) - np.where(states[:, 2] > 0.5, 0.05, 0.0)
    actions[:, 2] = np.where(front <= 0.3, 0.6, 0.0)
    return states, actions


def test_the_split_is_the_regression_trees_and_one_leaf_keeps_the_controllers() -> None:
    careful = load_policy(CAREFUL)
    states, actions = _states(2_000)
    tree, info = grow_tree(careful, states, actions, depth=1)
    assert info["grown"] and [s["feature"] for s in info["splits"]] == ["front"]
    assert abs(info["splits"][0]["threshold"] - 0.3) < 0.01
    assert is_tree(tree) and not is_tree(careful)
    # one steering law before the split (the start's); two leaves of throttle and brake
    steer = [s for s in tree.body if isinstance(s, Assign)]
    assert [s.target for s in steer] == ["steer"]
    assert format_policy(tree).count("steer =") == 1
    split = next(s for s in tree.body if isinstance(s, If))
    leaves = [split.branches[0][1], split.orelse]
    # the leaf most states reach (front > 0.3 here) keeps the start's pid controllers;
    # the other has their proportional terms: the tree's state is the start's
    assert tree.state_names == careful.state_names
    texts = [" ".join(format_expr(a.value) for a in leaf if isinstance(a, Assign)) for leaf in leaves]
    assert "pid(" not in texts[0] and texts[1].count("pid(") == 2
    # the proportional term of pid(rpm, 0.9477, 3.059, 0, 20.48)
    assert "clip(3.059 * (0.9477 - rpm), 0, 1)" in texts[0]
    # the grown tree of a SAFE program is SAFE: steering is unchanged, every cap stateless
    for spec in (TRACK, TRACK_SPEED):
        assert verify_policy(tree, load_spec(spec)).verdict is Verdict.SAFE
    # a tree is kept as it is; deeper trees still hold the start's two controllers
    assert grow_tree(tree, states, actions)[0] is tree
    deep, info2 = grow_tree(careful, states, actions, depth=2)
    assert 2 <= len(info2["splits"]) <= 3 and deep.pid_sites == 2 and is_tree(deep)
    with pytest.raises(Exception, match="depth must be 1, 2 or 3"):
        grow_tree(careful, states, actions, depth=4)


@pytest.mark.integration
@needs_torcs
def test_a_ci_tree_loop_grows_keeps_and_ships_only_a_proved_tree(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    argv = ("loop", "--env", "saferl/Torcs-v0", "--spec", str(TRACK), "--program", str(CAREFUL), "--kind", "tree",
            "--out", str(out_dir), "--iters", "1", "--ci", "--format", "json")
    code, out, err = _cli(*argv)
    assert code == 0, err
    assert "iteration 1/1 grow: split on " in err
    grown = load_policy(out_dir / "grown.pol")
    assert is_tree(grown)
    records = [json.loads(x) for x in (out_dir / "iterations.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["extract"]["kind"] == "tree"
    fit = records[0]["extract"]["fit"]
    assert fit["error"] <= fit["start_error"] and fit["states"] == 500
    # the projection and the lap search keep the grown tree's structure and its thresholds
    # (the regression tree's); every property has a verdict
    program = load_policy(out_dir / "iter-0" / "program.pol")
    assert _shape(program) == _shape(grown)
    assert _thresholds(program) == _thresholds(grown) and len(_thresholds(grown)) == 1
    assert set(records[0]["properties"]) == {p.id for p in load_spec(TRACK).properties}
    # best.pol is a tree, SAFE on its exact text
    best = load_policy(out_dir / "best.pol")
    assert is_tree(best) and json.loads((out_dir / "best.json").read_text())["verdict"] == "SAFE"
    assert verify_policy(best, load_spec(TRACK)).verdict is Verdict.SAFE
    assert json.loads(out)["best"]["verdict"] == "SAFE"
    # resuming a finished run redoes nothing (the grown tree is reused)
    code, _, err = _cli(*argv)
    assert code == 0, err
    assert "grow" not in err
    assert len((out_dir / "iterations.jsonl").read_text().splitlines()) == 1
    assert not live_torcs_children()


@pytest.mark.integration
@needs_torcs
def test_from_the_td3_oracle_the_template_grows_on_the_networks_states(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, _, err = _cli("loop", "--env", "saferl/Torcs-v0", "--spec", str(TRACK), "--oracle",
                        str(ROOT / "oracles" / "torcs-td3"), "--template", str(CAREFUL), "--kind", "tree",
                        "--out", str(out_dir), "--iters", "1", "--ci", "--tune", "0")
    assert code == 0, err
    grown = load_policy(out_dir / "grown.pol")
    record = json.loads((out_dir / "iterations.jsonl").read_text())
    # the projection's elites are proved, starting from the grown (SAFE) template
    assert record["extracted_verdict"] == "SAFE" and record["repair"] is None
    assert _shape(load_policy(out_dir / "iter-0" / "extracted.pol")) == _shape(grown)
    best = load_policy(out_dir / "best.pol")
    assert is_tree(best) and verify_policy(best, load_spec(TRACK)).verdict is Verdict.SAFE
    assert not live_torcs_children()


@pytest.mark.parametrize(
    ("spec", "program", "message"),
    [
        (ROOT / "specs" / "cartpole" / "pole_follow.yaml", CAREFUL,
         "saferl loop: error: {root}/specs/cartpole/pole_follow.yaml:6:3: 'cart_position' is not an observation of "
         "policy 'torcs_propel_careful'"),
        (TRACK, ROOT / "policies" / "cartpole" / "worst.pol",
         "saferl loop: error: policy 'cartpole_worst' declares 4 observations"),
    ],
)
def test_a_tree_loop_refuses_what_does_not_fit_in_one_line(tmp_path: Path, spec: Path, program: Path,
                                                           message: str) -> None:
    code, out, err = _cli("loop", "--env", "saferl/Torcs-v0", "--spec", str(spec), "--program", str(program),
                          "--kind", "tree", "--out", str(tmp_path / "run"), "--iters", "1", "--ci")
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message.format(root=ROOT)), err
    assert not live_torcs_children()


def test_the_trees_search_moves_only_what_the_spec_leaves_free() -> None:
    from saferl.loop_torcs import free_parameters

    tree, _ = grow_tree(load_policy(CAREFUL), *_states(500))
    by_value: dict[float, list[int]] = {}
    for p in tree.parameters():
        by_value.setdefault(p.value, []).append(p.id)
    gain, capped = by_value[10.73][0], by_value[9.613]  # the steering gain; the throttle cap's slope in both leaves
    assert len(capped) == 2
    # track_speed.yaml's throttle-overspeed is written with the cap's own numbers: lowering
    # its slope leaves the verified set, so it is not searched; the steering gain is free
    assert free_parameters(tree, load_spec(TRACK_SPEED), [gain, *capped]) == [gain]
    assert free_parameters(tree, load_spec(TRACK), [gain, *capped]) == [gain, *capped]


@pytest.mark.parametrize("spec", [TRACK, TRACK_SPEED])
def test_the_shipped_tree_is_a_tree_and_safe(spec: Path) -> None:
    tree = load_policy(ROOT / "policies" / "torcs" / "propel_tree.pol")
    assert is_tree(tree) and tree.state_names == load_policy(CAREFUL).state_names
    result = verify_policy(tree, load_spec(spec))
    assert {r.property_id: r.verdict for r in result.results} == {p.id: Verdict.SAFE for p in load_spec(spec).properties}
