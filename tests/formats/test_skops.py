"""scikit-learn trees saved with skops become exact .pol trees; files are checked before loading."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run
from saferl.errors import ModelFileError
from saferl.formats import PolicyNames, load_policy_file
from saferl.policy import ProgramPolicy, load_policy

sio = pytest.importorskip("skops.io")
tree_mod = pytest.importorskip("sklearn.tree")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _training_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((4000, 4)) * np.array([1.0, 1.5, 0.1, 1.0])).astype(np.float32)
    y = ((x[:, 2] + 0.1 * x[:, 3] > 0.0) ^ (x[:, 0] > 1.2)).astype(np.int64)
    return x, y


def _test_states(model, n: int = 100_000, seed: int = 1) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``n`` float32 states; many sit exactly on a threshold, or one float32 step beside it."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 4)) * np.array([1.0, 1.5, 0.1, 1.0])).astype(np.float32)
    t = model.tree_
    splits = np.flatnonzero(t.children_left != -1)
    on = rng.choice(splits, size=n // 2)
    for row, node in zip(range(n // 2), on, strict=True):
        f, thr = int(t.feature[node]), np.float32(t.threshold[node])
        x[row, f] = [thr, np.nextafter(thr, np.float32(np.inf)), np.nextafter(thr, np.float32(-np.inf))][row % 3]
    return x


def _exact_thresholds(model) -> int:  # type: ignore[no-untyped-def]
    """Move every other threshold onto a float32 value (so states can sit exactly on it)."""
    t = model.tree_
    moved = 0
    for node in np.flatnonzero(t.children_left != -1)[::2]:
        t.threshold[node] = float(np.float32(t.threshold[node]))
        moved += 1
    return moved


def _agree(policy: ProgramPolicy, model, x: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    expected = model.predict(x)
    got = np.array([policy.act(row) for row in x])
    mismatches = np.flatnonzero(got != expected)
    assert mismatches.size == 0, f"{mismatches.size} mismatches, first at {x[mismatches[0]].tolist()}"


def test_classifier_identical_on_1e5_states_including_thresholds(tmp_path: Path) -> None:
    """Target: identical actions on 10^5 float32 states, including states exactly on thresholds."""
    x, y = _training_data()
    model = tree_mod.DecisionTreeClassifier(max_leaf_nodes=40, random_state=0).fit(x, y)
    assert _exact_thresholds(model) > 0
    exact = [float(np.float32(v)) == v for v in model.tree_.threshold[model.tree_.children_left != -1]]
    assert any(exact)
    path = tmp_path / "tree.skops"
    sio.dump(model, path)
    policy = load_policy_file(path, env_id="CartPole-v1")
    assert policy.program.obs_names[2] == "pole_angle"
    states = _test_states(model)
    on_threshold = sum(
        int(np.sum(states[:, int(model.tree_.feature[i])] == model.tree_.threshold[i]))
        for i in np.flatnonzero(model.tree_.children_left != -1)
    )
    assert on_threshold > 1000
    _agree(policy, model, states)


def test_regressor_leaves_are_exact(tmp_path: Path) -> None:
    x, y = _training_data(2)
    target = np.tanh(x[:, 2] * 10 + x[:, 3]) * 2.0
    model = tree_mod.DecisionTreeRegressor(max_leaf_nodes=24, random_state=0).fit(x, target)
    _exact_thresholds(model)
    path = tmp_path / "reg.skops"
    sio.dump(model, path)
    policy = load_policy_file(path, names=PolicyNames(low=-2.0, high=2.0))
    assert policy.program.obs_names == ("obs0", "obs1", "obs2", "obs3")
    _agree(policy, model, _test_states(model, n=20_000))


def test_string_classes_become_labels(tmp_path: Path) -> None:
    x, y = _training_data(3)
    model = tree_mod.DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, np.where(y == 1, "right", "left"))
    path = tmp_path / "s.skops"
    sio.dump(model, path)
    out = tmp_path / "s.pol"
    code, text, err = _cli("import", str(path), "--obs-names", "x,v,th,om", "--action-name", "push", "-o", str(out))
    assert code == 0, err
    program = load_policy(out)
    assert "act push: discrete {left = 0, right = 1}" in out.read_text()
    policy = ProgramPolicy(program)
    states = _test_states(model, n=5000)
    labels = ("left", "right")
    assert [labels[policy.act(s)] for s in states] == list(model.predict(states))


def test_cli_import_writes_the_exact_tree(tmp_path: Path) -> None:
    x, y = _training_data(4)
    model = tree_mod.DecisionTreeClassifier(max_leaf_nodes=8, random_state=0).fit(x, y)
    path = tmp_path / "t.skops"
    sio.dump(model, path)
    names = tmp_path / "names.yaml"
    names.write_text("obs: [x, v, th, om]\naction: push\nlabels: [left, right]\n")
    out = tmp_path / "cartpole_tree.pol"
    code, text, err = _cli("import", str(path), "--names", str(names), "-o", str(out))
    assert code == 0, err
    assert "decision tree" in text
    body = out.read_text()
    assert body.splitlines()[1] == "policy cartpole_tree"
    for node in np.flatnonzero(model.tree_.children_left != -1):
        assert repr(float(model.tree_.threshold[node])) in body
    _agree(ProgramPolicy(load_policy(out)), model, _test_states(model, n=5000))
    code, _, err = _cli("import", str(path), "--obs-names", "x,v", "-o", str(tmp_path / "x.pol"))
    assert code == 2 and "2 observation names given, the model observes 4 values" in err


def _rewrite_schema(src: Path, dst: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "schema.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)


def test_types_beyond_a_tree_are_refused_before_loading(tmp_path: Path) -> None:
    x, y = _training_data(5)
    model = tree_mod.DecisionTreeClassifier(max_depth=2).fit(x, y)
    good = tmp_path / "good.skops"
    sio.dump(model, good)

    def inject(schema):  # type: ignore[no-untyped-def]
        schema["content"]["content"]["evil"] = {
            "__class__": "system", "__module__": "os", "__loader__": "ObjectNode", "content": {}, "__id__": 1,
        }
        return schema

    bad = tmp_path / "bad.skops"
    _rewrite_schema(good, bad, inject)
    with pytest.raises(ModelFileError, match="refused: the file names types beyond a scikit-learn tree: os.system"):
        load_policy_file(bad)
    code, out, err = _cli("import", str(bad), "-o", str(tmp_path / "bad.pol"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "os.system" in err
    assert not (tmp_path / "bad.pol").exists()


def test_other_estimators_are_refused(tmp_path: Path) -> None:
    linear = pytest.importorskip("sklearn.linear_model")
    x, y = _training_data(6)
    path = tmp_path / "lr.skops"
    sio.dump(linear.LogisticRegression().fit(x, y), path)
    code, out, err = _cli("eval", str(path), "--env", "CartPole-v1")
    assert code == 2 and "LogisticRegression" in err


def test_repair_takes_a_skops_tree(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    x, y = _training_data(7)
    model = tree_mod.DecisionTreeClassifier(max_leaf_nodes=4, random_state=0).fit(x, y)
    path = tmp_path / "user_tree.skops"
    sio.dump(model, path)
    code, out, err = _cli(
        "repair", str(path), "--spec", str(root / "specs" / "cartpole" / "pole_follow.yaml"), "--env", "CartPole-v1",
        "--episodes", "2", "--timeout", "10", "--format", "json", "-q", "-o", str(tmp_path / "fixed.pol"),
    )
    assert code in (0, 1), err  # repaired / not repairable: either way the tree was read
    assert json.loads(out)["status"]
