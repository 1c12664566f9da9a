"""saferl's neural-policy format: safetensors weights beside a JSON manifest.

A model is a directory holding ``manifest.json`` and ``model.safetensors``.  The manifest
names the observation and action spaces, the actor (and optional critic) architecture and
activation, and an optional observation normalisation; the weights file holds plain
float32 tensors named ``actor.<k>.weight`` / ``actor.<k>.bias`` (``k`` counts the linear
layers from 0) and likewise ``critic.<k>...``.  Loading never unpickles anything and needs
neither torch nor gymnasium: inference is a few numpy matrix products.

Manifest (version 1)::

    {"format": "saferl-model", "version": 1, "env_id": "CartPole-v1",
     "observation": {"names": [...], "low": [...], "high": [...]},   # null = unbounded
     "action": {"kind": "discrete", "name": "push", "labels": ["left", "right"]}
            or {"kind": "continuous", "name": "force", "low": [-1.0], "high": [1.0]},
     "actor":  {"layers": [4, 64, 64, 2], "activation": "tanh", "output": "logits"},
     "critic": {"kind": "q", "layers": [4, 64, 64, 2], "activation": "tanh"} or null,
     "normalisation": {"obs_mean": [...], "obs_std": [...], "clip": 10.0} or null,
     "training": {...}}

``actor.output`` is ``logits`` (discrete: argmax), ``tanh`` (continuous: tanh squashed into
the action box) or ``identity`` (continuous: clipped into the box).  A discrete critic of
kind ``q`` maps an observation to one value per action; a continuous one maps the
concatenated (observation, action) to one value; kind ``v`` maps an observation to V(s).

Example:
    >>> import numpy as np
    >>> from saferl.learn.model import load_model
    >>> policy = load_model("oracles/cartpole-ppo")          # doctest: +SKIP
    >>> policy.act(np.zeros(4, dtype=np.float32))             # doctest: +SKIP
    1
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saferl.errors import Location, ModelFileError

__all__ = [
    "MANIFEST_NAME",
    "WEIGHTS_NAME",
    "ACTIVATIONS",
    "NeuralPolicy",
    "load_model",
    "save_model",
    "parse_manifest",
]

MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "model.safetensors"
ACTIVATIONS = ("tanh", "relu")
_MAX_WEIGHTS_BYTES = 256 * 1024 * 1024
_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_MAX_WIDTH = 65536


def _activate(name: str, x: np.ndarray) -> np.ndarray:
    if name == "tanh":
        return np.tanh(x)
    return np.maximum(x, 0.0)


@dataclass(frozen=True)
class MLP:
    """A plain multilayer perceptron: ``weights[k]`` has shape (out, in), as in torch."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = x
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if k < last:
                h = _activate(self.activation, h)
        return h


@dataclass(frozen=True)
class NeuralPolicy:
    """A neural policy loaded from saferl's format (or imported from stable-baselines3).

    Satisfies saferl's policy protocol: ``act(obs) -> action`` (an ``int`` for discrete
    actions, a float32 array of shape ``(action_dim,)`` for continuous ones).
    """

    manifest: dict[str, Any]
    actor: MLP
    critic: MLP | None = None
    obs_mean: np.ndarray | None = None
    obs_std: np.ndarray | None = None
    obs_clip: float | None = None
    tensors: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    # -- spaces ---------------------------------------------------------------------
    @property
    def env_id(self) -> str | None:
        """The gymnasium id the model was trained on, if recorded."""
        value = self.manifest.get("env_id")
        return value if isinstance(value, str) else None

    @property
    def obs_names(self) -> list[str]:
        """Observation names, in order."""
        return list(self.manifest["observation"]["names"])

    @property
    def discrete(self) -> bool:
        """True for a discrete action space."""
        return bool(self.manifest["action"]["kind"] == "discrete")

    @property
    def n_actions(self) -> int:
        """Number of discrete actions (discrete models only)."""
        return len(self.manifest["action"]["labels"])

    @property
    def action_low(self) -> np.ndarray:
        """Lower bounds of a continuous action."""
        return np.asarray(self.manifest["action"]["low"], dtype=np.float32)

    @property
    def action_high(self) -> np.ndarray:
        """Upper bounds of a continuous action."""
        return np.asarray(self.manifest["action"]["high"], dtype=np.float32)

    # -- inference ------------------------------------------------------------------
    def _prepare(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        if self.obs_mean is not None and self.obs_std is not None:
            x = (x - self.obs_mean) / self.obs_std
            if self.obs_clip is not None:
                x = np.clip(x, -self.obs_clip, self.obs_clip)
        return x.astype(np.float32, copy=False)

    def actor_output(self, obs_batch: np.ndarray) -> np.ndarray:
        """Raw actor output for a batch of observations (logits, or pre-squash actions)."""
        return self.actor(self._prepare(np.atleast_2d(obs_batch)))

    def act_batch(self, obs_batch: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch: int64 indices, or float32 actions of shape (N, d)."""
        out = self.actor_output(obs_batch)
        if self.discrete:
            return np.argmax(out, axis=1).astype(np.int64)
        low, high = self.action_low, self.action_high
        if self.manifest["actor"]["output"] == "tanh":
            action = low + (np.tanh(out) + 1.0) * 0.5 * (high - low)
        else:
            action = out
        return np.clip(action, low, high).astype(np.float32)

    def act(self, obs: np.ndarray) -> Any:
        """The greedy action for one observation."""
        action = self.act_batch(np.asarray(obs, dtype=np.float32).reshape(1, -1))[0]
        return int(action) if self.discrete else action

    def q_values(self, obs_batch: np.ndarray) -> np.ndarray:
        """Q(s, a) for every discrete action: shape (N, n_actions)."""
        if self.critic is None or not self.discrete or self.manifest["critic"]["kind"] != "q":
            raise ModelFileError("this model has no discrete Q critic")
        return self.critic(self._prepare(np.atleast_2d(obs_batch)))

    def q_value(self, obs_batch: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Q(s, a) for continuous actions: shape (N,)."""
        if self.critic is None or self.discrete or self.manifest["critic"]["kind"] != "q":
            raise ModelFileError("this model has no continuous Q critic")
        x = self._prepare(np.atleast_2d(obs_batch))
        a = np.asarray(actions, dtype=np.float32).reshape(len(x), -1)
        return self.critic(np.concatenate([x, a], axis=1))[:, 0]


# -- manifest validation -------------------------------------------------------------


def _fail(message: str, path: str) -> ModelFileError:
    return ModelFileError(message, Location(path))


def _float_list(value: Any, what: str, path: str, allow_null: bool = False) -> list[float]:
    if not isinstance(value, list):
        raise _fail(f"{what} must be a list of numbers", path)
    result = []
    for item in value:
        if item is None and allow_null:
            result.append(math.inf)
            continue
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise _fail(f"{what} must hold finite numbers", path)
        result.append(float(item))
    return result


def _layers(section: dict[str, Any], what: str, path: str) -> list[int]:
    layers = section.get("layers")
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or len(layers) > 16
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= _MAX_WIDTH for n in layers)
    ):
        raise _fail(f"{what}.layers must be 2 to 16 positive layer widths", path)
    act = section.get("activation")
    if act not in ACTIVATIONS:
        raise _fail(f"{what}.activation must be one of {', '.join(ACTIVATIONS)}", path)
    return layers


def parse_manifest(data: Any, path: str = MANIFEST_NAME) -> dict[str, Any]:
    """Check a decoded manifest; return it, or raise ModelFileError naming the problem."""
    if not isinstance(data, dict):
        raise _fail("manifest must be a JSON object", path)
    if data.get("format") != "saferl-model":
        raise _fail("not a saferl model manifest (format must be 'saferl-model')", path)
    if data.get("version") != 1:
        raise _fail(f"unsupported manifest version {data.get('version')!r}", path)
    obs = data.get("observation")
    if not isinstance(obs, dict):
        raise _fail("manifest needs an 'observation' object", path)
    names = obs.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise _fail("observation.names must be a non-empty list of identifiers", path)
    for key in ("low", "high"):
        if key in obs and len(_float_list(obs[key], f"observation.{key}", path, True)) != len(names):
            raise _fail(f"observation.{key} must have one entry per observation", path)
    action = data.get("action")
    if not isinstance(action, dict) or action.get("kind") not in ("discrete", "continuous"):
        raise _fail("action.kind must be 'discrete' or 'continuous'", path)
    if not isinstance(action.get("name"), str) or not action["name"].isidentifier():
        raise _fail("action.name must be an identifier", path)
    actor = data.get("actor")
    if not isinstance(actor, dict):
        raise _fail("manifest needs an 'actor' object", path)
    layers = _layers(actor, "actor", path)
    if layers[0] != len(names):
        raise _fail("actor input width must equal the number of observations", path)
    if action["kind"] == "discrete":
        labels = action.get("labels")
        if not isinstance(labels, list) or len(labels) < 2 or not all(
            isinstance(x, str) and x.isidentifier() for x in labels
        ):
            raise _fail("action.labels must list at least two identifiers", path)
        if actor.get("output") != "logits" or layers[-1] != len(labels):
            raise _fail("a discrete actor must output one logit per action label", path)
        act_dim = len(labels)
    else:
        low = _float_list(action.get("low"), "action.low", path)
        high = _float_list(action.get("high"), "action.high", path)
        if not low or len(low) != len(high) or any(lo >= hi for lo, hi in zip(low, high, strict=True)):
            raise _fail("action.low and action.high must be equal-length lists with low < high", path)
        if actor.get("output") not in ("tanh", "identity") or layers[-1] != len(low):
            raise _fail("a continuous actor must output 'tanh' or 'identity', one unit per action", path)
        act_dim = len(low)
    critic = data.get("critic")
    if critic is not None:
        if not isinstance(critic, dict) or critic.get("kind") not in ("q", "v"):
            raise _fail("critic.kind must be 'q' or 'v'", path)
        c_layers = _layers(critic, "critic", path)
        if critic["kind"] == "v":
            expected = (len(names), 1)
        elif action["kind"] == "discrete":
            expected = (len(names), act_dim)
        else:
            expected = (len(names) + act_dim, 1)
        if (c_layers[0], c_layers[-1]) != expected:
            raise _fail(f"critic layers must go from {expected[0]} inputs to {expected[1]} outputs", path)
    norm = data.get("normalisation")
    if norm is not None:
        if not isinstance(norm, dict):
            raise _fail("normalisation must be an object or null", path)
        mean = _float_list(norm.get("obs_mean"), "normalisation.obs_mean", path)
        std = _float_list(norm.get("obs_std"), "normalisation.obs_std", path)
        if len(mean) != len(names) or len(std) != len(names) or any(s <= 0 for s in std):
            raise _fail("normalisation needs obs_mean and positive obs_std per observation", path)
        clip = norm.get("clip")
        if clip is not None and (not isinstance(clip, int | float) or isinstance(clip, bool) or clip <= 0):
            raise _fail("normalisation.clip must be a positive number or null", path)
    return data


def _mlp(prefix: str, layers: list[int], activation: str, tensors: dict[str, np.ndarray], path: str) -> MLP:
    weights, biases = [], []
    for k in range(len(layers) - 1):
        w = tensors.get(f"{prefix}.{k}.weight")
        b = tensors.get(f"{prefix}.{k}.bias")
        if w is None or b is None:
            raise _fail(f"weights file lacks tensor {prefix}.{k}.weight or .bias", path)
        if w.shape != (layers[k + 1], layers[k]) or b.shape != (layers[k + 1],):
            raise _fail(
                f"tensor {prefix}.{k} has shape {tuple(w.shape)}/{tuple(b.shape)}, "
                f"manifest says ({layers[k + 1]}, {layers[k]})",
                path,
            )
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise _fail(f"tensor {prefix}.{k} holds non-finite values", path)
        weights.append(w.astype(np.float32))
        biases.append(b.astype(np.float32))
    return MLP(tuple(weights), tuple(biases), activation)


def policy_from_parts(manifest: dict[str, Any], tensors: dict[str, np.ndarray], path: str = "<model>") -> NeuralPolicy:
    """Build a :class:`NeuralPolicy` from a manifest and a name -> array mapping."""
    manifest = parse_manifest(manifest, path)
    actor = _mlp("actor", manifest["actor"]["layers"], manifest["actor"]["activation"], tensors, path)
    critic = None
    if manifest.get("critic") is not None:
        c = manifest["critic"]
        critic = _mlp("critic", c["layers"], c["activation"], tensors, path)
    mean = std = None
    clip = None
    norm = manifest.get("normalisation")
    if norm is not None:
        mean = np.asarray(norm["obs_mean"], dtype=np.float32)
        std = np.asarray(norm["obs_std"], dtype=np.float32)
        clip = None if norm.get("clip") is None else float(norm["clip"])
    return NeuralPolicy(manifest, actor, critic, mean, std, clip, dict(tensors))


def load_model(directory: str | Path) -> NeuralPolicy:
    """Load a model directory (``manifest.json`` + ``model.safetensors``); never unpickles."""
    from saferl.userfile import check_directory, parse_user_json, read_user_text

    root = Path(directory)
    check_directory(root, "model directory", ModelFileError, hint="pass the directory `saferl train -o` wrote")
    mpath = root / MANIFEST_NAME
    wpath = root / WEIGHTS_NAME
    for p in (mpath, wpath):
        if not p.is_file():
            raise ModelFileError(f"missing {p.name}", Location(str(root)))
    if mpath.stat().st_size > _MAX_MANIFEST_BYTES:
        raise _fail("manifest is too large", str(mpath))
    text = read_user_text(mpath, "manifest", ModelFileError, max_bytes=_MAX_MANIFEST_BYTES)
    data = parse_user_json(text, str(mpath), "manifest", ModelFileError)
    manifest = parse_manifest(data, str(mpath))
    tensors = read_safetensors(wpath)
    return policy_from_parts(manifest, tensors, str(wpath))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file into float32 numpy arrays, with ModelFileError on any defect."""
    if path.stat().st_size > _MAX_WEIGHTS_BYTES:
        raise _fail("weights file is too large", str(path))
    try:
        from safetensors.numpy import load
    except ImportError:
        from saferl.errors import MissingDependencyError

        raise MissingDependencyError("safetensors", "learn") from None
    try:
        raw = load(path.read_bytes())
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise _fail(f"not a valid safetensors file ({type(exc).__name__})", str(path)) from None
    tensors: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        if array.dtype not in (np.float32, np.float64, np.float16):
            raise _fail(f"tensor {name} has dtype {array.dtype}, expected floats", str(path))
        tensors[name] = np.asarray(array, dtype=np.float32)
    return tensors


def save_model(directory: str | Path, manifest: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write ``manifest.json`` and ``model.safetensors`` into ``directory`` (created)."""
    from safetensors.numpy import save_file

    root = Path(directory)
    policy_from_parts(manifest, tensors, str(root))  # validate before writing anything
    root.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(tensors.items())}
    save_file(arrays, str(root / WEIGHTS_NAME), metadata={"format": "saferl-model"})
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return root
