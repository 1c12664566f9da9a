"""The stable-baselines3 importer: real archives agree with SB3, hostile ones are refused
without executing anything."""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from saferl.errors import ModelFileError

torch = pytest.importorskip("torch")

from saferl.learn.sb3 import load_sb3_zip  # noqa: E402


class _Evil:
    """Unpickling this creates the file ``marker`` (harmless proof of execution)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _data_json(obs_dim: int = 4, n: int = 2, serialized: str = "") -> bytes:
    data = {
        "observation_space": {
            ":type:": "<class 'gymnasium.spaces.box.Box'>",
            ":serialized:": serialized,
            "dtype": "float32",
            "_shape": [obs_dim],
            "low": "[" + " ".join(["-inf"] * obs_dim) + "]",
            "high": "[" + " ".join(["inf"] * obs_dim) + "]",
        },
        "action_space": {":type:": "<class 'gymnasium.spaces.discrete.Discrete'>", ":serialized:": serialized, "n": str(n), "start": "0", "_shape": []},
        "policy_kwargs": {":type:": "<class 'dict'>", ":serialized:": serialized, "activation_fn": "<class 'torch.nn.modules.activation.Tanh'>"},
    }
    return json.dumps(data).encode()


def _state_dict_bytes(obs_dim: int = 4, n: int = 2) -> bytes:
    g = torch.Generator().manual_seed(0)
    sd = {
        "mlp_extractor.policy_net.0.weight": torch.randn(8, obs_dim, generator=g),
        "mlp_extractor.policy_net.0.bias": torch.randn(8, generator=g),
        "mlp_extractor.value_net.0.weight": torch.randn(8, obs_dim, generator=g),
        "mlp_extractor.value_net.0.bias": torch.randn(8, generator=g),
        "action_net.weight": torch.randn(n, 8, generator=g),
        "action_net.bias": torch.randn(n, generator=g),
        "value_net.weight": torch.randn(1, 8, generator=g),
        "value_net.bias": torch.randn(1, generator=g),
    }
    buf = io.BytesIO()
    torch.save(sd, buf)
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_handmade_archive_is_read(tmp_path: Path) -> None:
    p = load_sb3_zip(_zip(tmp_path / "ok.zip", {"data": _data_json(), "policy.pth": _state_dict_bytes()}), "CartPole-v1")
    assert p.discrete and p.obs_names[0] == "cart_position"
    assert p.manifest["actor"] == {"layers": [4, 8, 2], "activation": "tanh", "output": "logits"}
    assert p.manifest["critic"]["kind"] == "v"
    assert p.act(np.zeros(4, np.float32)) in (0, 1)


def test_pickled_policy_pth_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    raw_pickle = pickle.dumps({"action_net.weight": _Evil(marker)})
    buf = io.BytesIO()
    torch.save({"action_net.weight": _Evil(marker)}, buf)
    assert not marker.exists()
    for i, payload in enumerate([raw_pickle, buf.getvalue()]):
        z = _zip(tmp_path / f"evil{i}.zip", {"data": _data_json(), "policy.pth": payload})
        with pytest.raises(ModelFileError) as info:
            load_sb3_zip(z)
        assert "policy.pth is not a plain tensor state dict" in str(info.value)
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_serialized_fields_in_data_are_never_decoded(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = base64.b64encode(pickle.dumps(_Evil(marker))).decode()
    z = _zip(tmp_path / "evil.zip", {"data": _data_json(serialized=evil), "policy.pth": _state_dict_bytes()})
    policy = load_sb3_zip(z)
    assert policy.n_actions == 2
    assert not marker.exists()


@pytest.mark.parametrize(
    "members, message",
    [
        ({"policy.pth": b""}, "archive has no 'data' member"),
        ({"data": b"\x80\x04K\x01."}, "data member is not JSON"),
        ({"data": b"[1, 2]"}, "not a JSON object"),
        ({"data": _data_json()}, "archive has no 'policy.pth' member"),
        ({"data": _data_json(), "policy.pth": b"garbage"}, "not a plain tensor state dict"),
        ({"data": _data_json(obs_dim=3), "policy.pth": _state_dict_bytes()}, "actor input width must equal"),
        ({"data": _data_json(n=1), "policy.pth": _state_dict_bytes(n=1)}, "between 2 and 65536"),
    ],
)
def test_malformed_archives(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    z = _zip(tmp_path / "bad.zip", members)
    with pytest.raises(ModelFileError) as info:
        load_sb3_zip(z)
    assert message in str(info.value)
    assert str(z) in str(info.value)


def test_not_a_zip(tmp_path: Path) -> None:
    f = tmp_path / "x.zip"
    f.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        load_sb3_zip(f)
    with pytest.raises(ModelFileError, match="model file not found"):
        load_sb3_zip(tmp_path / "missing.zip")


def test_cli_rejects_hostile_zip_with_exit_2(tmp_path: Path) -> None:
    from saferl.cli import run

    marker = tmp_path / "pwned"
    z = _zip(tmp_path / "evil.zip", {"data": _data_json(), "policy.pth": pickle.dumps(_Evil(marker))})
    out, err = io.StringIO(), io.StringIO()
    code = run(["extract", "--oracle", str(z), "--env", "CartPole-v1", "-o", str(tmp_path / "t.pol")], out, err)
    assert code == 2
    assert err.getvalue().count("\n") == 1 and "policy.pth" in err.getvalue()
    assert not marker.exists()


@pytest.mark.parametrize("algo, env_id", [("PPO", "CartPole-v1"), ("DQN", "CartPole-v1"), ("TD3", "Pendulum-v1"), ("SAC", "Pendulum-v1"), ("PPO", "Pendulum-v1")])
def test_real_sb3_archive_agrees_with_sb3(tmp_path: Path, algo: str, env_id: str) -> None:
    sb3 = pytest.importorskip("stable_baselines3")
    cls = getattr(sb3, algo)
    model = cls("MlpPolicy", env_id, seed=0, policy_kwargs={"net_arch": [16, 16]}, device="cpu")
    path = tmp_path / f"{algo}.zip"
    model.save(path)
    policy = load_sb3_zip(path, env_id)
    x = np.random.default_rng(0).uniform(-1, 1, (64, policy.actor.weights[0].shape[1])).astype(np.float32)
    ours = np.asarray(policy.act_batch(x), dtype=np.float64).reshape(64, -1)
    theirs = np.asarray(model.predict(x, deterministic=True)[0], dtype=np.float64).reshape(64, -1)
    assert np.allclose(ours, theirs, atol=1e-5)
