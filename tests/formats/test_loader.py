"""load_policy_file: every format in every command; TorchScript and pickles are refused unread."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run
from saferl.errors import InputError, ModelFileError
from saferl.formats import (
    PolicyNames,
    detect_format,
    load_neural_model,
    load_policy_file,
    load_program_source,
)

from .conftest import ROOT, cartpole_states

POL = ROOT / "policies" / "cartpole" / "near_optimal.pol"
SPEC = ROOT / "specs" / "cartpole" / "pole_follow.yaml"


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


class _Evil:
    """Unpickling this creates the file ``marker`` (harmless proof of execution)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_formats_are_detected(tmp_path: Path) -> None:
    assert detect_format(POL) == "pol"
    assert detect_format(ROOT / "oracles" / "cartpole-ppo") == "saferl-model"
    with pytest.raises(ModelFileError, match="not found"):
        detect_format(tmp_path / "missing.zip")
    with pytest.raises(ModelFileError, match="no manifest.json"):
        detect_format(tmp_path)


def test_a_pol_file_and_a_model_directory(cartpole_oracle) -> None:  # type: ignore[no-untyped-def]
    program = load_policy_file(POL)
    assert program.act(np.zeros(4, dtype=np.float32)) in (0, 1)
    neural = load_policy_file(ROOT / "oracles" / "cartpole-ppo")
    x = cartpole_states(100)
    assert np.array_equal(neural.act_batch(x), cartpole_oracle.act_batch(x))
    renamed = load_neural_model(ROOT / "oracles" / "cartpole-ppo", names=PolicyNames(obs=("a", "b", "c", "d"), labels=("l", "r")))
    assert renamed.obs_names == ["a", "b", "c", "d"] and renamed.manifest["action"]["labels"] == ["l", "r"]
    with pytest.raises(InputError, match="is a .pol program, not a neural network"):
        load_neural_model(POL)
    with pytest.raises(InputError, match="this needs a .pol program or tree"):
        load_policy_file(ROOT / "oracles" / "cartpole-ppo", accept=("program",))
    with pytest.raises(InputError, match="extract one first"):
        load_program_source(ROOT / "oracles" / "cartpole-ppo")


def test_torchscript_is_refused_with_the_reason(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    path = tmp_path / "net.pt"
    torch.jit.script(torch.nn.Linear(4, 2)).save(str(path))
    assert detect_format(path) == "torchscript"
    code, out, err = _cli("eval", str(path), "--env", "CartPole-v1", "-n", "1")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "TorchScript cannot be read without executing code" in err and "torch.onnx.export" in err


@pytest.mark.parametrize("zipped", [True, False])
def test_torch_pickles_are_refused_and_never_run(tmp_path: Path, zipped: bool) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pt"
    if zipped:
        torch.save({"x": _Evil(marker)}, str(path))
    else:
        path.write_bytes(pickle.dumps({"x": _Evil(marker)}, protocol=4))
    assert detect_format(path) == "torch-pickle"
    for argv in (("eval", str(path), "--env", "CartPole-v1"), ("import", str(path), "-o", str(tmp_path / "out"))):
        code, out, err = _cli(*argv)
        assert code == 2 and "never unpickles" in err
    code, _, err = _cli(
        "shield", "run", "--policy", str(path), "--fallback", str(POL), "--spec", str(SPEC), "--env", "CartPole-v1", "-q"
    )
    assert code == 2 and "never unpickles" in err
    assert not marker.exists()


def test_unknown_zip_and_binary(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="zip archive saferl does not recognise"):
        load_policy_file(path)
    blob = tmp_path / "x.bin"
    blob.write_bytes(b"\x00\x01\x02\x03")
    code, _, err = _cli("eval", str(blob), "--env", "CartPole-v1")
    assert code == 2 and "binary data" in err


@pytest.fixture(scope="module")
def sb3_ppo_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real stable-baselines3 PPO CartPole model, trained for a few steps."""
    pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    model = sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    path = tmp_path_factory.mktemp("sb3") / "ppo-cartpole.zip"
    model.save(str(path))
    return path


def test_shield_an_sb3_ppo_model_in_one_command(sb3_ppo_zip: Path) -> None:
    """Target: shield an SB3 PPO CartPole model from the CLI, one command, no Python."""
    code, out, err = _cli(
        "shield", "run", "--policy", str(sb3_ppo_zip), "--fallback", str(POL), "--spec", str(SPEC),
        "--env", "CartPole-v1", "--episodes", "2", "--format", "json", "-q",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["verified"] and summary["shielded"]["violations"] == 0
    assert summary["shielded"]["steps"] > 0


def test_sb3_zip_in_eval_extract_and_import(tmp_path: Path, sb3_ppo_zip: Path) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    code, out, err = _cli("eval", str(sb3_ppo_zip), "--env", "CartPole-v1", "-n", "1", "--format", "json")
    assert code == 0, err
    target = tmp_path / "model"
    code, out, err = _cli("import", str(sb3_ppo_zip), "--env", "CartPole-v1", "-o", str(target))
    assert code == 0, err
    imported = load_policy_file(target)
    x = cartpole_states(2000, seed=5)
    expected = sb3.PPO.load(str(sb3_ppo_zip), device="cpu").predict(x, deterministic=True)[0]
    assert np.array_equal(imported.act_batch(x), expected)
    assert imported.obs_names[2] == "pole_angle"


def test_importing_the_loader_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, saferl, saferl.formats, saferl.cli.import_;"
        "heavy = [m for m in ('torch', 'sklearn', 'onnx', 'onnxruntime', 'skops', 'gymnasium') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == ""


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_eval_shows_progress_on_a_terminal_only() -> None:
    out, err = io.StringIO(), _Tty()
    assert run(["eval", str(POL), "--env", "CartPole-v1", "-n", "3", "--max-steps", "20"], out, err) == 0
    assert "3/3" in err.getvalue() and "near_optimal.pol on CartPole-v1" in err.getvalue()
    out, plain = io.StringIO(), io.StringIO()
    assert run(["eval", str(POL), "--env", "CartPole-v1", "-n", "3", "--max-steps", "20"], out, plain) == 0
    assert plain.getvalue() == ""
