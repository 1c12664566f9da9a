"""The model format: round trip, validation of hostile manifests and weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from saferl.errors import ModelFileError
from saferl.learn.model import load_model, policy_from_parts, save_model


def _manifest(discrete: bool = True) -> dict:
    if discrete:
        action = {"kind": "discrete", "name": "push", "labels": ["left", "right"]}
        actor = {"layers": [4, 8, 2], "activation": "tanh", "output": "logits"}
        critic = {"kind": "q", "layers": [4, 8, 2], "activation": "tanh"}
        obs = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
    else:
        action = {"kind": "continuous", "name": "torque", "low": [-2.0], "high": [2.0]}
        actor = {"layers": [3, 8, 1], "activation": "relu", "output": "tanh"}
        critic = {"kind": "q", "layers": [4, 8, 1], "activation": "relu"}
        obs = ["cos_theta", "sin_theta", "theta_dot"]
    return {
        "format": "saferl-model",
        "version": 1,
        "env_id": None,
        "observation": {"names": obs, "low": [None] * len(obs), "high": [None] * len(obs)},
        "action": action,
        "actor": actor,
        "critic": critic,
        "normalisation": None,
        "training": {},
    }


def _tensors(manifest: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for prefix in ("actor", "critic"):
        sizes = manifest[prefix]["layers"]
        for k in range(len(sizes) - 1):
            out[f"{prefix}.{k}.weight"] = rng.normal(size=(sizes[k + 1], sizes[k])).astype(np.float32)
            out[f"{prefix}.{k}.bias"] = rng.normal(size=(sizes[k + 1],)).astype(np.float32)
    return out


def test_round_trip_discrete(tmp_path: Path) -> None:
    m = _manifest(True)
    t = _tensors(m)
    save_model(tmp_path / "m", m, t)
    p = load_model(tmp_path / "m")
    x = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
    h = np.tanh(x @ t["actor.0.weight"].T + t["actor.0.bias"])
    logits = h @ t["actor.1.weight"].T + t["actor.1.bias"]
    assert np.array_equal(p.act_batch(x), logits.argmax(1))
    assert p.q_values(x).shape == (20, 2)
    assert isinstance(p.act(x[0]), int)


def test_round_trip_continuous_matches_torch(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    m = _manifest(False)
    t = _tensors(m)
    save_model(tmp_path / "m", m, t)
    p = load_model(tmp_path / "m")
    x = np.random.default_rng(2).normal(size=(16, 3)).astype(np.float32)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(t["actor.0.weight"]))
        net[0].bias.copy_(torch.as_tensor(t["actor.0.bias"]))
        net[2].weight.copy_(torch.as_tensor(t["actor.1.weight"]))
        net[2].bias.copy_(torch.as_tensor(t["actor.1.bias"]))
        expected = (2.0 * torch.tanh(net(torch.as_tensor(x)))).numpy()
    assert np.allclose(p.act_batch(x), expected, atol=1e-5)
    assert np.all(np.abs(p.act_batch(x)) <= 2.0)
    assert p.q_value(x, p.act_batch(x)).shape == (16,)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m.update(format="pickle"), "not a saferl model manifest"),
        (lambda m: m.update(version=7), "unsupported manifest version"),
        (lambda m: m["actor"].update(activation="gelu"), "actor.activation must be one of"),
        (lambda m: m["actor"].update(layers=[4, 8, 3]), "one logit per action label"),
        (lambda m: m["actor"].update(layers=[5, 8, 2]), "actor input width"),
        (lambda m: m["observation"].update(names=["a b"]), "identifiers"),
        (lambda m: m["critic"].update(kind="z"), "critic.kind"),
        (lambda m: m.update(actor=[1, 2]), "needs an 'actor' object"),
        (lambda m: m["actor"].update(layers=[4] + [10**9] + [2]), "positive layer widths"),
    ],
)
def test_bad_manifest_is_one_line_model_file_error(tmp_path: Path, mutate, message: str) -> None:
    m = _manifest(True)
    t = _tensors(m)
    save_model(tmp_path / "m", m, t)
    mutate(m)
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelFileError) as info:
        load_model(tmp_path / "m")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(tmp_path / "m" / "manifest.json") in str(info.value)


def test_bad_json_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model directory not found"):
        load_model(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelFileError, match="missing manifest.json"):
        load_model(tmp_path / "m")
    (tmp_path / "m" / "manifest.json").write_text("{not json")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"manifest.json:1:2: manifest is not valid JSON"):
        load_model(tmp_path / "m")


def test_hostile_weights(tmp_path: Path) -> None:
    m = _manifest(True)
    t = _tensors(m)
    save_model(tmp_path / "m", m, t)
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(b"\x80\x04\x95 this is a pickle, not safetensors")
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        load_model(tmp_path / "m")
    bad = dict(t)
    bad["actor.0.weight"] = np.zeros((3, 3), np.float32)
    from safetensors.numpy import save_file

    save_file(bad, str(weights))
    with pytest.raises(ModelFileError, match="has shape"):
        load_model(tmp_path / "m")
    bad = dict(t)
    bad["actor.1.bias"] = np.array([np.nan, 0.0], np.float32)
    save_file(bad, str(weights))
    with pytest.raises(ModelFileError, match="non-finite"):
        load_model(tmp_path / "m")
    bad = dict(t)
    del bad["critic.1.bias"]
    save_file(bad, str(weights))
    with pytest.raises(ModelFileError, match="lacks tensor critic.1"):
        load_model(tmp_path / "m")


def test_normalisation_is_applied() -> None:
    m = _manifest(True)
    m["normalisation"] = {"obs_mean": [1.0, 0.0, 0.0, 0.0], "obs_std": [2.0, 1.0, 1.0, 1.0], "clip": 5.0}
    t = _tensors(m)
    p = policy_from_parts(m, t)
    plain = policy_from_parts({**m, "normalisation": None}, t)
    x = np.array([[3.0, 0.5, -0.2, 0.1]], np.float32)
    assert np.allclose(p.actor_output(x), plain.actor_output(np.array([[1.0, 0.5, -0.2, 0.1]], np.float32)))


def test_importing_saferl_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import saferl, saferl.learn, saferl.learn.model, saferl.extract, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
