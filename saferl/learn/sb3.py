"""Import a stable-baselines3 ``.zip`` without executing any of its pickled fields.

An SB3 archive holds ``data`` (JSON; objects JSON cannot hold are stored as base64 pickles
under ``:serialized:`` *beside* readable ``str()`` renderings of their attributes),
``policy.pth`` (a torch state dict) and optimiser states.  This importer reads only the
readable JSON fields (spaces, ``policy_kwargs.activation_fn``), never decodes a
``:serialized:`` value, and loads ``policy.pth`` with ``torch.load(weights_only=True)``,
whose restricted unpickler accepts tensors and plain containers only.  Everything else in
the archive is ignored.  Any defect raises :class:`~saferl.errors.ModelFileError`.

Supported policies (MLP, flattened Box observations): PPO/A2C (``mlp_extractor`` +
``action_net``, discrete or Gaussian-mean continuous), DQN (``q_net``), TD3/DDPG
(``actor.mu``), SAC (``actor.latent_pi`` + ``actor.mu``, tanh-squashed).  The result is a
:class:`~saferl.learn.model.NeuralPolicy`, which :func:`save_model` can write in saferl's
own format.

Example:
    >>> from saferl.learn.sb3 import load_sb3_zip
    >>> policy = load_sb3_zip("ppo-cartpole.zip", env_id="CartPole-v1")   # doctest: +SKIP
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from saferl.errors import Location, MissingDependencyError, ModelFileError
from saferl.learn.model import NeuralPolicy, policy_from_parts

__all__ = ["load_sb3_zip"]

_MAX_MEMBER_BYTES = 64 * 1024 * 1024
_MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
_NUMBER = re.compile(r"-?inf|nan|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _fail(message: str, path: str) -> ModelFileError:
    return ModelFileError(message, Location(path), hint="pass a stable-baselines3 .zip saved by model.save()")


def _read_member(archive: zipfile.ZipFile, name: str, path: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise _fail(f"archive has no {name!r} member", path) from None
    if info.file_size > _MAX_MEMBER_BYTES:
        raise _fail(f"archive member {name!r} is too large ({info.file_size} bytes)", path)
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as exc:
        raise _fail(f"cannot read archive member {name!r}: {exc}", path) from None
    if len(data) > _MAX_MEMBER_BYTES:
        raise _fail(f"archive member {name!r} is too large", path)
    return data


def _array_text(value: Any, what: str, path: str) -> list[float]:
    """Parse numpy's ``str()`` of a 1-D float array, e.g. ``'[-4.8 -inf 0.41]'``."""
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    if not isinstance(value, str) or "..." in value or len(value) > 100_000:
        raise _fail(f"cannot read {what} from the archive's data", path)
    body = value.strip()
    if not (body.startswith("[") and body.endswith("]")) or "[" in body[1:-1]:
        raise _fail(f"{what} is not a flat array", path)
    tokens = body[1:-1].split()
    if not tokens or not all(_NUMBER.fullmatch(t) for t in tokens):
        raise _fail(f"{what} is not an array of numbers", path)
    return [float(t) for t in tokens]


def _space(data: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    space = data.get(key)
    if not isinstance(space, dict):
        raise _fail(f"data has no readable {key}", path)
    kind = str(space.get(":type:", ""))
    if "Discrete" in kind and "Multi" not in kind:
        n = space.get("n")
        try:
            n_int = int(str(n))
        except ValueError:
            raise _fail(f"{key}.n is not an integer", path) from None
        start = str(space.get("start", "0"))
        if start not in ("0", "None"):
            raise _fail(f"{key} starts at {start}; only Discrete spaces starting at 0 are supported", path)
        if not 2 <= n_int <= 65536:
            raise _fail(f"{key}.n must be between 2 and 65536", path)
        return {"kind": "discrete", "n": n_int}
    if "Box" in kind:
        shape = space.get("_shape", space.get("shape"))
        if not isinstance(shape, list) or len(shape) != 1 or not isinstance(shape[0], int) or shape[0] < 1:
            raise _fail(f"{key} must be a flat Box (shape (n,)), got {shape!r}", path)
        low = _array_text(space.get("low"), f"{key}.low", path)
        high = _array_text(space.get("high"), f"{key}.high", path)
        if len(low) != shape[0] or len(high) != shape[0]:
            raise _fail(f"{key}.low/high do not match its shape", path)
        return {"kind": "box", "low": low, "high": high}
    raise _fail(f"unsupported {key} type {kind or 'unknown'}", path)


def _activation(data: dict[str, Any], default: str) -> str:
    kwargs = data.get("policy_kwargs")
    text = kwargs.get("activation_fn") if isinstance(kwargs, dict) else None
    if text is None:
        return default
    if isinstance(text, str):
        if text.endswith(".Tanh'>"):
            return "tanh"
        if text.endswith(".ReLU'>"):
            return "relu"
    raise ModelFileError(f"unsupported activation {text!r} (tanh and ReLU are)")


def _chain(state: dict[str, np.ndarray], prefix: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Linear layers ``{prefix}{i}.weight/bias`` in index order."""
    idx = sorted({int(m.group(1)) for k in state if (m := re.fullmatch(re.escape(prefix) + r"(\d+)\.weight", k))})
    layers = []
    for i in idx:
        w, b = state.get(f"{prefix}{i}.weight"), state.get(f"{prefix}{i}.bias")
        if w is None or b is None or w.ndim != 2:
            raise ModelFileError(f"malformed layer {prefix}{i}")
        layers.append((w, b))
    return layers


def _pack(name: str, layers: list[tuple[np.ndarray, np.ndarray]], path: str) -> tuple[list[int], dict[str, np.ndarray]]:
    if not layers:
        raise _fail(f"no layers for the {name}", path)
    sizes = [int(layers[0][0].shape[1])]
    tensors: dict[str, np.ndarray] = {}
    for k, (w, b) in enumerate(layers):
        if w.shape[1] != sizes[-1] or b.shape != (w.shape[0],):
            raise _fail(f"the {name}'s layer {k} does not chain with the previous one", path)
        sizes.append(int(w.shape[0]))
        tensors[f"{name}.{k}.weight"] = w
        tensors[f"{name}.{k}.bias"] = b
    return sizes, tensors


def _load_state_dict(raw: bytes, path: str) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about the pickle protocol of odd files
            state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # the restricted unpickler raises UnpicklingError, RuntimeError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"policy.pth is not a plain tensor state dict (refused: {first[:160]})", path) from None
    if not isinstance(state, dict):
        raise _fail("policy.pth does not hold a state dict", path)
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise _fail("policy.pth holds something other than named tensors", path)
        if not value.is_floating_point():
            continue
        out[key] = value.detach().to(torch.float32).cpu().numpy()
    return out


def load_sb3_zip(path: str | Path, env_id: str | None = None) -> NeuralPolicy:
    """Read a stable-baselines3 archive into a NeuralPolicy, never unpickling its data.

    ``env_id`` names the observations and the action as saferl does for that environment;
    without it they are ``obs0, obs1, ...`` and ``action``.
    """
    from saferl.userfile import check_regular_file, parse_user_json

    p = Path(path)
    where = str(p)
    check_regular_file(p, "model file", ModelFileError, max_bytes=_MAX_ARCHIVE_BYTES)
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(f"not a zip archive ({exc})", where) from None
    with archive:
        try:
            text = _read_member(archive, "data", where).decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("the archive's data member is not JSON", where) from None
        data = parse_user_json(text, where, "the archive's data member", ModelFileError)
        if not isinstance(data, dict):
            raise _fail("the archive's data member is not a JSON object", where)
        state = _load_state_dict(_read_member(archive, "policy.pth", where), where)
    obs = _space(data, "observation_space", where)
    act = _space(data, "action_space", where)
    if obs["kind"] != "box":
        raise _fail("only Box observation spaces are supported", where)
    obs_dim = len(obs["low"])

    critic_tensors: dict[str, np.ndarray] = {}
    critic_section: dict[str, Any] | None = None
    if any(k.startswith("mlp_extractor.") for k in state):  # PPO / A2C
        activation = _activation(data, "tanh")
        layers = _chain(state, "mlp_extractor.policy_net.")
        if "action_net.weight" not in state:
            raise _fail("PPO/A2C policy lacks action_net", where)
        layers.append((state["action_net.weight"], state["action_net.bias"]))
        output = "logits" if act["kind"] == "discrete" else "identity"
        value = _chain(state, "mlp_extractor.value_net.")
        if "value_net.weight" in state:
            value.append((state["value_net.weight"], state["value_net.bias"]))
            c_sizes, critic_tensors = _pack("critic", value, where)
            critic_section = {"kind": "v", "layers": c_sizes, "activation": activation}
        algo = "ppo/a2c"
    elif any(k.startswith("q_net.q_net.") for k in state):  # DQN: the Q net is the actor
        activation = _activation(data, "relu")
        layers = _chain(state, "q_net.q_net.")
        if act["kind"] != "discrete":
            raise _fail("a DQN policy needs a discrete action space", where)
        output = "logits"
        c_sizes, critic_tensors = _pack("critic", layers, where)
        critic_section = {"kind": "q", "layers": c_sizes, "activation": activation}
        algo = "dqn"
    elif any(k.startswith("actor.latent_pi.") for k in state):  # SAC
        activation = _activation(data, "relu")
        layers = _chain(state, "actor.latent_pi.")
        if "actor.mu.weight" not in state:
            raise _fail("SAC policy lacks actor.mu", where)
        layers.append((state["actor.mu.weight"], state["actor.mu.bias"]))
        output = "tanh"
        algo = "sac"
    elif any(k.startswith("actor.mu.") for k in state):  # TD3 / DDPG
        activation = _activation(data, "relu")
        layers = _chain(state, "actor.mu.")
        output = "tanh"
        algo = "td3/ddpg"
    else:
        raise _fail("unrecognised policy (expected PPO, A2C, DQN, SAC, TD3 or DDPG with an MLP)", where)
    if algo in ("sac", "td3/ddpg") and any(k.startswith("critic.qf0.") for k in state):
        c_sizes, critic_tensors = _pack("critic", _chain(state, "critic.qf0."), where)
        critic_section = {"kind": "q", "layers": c_sizes, "activation": activation}
    if act["kind"] == "discrete" and output != "logits":
        raise _fail(f"a {algo} policy cannot have a discrete action space", where)
    if act["kind"] == "box" and output == "logits":
        raise _fail(f"a {algo} policy cannot have a continuous action space", where)
    sizes, tensors = _pack("actor", layers, where)

    from saferl.learn.envs import KNOWN_ENVS

    sig = KNOWN_ENVS.get(env_id) if env_id is not None else None
    obs_names = list(sig.obs_names) if sig is not None and len(sig.obs_names) == obs_dim else [f"obs{i}" for i in range(obs_dim)]
    action_name = sig.action_name if sig is not None else "action"
    if act["kind"] == "discrete":
        labels = (
            list(sig.action_labels)
            if sig is not None and sig.action_labels is not None and len(sig.action_labels) == act["n"]
            else [f"a{i}" for i in range(act["n"])]
        )
        action: dict[str, Any] = {"kind": "discrete", "name": action_name, "labels": labels}
    else:
        if any(not np.isfinite(v) for v in act["low"] + act["high"]):
            raise _fail("the action Box must be bounded", where)
        action = {"kind": "continuous", "name": action_name, "low": act["low"], "high": act["high"]}

    def bound(v: float) -> float | None:
        return None if not np.isfinite(v) else v

    manifest = {
        "format": "saferl-model",
        "version": 1,
        "env_id": env_id,
        "observation": {"names": obs_names, "low": [bound(v) for v in obs["low"]], "high": [bound(v) for v in obs["high"]]},
        "action": action,
        "actor": {"layers": sizes, "activation": activation, "output": output},
        "critic": critic_section,
        "normalisation": None,
        "training": {"algo": algo, "imported_from": "stable-baselines3"},
    }
    return policy_from_parts(manifest, {**tensors, **critic_tensors}, where)
