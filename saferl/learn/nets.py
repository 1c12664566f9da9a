"""torch building blocks shared by the trainers, and the bridge to saferl's model format.

This module imports torch at import time; only the trainers import it, and ``import
saferl`` never does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

__all__ = ["mlp", "export_tensors", "import_tensors", "space_manifest"]


def mlp(sizes: list[int], activation: str, out_gain: float = 1.0) -> nn.Sequential:
    """A torch MLP with the layer widths ``sizes`` (orthogonal init, zero biases).

    The linear layers sit at even indices so that :func:`export_tensors` can number them
    0, 1, 2... as the model format expects.
    """
    act: type[nn.Module] = nn.Tanh if activation == "tanh" else nn.ReLU
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        linear = nn.Linear(sizes[k], sizes[k + 1])
        last = k == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else float(np.sqrt(2.0)))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


def export_tensors(prefix: str, net: nn.Sequential) -> dict[str, np.ndarray]:
    """The linear layers of ``net`` as ``{prefix}.{k}.weight/bias`` float32 arrays."""
    tensors: dict[str, np.ndarray] = {}
    k = 0
    for module in net:
        if isinstance(module, nn.Linear):
            tensors[f"{prefix}.{k}.weight"] = module.weight.detach().cpu().numpy().astype(np.float32).copy()
            tensors[f"{prefix}.{k}.bias"] = module.bias.detach().cpu().numpy().astype(np.float32).copy()
            k += 1
    return tensors


def import_tensors(prefix: str, net: nn.Sequential, tensors: dict[str, np.ndarray]) -> None:
    """Load ``{prefix}.{k}.weight/bias`` arrays into the linear layers of ``net`` (the
    inverse of :func:`export_tensors`); InputError when a tensor is missing or mis-shaped."""
    import torch

    from saferl.errors import InputError

    k = 0
    for module in net:
        if isinstance(module, nn.Linear):
            for part, param in (("weight", module.weight), ("bias", module.bias)):
                value = tensors.get(f"{prefix}.{k}.{part}")
                if value is None or tuple(value.shape) != tuple(param.shape):
                    got = "missing" if value is None else f"shape {tuple(value.shape)}"
                    raise InputError(f"tensor {prefix}.{k}.{part} is {got}; the network needs shape {tuple(param.shape)}")
                with torch.no_grad():
                    param.copy_(torch.as_tensor(np.asarray(value, dtype=np.float32)))
            k += 1


def _bounds(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def space_manifest(env: Any, obs_names: tuple[str, ...]) -> dict[str, Any]:
    """The ``observation`` section of a manifest for a gymnasium environment."""
    space = env.observation_space
    return {"names": list(obs_names), "low": _bounds(space.low), "high": _bounds(space.high)}
