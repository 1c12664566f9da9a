"""Fixtures of tests/formats: the shipped CartPole oracle exported to ONNX with torch.onnx."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "oracles" / "cartpole-ppo"


def _torch_mlp(policy):  # type: ignore[no-untyped-def]
    """A torch.nn.Sequential with the weights of a saferl NeuralPolicy's actor."""
    import torch

    layers = policy.manifest["actor"]["layers"]
    act = torch.nn.Tanh if policy.manifest["actor"]["activation"] == "tanh" else torch.nn.ReLU
    modules: list = []
    for k in range(len(layers) - 1):
        lin = torch.nn.Linear(layers[k], layers[k + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(policy.tensors[f"actor.{k}.weight"]))
            lin.bias.copy_(torch.from_numpy(policy.tensors[f"actor.{k}.bias"]))
        modules.append(lin)
        if k < len(layers) - 2:
            modules.append(act())
    return torch.nn.Sequential(*modules).eval()


@pytest.fixture(scope="session")
def cartpole_oracle():  # type: ignore[no-untyped-def]
    from saferl.learn.model import load_model

    return load_model(ORACLE)


@pytest.fixture(scope="session")
def cartpole_onnx(tmp_path_factory: pytest.TempPathFactory, cartpole_oracle) -> Path:  # type: ignore[no-untyped-def]
    """The shipped oracle's actor exported by torch.onnx (dynamic batch axis)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    path = tmp_path_factory.mktemp("onnx") / "cartpole.onnx"
    net = _torch_mlp(cartpole_oracle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (torch.zeros(1, 4),), str(path), dynamo=False, input_names=["obs"], output_names=["logits"],
            dynamic_axes={"obs": {0: "batch"}},
        )
    return path


def cartpole_states(n: int, seed: int = 0) -> np.ndarray:
    """``n`` float32 CartPole observations spread over (and beyond) the visited range."""
    rng = np.random.default_rng(seed)
    scale = np.array([2.4, 2.0, 0.21, 2.5])
    return (rng.uniform(-1.0, 1.0, size=(n, 4)) * scale).astype(np.float32)
