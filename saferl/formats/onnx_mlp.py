"""Read a multilayer perceptron from an ONNX file, with onnx's protobuf parser only.

Nothing in the file is executed and no runtime is used: the graph is walked as a chain of
operators whose weights are initializers (or ``Constant`` nodes), and the result is a
:class:`~saferl.learn.model.NeuralPolicy` whose numpy inference saferl already trusts.

Accepted chains: linear layers written as ``Gemm`` or ``MatMul`` (+ ``Add``), one hidden
activation (``Relu`` or ``Tanh``) between consecutive layers, and an optional head:
``Tanh`` (a continuous action in [-1, 1]), or ``Softmax`` / ``Sigmoid`` / ``ArgMax``
(discrete; the action is the argmax of the last layer's output).  ``Identity``,
``Flatten`` and ``Cast`` to float are pass-throughs.  Any other operator is refused with
its name.  External tensor data is refused (it would read other files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saferl.errors import Location, MissingDependencyError, ModelFileError
from saferl.formats.names import PolicyNames

__all__ = ["SUPPORTED_OPS", "load_onnx_mlp"]

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Relu", "Tanh", "Sigmoid", "Softmax", "ArgMax", "Identity", "Flatten", "Cast", "Constant")
_MAX_BYTES = 256 * 1024 * 1024
_HINT = "export a plain MLP (Linear + ReLU/Tanh) with torch.onnx.export"


def _fail(message: str, path: str, hint: str | None = _HINT) -> ModelFileError:
    return ModelFileError(message, Location(path), hint=hint)


@dataclass
class _Chain:
    """The MLP as it is read: layers, the activations after each, and the head."""

    weights: list[np.ndarray] = field(default_factory=list)  # (out, in), as torch stores them
    biases: list[np.ndarray] = field(default_factory=list)
    after: list[list[str]] = field(default_factory=list)  # activations/heads after each layer
    open_matmul: bool = False  # the last layer came from MatMul and may still take an Add

    def activation(self, op: str, path: str) -> None:
        if not self.weights:
            raise _fail(f"{op} before any linear layer", path)
        self.after[-1].append(op)
        self.open_matmul = False

    def linear(self, w: np.ndarray, b: np.ndarray, path: str) -> None:
        if self.weights and self.weights[-1].shape[0] != w.shape[1]:
            raise _fail(f"layer {len(self.weights)} takes {w.shape[1]} inputs, the previous gives {self.weights[-1].shape[0]}", path)
        if self.weights and not self.after[-1]:
            raise _fail("two linear layers with no activation between them", path)
        self.weights.append(w)
        self.biases.append(b)
        self.after.append([])


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _array(tensor: Any, path: str) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    if tensor.data_location == TensorProto.EXTERNAL:
        raise _fail(f"tensor {tensor.name!r} keeps its data in an external file, which saferl does not read", path)
    try:
        array = numpy_helper.to_array(tensor)
    except Exception as exc:  # onnx raises several types for malformed tensors
        raise _fail(f"tensor {tensor.name!r} cannot be read ({type(exc).__name__})", path) from None
    if array.dtype.kind not in "fiu":
        raise _fail(f"tensor {tensor.name!r} has dtype {array.dtype}, expected numbers", path)
    return np.asarray(array, dtype=np.float64)


def _parse(path: Path) -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError("onnx", "learn") from None
    where = str(path)
    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise _fail(f"file is too large ({size} bytes)", where)
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read the file ({exc.strerror})", where, None) from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # protobuf's DecodeError and friends
        raise _fail("not an ONNX model (the protobuf does not parse)", where) from None
    if not model.HasField("graph") or not model.graph.node:
        raise _fail("not an ONNX model (no graph)", where)
    return model.graph


def _walk(graph: Any, where: str) -> tuple[_Chain, int]:
    consts: dict[str, np.ndarray] = {t.name: _array(t, where) for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise _fail(f"the graph has {len(inputs)} inputs and {len(graph.output)} outputs; a policy has one of each", where)
    current = inputs[0]
    chain = _Chain()
    for node in graph.node:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise _fail(f"unsupported ONNX operator {node.domain}.{op} (supported: {', '.join(SUPPORTED_OPS)})", where)
        if op not in SUPPORTED_OPS:
            raise _fail(f"unsupported ONNX operator {op} (supported: {', '.join(SUPPORTED_OPS)})", where)
        attrs = _attrs(node)
        if op == "Constant":
            if "value" not in attrs or len(node.output) != 1:
                raise _fail("a Constant node without a tensor value", where)
            consts[node.output[0]] = _array(attrs["value"], where)
            continue
        if len(node.output) != 1:
            raise _fail(f"{op} node with {len(node.output)} outputs", where)
        data_inputs = [n for n in node.input if n and n not in consts]
        if data_inputs != [current]:
            raise _fail(f"the graph is not a single chain (node {node.name or op} does not read the previous result alone)", where)
        params = [consts[n] for n in node.input if n and n in consts]
        if op == "Gemm":
            if node.input[0] != current or len(params) not in (1, 2):
                raise _fail("Gemm must multiply the previous result by a constant matrix", where)
            if attrs.get("transA", 0):
                raise _fail("Gemm with transA is not an MLP layer", where)
            b_mat = params[0]
            w = b_mat if attrs.get("transB", 0) else b_mat.T
            w = float(attrs.get("alpha", 1.0)) * w
            bias = float(attrs.get("beta", 1.0)) * (params[1] if len(params) == 2 else np.zeros(w.shape[0]))
            if w.ndim != 2 or np.broadcast_shapes(bias.shape, (w.shape[0],)) != (w.shape[0],):
                raise _fail("Gemm weights have the wrong shape", where)
            chain.linear(w, np.broadcast_to(bias, (w.shape[0],)).copy(), where)
        elif op == "MatMul":
            if node.input[0] != current or len(params) != 1 or params[0].ndim != 2:
                raise _fail("MatMul must multiply the previous result by a constant matrix", where)
            chain.linear(params[0].T, np.zeros(params[0].shape[1]), where)
            chain.open_matmul = True
        elif op == "Add":
            if not chain.open_matmul or len(params) != 1:
                raise _fail("Add is read only as the bias of a MatMul layer", where)
            bias = params[0].reshape(-1)
            if bias.shape != chain.biases[-1].shape:
                raise _fail("Add's bias does not match the MatMul layer's width", where)
            chain.biases[-1] = chain.biases[-1] + bias
            chain.open_matmul = False
        elif op in ("Relu", "Tanh", "Sigmoid", "Softmax", "ArgMax"):
            if op in ("Softmax", "ArgMax") and attrs.get("axis", -1 if op == "Softmax" else 0) not in (1, -1):
                raise _fail(f"{op} must work on the last axis", where)
            chain.activation(op, where)
        elif op == "Flatten" and attrs.get("axis", 1) != 1:
            raise _fail("Flatten must keep the batch axis", where)
        elif op == "Cast" and attrs.get("to") not in (1, 10, 11):  # FLOAT, FLOAT16, DOUBLE
            raise _fail("Cast to a non-float type", where)
        current = node.output[0]
    if current != graph.output[0].name:
        raise _fail("the graph's output is not the end of the chain", where)
    if not chain.weights:
        raise _fail("the graph has no linear layer", where)
    return chain, int(chain.weights[0].shape[1])


def _structure(chain: _Chain, where: str) -> tuple[str, str]:
    """(hidden activation, head) where head is 'none', 'tanh' or 'discrete'."""
    hidden = set()
    for k, ops in enumerate(chain.after[:-1]):
        if len(ops) != 1 or ops[0] not in ("Relu", "Tanh"):
            raise _fail(f"after layer {k} saferl reads one Relu or Tanh, found {' + '.join(ops) or 'nothing'}", where)
        hidden.add(ops[0])
    if len(hidden) > 1:
        raise _fail("hidden layers mix Relu and Tanh; saferl's model format has one activation", where)
    activation = {"Relu": "relu", "Tanh": "tanh"}[hidden.pop()] if hidden else "tanh"
    head_ops = chain.after[-1]
    if not head_ops:
        return activation, "none"
    if head_ops == ["Tanh"]:
        return activation, "tanh"
    squash = [op for op in head_ops if op != "ArgMax"]
    if len(squash) <= 1 and all(op in ("Softmax", "Sigmoid") for op in squash) and head_ops.count("ArgMax") <= 1:
        if "ArgMax" in head_ops and head_ops[-1] != "ArgMax":
            raise _fail("ArgMax must end the graph", where)
        return activation, "discrete"
    raise _fail(f"unsupported output head {' + '.join(head_ops)}", where)


def load_onnx_mlp(path: str | Path, env_id: str | None = None, names: PolicyNames | None = None) -> Any:
    """A :class:`~saferl.learn.model.NeuralPolicy` from an ONNX MLP (never executed).

    Whether the output is a discrete choice (logits, or a ``Softmax`` / ``ArgMax`` head)
    or a continuous action is read from the head, else from the environment ``env_id``,
    else from ``names`` (labels: discrete; a range: continuous).

    Example:
        >>> policy = load_onnx_mlp("cartpole.onnx", env_id="CartPole-v1")   # doctest: +SKIP
    """
    from saferl.learn.model import policy_from_parts

    p = Path(path)
    where = str(p)
    names = names or PolicyNames()
    chain, n_obs = _walk(_parse(p), where)
    activation, head = _structure(chain, where)
    n_out = int(chain.weights[-1].shape[0])
    from saferl.learn.envs import env_signature

    sig = env_signature(env_id) if env_id is not None else None
    if head == "discrete":
        discrete = True
    elif head == "tanh":
        discrete = False
    elif sig is not None:
        discrete = sig.discrete
    elif names.labels is not None:
        discrete = True
    elif names.low is not None and names.high is not None:
        discrete = False
    else:
        raise _fail(
            "cannot tell whether the output is logits or a continuous action", where,
            hint="pass --env, or --labels (discrete) or --action-low/--action-high (continuous)",
        )
    obs_names = list(names.obs_for(n_obs, env_id))
    action_name = names.action_for(env_id)
    action: dict[str, Any]
    if discrete:
        if n_out < 2:
            raise _fail(f"a discrete policy needs at least two outputs, the graph has {n_out}", where)
        action = {"kind": "discrete", "name": action_name, "labels": list(names.labels_for(n_out, env_id))}
        output = "logits"
    elif head == "tanh":
        action = {"kind": "continuous", "name": action_name, "low": [-1.0] * n_out, "high": [1.0] * n_out}
        output = "tanh"
    else:
        rng = names.range_for(env_id)
        if rng is None:
            raise _fail("a continuous action needs a range", where, hint="pass --env or --action-low/--action-high")
        action = {"kind": "continuous", "name": action_name, "low": [rng[0]] * n_out, "high": [rng[1]] * n_out}
        output = "identity"
    bounds = sig.obs_bounds if sig is not None and len(sig.obs_bounds) == n_obs else ()
    manifest = {
        "format": "saferl-model",
        "version": 1,
        "env_id": env_id,
        "observation": {
            "names": obs_names,
            "low": [b[0] if b is not None else None for b in bounds] or [None] * n_obs,
            "high": [b[1] if b is not None else None for b in bounds] or [None] * n_obs,
        },
        "action": action,
        "actor": {"layers": [n_obs] + [int(w.shape[0]) for w in chain.weights], "activation": activation, "output": output},
        "critic": None,
        "normalisation": None,
        "training": {"imported_from": "onnx", "file": p.name},
    }
    tensors: dict[str, np.ndarray] = {}
    for k, (w, b) in enumerate(zip(chain.weights, chain.biases, strict=True)):
        tensors[f"actor.{k}.weight"] = w.astype(np.float32)
        tensors[f"actor.{k}.bias"] = b.astype(np.float32)
    return policy_from_parts(manifest, tensors, where)
