"""`saferl verify` and `saferl shield run --fallback` take a skops tree (converted in memory
exactly as `saferl import` writes it); neural formats get a one-line exit-2 message saying
how to get a program; malformed or hostile .skops files are refused, never unpickled."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run

from .conftest import ROOT

sio = pytest.importorskip("skops.io")
tree_mod = pytest.importorskip("sklearn.tree")

SPEC = ROOT / "specs" / "cartpole" / "pole_follow.yaml"
NAMES = "obs: [cart_position, cart_velocity, pole_angle, pole_angular_velocity]\naction: push\nlabels: [left, right]\n"


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


class _Evil:
    """Unpickling this creates the file ``marker`` (harmless proof of execution)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def cartpole_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A depth-3 tree fitted to "push the way the pole leans plus a third of its swing"."""
    rng = np.random.default_rng(0)
    x = (rng.uniform(-1, 1, (3000, 4)) * np.array([2.4, 2.0, 0.2, 2.0])).astype(np.float32)
    y = (x[:, 2] + 0.3 * x[:, 3] > 0).astype(np.int64)
    model = tree_mod.DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    path = tmp_path_factory.mktemp("skops") / "user_tree.skops"
    sio.dump(model, path)
    return path


def _verdicts(report: str) -> tuple[str, list[tuple[str, str, object]]]:
    """The program's digest and each property's verdict and counterexample."""
    (result,) = json.loads(report)["results"]
    return result["policy_digest"], [(p["id"], p["verdict"], p["counterexample"]) for p in result["properties"]]


def test_verify_a_skops_tree_as_saferl_import_converts_it(tmp_path: Path, cartpole_tree: Path) -> None:
    names = tmp_path / "names.yaml"
    names.write_text(NAMES)
    code, report, err = _cli("verify", str(cartpole_tree), "--spec", str(SPEC), "--names", str(names), "-f", "json")
    assert code in (0, 1), err
    pol = tmp_path / "user_tree.pol"
    assert _cli("import", str(cartpole_tree), "--names", str(names), "-o", str(pol))[0] == 0
    code2, report2, err2 = _cli("verify", str(pol), "--spec", str(SPEC), "-f", "json")
    assert code2 == code, err2
    assert _verdicts(report) == _verdicts(report2)  # the same verdicts and counterexamples
    # flags name the tree as well as the file does
    code3, report3, _ = _cli(
        "verify", str(cartpole_tree), "--spec", str(SPEC), "--obs-names",
        "cart_position,cart_velocity,pole_angle,pole_angular_velocity", "--action-name", "push",
        "--labels", "left,right", "-f", "json",
    )
    assert code3 == code and _verdicts(report3) == _verdicts(report)


def test_verify_a_skops_tree_without_names_is_one_line(cartpole_tree: Path) -> None:
    line = _one_error_line(*_cli("verify", str(cartpole_tree), "--spec", str(SPEC)))
    assert "scikit-learn tree and carries no observation and action names" in line
    assert "--names FILE" in line and "--obs-names" in line
    line = _one_error_line(*_cli("verify", str(cartpole_tree), "--spec", str(SPEC), "--obs-names", "a,b,c,d"))
    assert "carries no action names" in line
    # names that do not fit the tree, or the spec, are errors too
    line = _one_error_line(*_cli("verify", str(cartpole_tree), "--spec", str(SPEC), "--obs-names", "a,b",
                                 "--action-name", "push"))
    assert "2 observation names given, the model observes 4 values" in line


def test_verify_refuses_neural_formats_with_the_way_to_a_program(tmp_path: Path, cartpole_onnx: Path) -> None:
    marker = tmp_path / "marker"
    sb3 = tmp_path / "ppo.zip"  # an SB3 archive whose pickled parts would run code if unpickled
    with zipfile.ZipFile(sb3, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", pickle.dumps(_Evil(marker), protocol=4))
    for model, fmt in ((ROOT / "oracles" / "cartpole-ppo", "saferl-model"), (cartpole_onnx, "onnx"), (sb3, "sb3")):
        line = _one_error_line(*_cli("verify", str(model), "--spec", str(SPEC)))
        assert f"is a neural network ({fmt})" in line
        assert f"saferl extract --oracle {model}" in line
    assert not marker.exists()


def _rewrite(src: Path, dst: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename == member else zin.read(item))


def test_malformed_and_hostile_skops_files_are_one_line_and_never_unpickled(tmp_path: Path, cartpole_tree: Path) -> None:
    marker = tmp_path / "marker"
    names = tmp_path / "names.yaml"
    names.write_text(NAMES)
    cases: dict[str, tuple[Path, str]] = {}

    text = tmp_path / "text.skops"
    text.write_text("policy p\n")
    cases["text"] = (text, "not a skops file (not a zip archive)")
    pickled = tmp_path / "pickled.skops"
    pickled.write_bytes(pickle.dumps(_Evil(marker), protocol=4))
    cases["a pickle"] = (pickled, "never unpickles")
    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(cartpole_tree.read_bytes()[:200])
    cases["truncated"] = (truncated, "zip")
    no_schema = tmp_path / "no_schema.skops"
    with zipfile.ZipFile(no_schema, "w") as archive:
        archive.writestr("data.npy", b"")
    cases["no schema"] = (no_schema, "zip archive saferl does not recognise")
    broken_json = tmp_path / "broken_json.skops"
    _rewrite(cartpole_tree, broken_json, "schema.json", b"{not json")
    cases["broken schema"] = (broken_json, "not a readable skops file")

    schema = json.loads(zipfile.ZipFile(cartpole_tree).read("schema.json"))
    wrong_root = dict(schema, __class__="LogisticRegression", __module__="sklearn.linear_model._logistic")
    wrong = tmp_path / "wrong_root.skops"
    _rewrite(cartpole_tree, wrong, "schema.json", json.dumps(wrong_root).encode())
    cases["another estimator"] = (wrong, "refused")
    evil_schema = json.loads(json.dumps(schema))
    evil_schema["content"]["content"]["evil"] = {
        "__class__": "system", "__module__": "os", "__loader__": "ObjectNode", "content": {}, "__id__": 99,
    }
    evil = tmp_path / "evil_type.skops"
    _rewrite(cartpole_tree, evil, "schema.json", json.dumps(evil_schema).encode())
    cases["os.system"] = (evil, "os.system")
    # every array member replaced by a pickle of an object array: skops must not unpickle it
    with zipfile.ZipFile(cartpole_tree) as zin:
        arrays = [n for n in zin.namelist() if n.endswith(".npy")]
    assert arrays
    buf = io.BytesIO()
    np.save(buf, np.array([_Evil(marker)], dtype=object), allow_pickle=True)
    object_arrays = tmp_path / "object_arrays.skops"
    with zipfile.ZipFile(cartpole_tree) as zin, zipfile.ZipFile(object_arrays, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, buf.getvalue() if item.filename in arrays else zin.read(item))
    cases["object arrays"] = (object_arrays, "skops cannot load the file")

    for what, (path, expected) in cases.items():
        line = _one_error_line(*_cli("verify", str(path), "--spec", str(SPEC), "--names", str(names)))
        assert expected in line, (what, line)
        assert line.startswith("saferl verify: error: ") and str(path) in line, (what, line)
    assert not marker.exists()


def test_shield_takes_a_skops_tree_as_its_fallback(tmp_path: Path, cartpole_tree: Path) -> None:
    code, out, err = _cli(
        "shield", "run", "--policy", "random", "--fallback", str(cartpole_tree), "--spec", str(SPEC),
        "--env", "CartPole-v1", "-n", "1", "--max-steps", "30", "--allow-unverified", "-q", "-f", "json",
    )
    assert code in (0, 1), err
    summary = json.loads(out)
    assert summary["fallback"] == str(cartpole_tree) and summary["fallback_digest"].startswith("sha256:")
    line = _one_error_line(*_cli(
        "shield", "run", "--policy", "random", "--fallback", str(ROOT / "oracles" / "cartpole-ppo"), "--spec",
        str(SPEC), "--env", "CartPole-v1", "-n", "1", "-q",
    ))
    assert "is a neural network (saferl-model)" in line and "saferl extract" in line
