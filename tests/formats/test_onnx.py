"""ONNX MLPs are read with onnx's protobuf parser only, and act exactly as the network does."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run
from saferl.errors import ModelFileError
from saferl.formats import detect_format, load_policy_file

from .conftest import cartpole_states

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_exported_cartpole_oracle_reads_back_identically(cartpole_onnx: Path, cartpole_oracle) -> None:  # type: ignore[no-untyped-def]
    """Target: identical actions on 10^4 states (against the oracle and onnxruntime)."""
    assert detect_format(cartpole_onnx) == "onnx"
    policy = load_policy_file(cartpole_onnx, env_id="CartPole-v1")
    assert policy.obs_names == cartpole_oracle.obs_names
    assert policy.manifest["action"]["labels"] == ["left", "right"]
    states = cartpole_states(10_000)
    ours = policy.act_batch(states)
    assert np.array_equal(ours, cartpole_oracle.act_batch(states))
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(cartpole_onnx), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"obs": states})[0].argmax(axis=1)
    assert np.array_equal(ours, reference)


def _graph_model(nodes: list, inits: list, out_dim: int, path: Path, in_dim: int = 3) -> Path:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", in_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


def _weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32),
        rng.standard_normal((8, 2)).astype(np.float32), rng.standard_normal(2).astype(np.float32),
    )


def test_matmul_add_relu_softmax_argmax_graph(tmp_path: Path) -> None:
    w1, b1, w2, b2 = _weights()
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h1"]), helper.make_node("Add", ["h1", "B1"], ["h2"]),
        helper.make_node("Relu", ["h2"], ["h3"]), helper.make_node("MatMul", ["h3", "W2"], ["h4"]),
        helper.make_node("Add", ["B2", "h4"], ["h5"]), helper.make_node("Softmax", ["h5"], ["h6"], axis=-1),
        helper.make_node("ArgMax", ["h6"], ["y"], axis=1, keepdims=0),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2, "W2"), (b2, "B2"))]
    path = _graph_model(nodes, inits, 2, tmp_path / "m.onnx")
    policy = load_policy_file(path)  # the ArgMax head says: discrete
    assert policy.discrete and policy.obs_names == ["obs0", "obs1", "obs2"]
    x = np.random.default_rng(1).standard_normal((2000, 3)).astype(np.float32)
    expected = np.argmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2, axis=1)
    assert np.array_equal(policy.act_batch(x), expected)


def test_tanh_head_is_a_continuous_action(tmp_path: Path) -> None:
    w1, b1, w2, b2 = _weights()
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h1"]), helper.make_node("Tanh", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "W2", "B2"], ["h3"]), helper.make_node("Tanh", ["h3"], ["y"]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2[:, :1].copy(), "W2"), (b2[:1].copy(), "B2"))]
    policy = load_policy_file(_graph_model(nodes, inits, 1, tmp_path / "c.onnx"))
    assert not policy.discrete
    x = np.random.default_rng(2).standard_normal((500, 3)).astype(np.float32)
    expected = np.tanh(np.tanh(x @ w1 + b1) @ w2[:, :1] + b2[:1])
    assert np.allclose(policy.act_batch(x), expected, atol=1e-6)


@pytest.mark.parametrize("op", ["Conv", "LSTM", "Loop"])
def test_other_operators_are_refused_by_name(tmp_path: Path, op: str) -> None:
    w1, b1, _, _ = _weights()
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h1"]), helper.make_node(op, ["h1"], ["y"])]
    path = _graph_model(nodes, [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(b1, "B1")], 8, tmp_path / "op.onnx")
    with pytest.raises(ModelFileError, match=f"unsupported ONNX operator {op} \\(supported: Gemm, MatMul"):
        load_policy_file(path, env_id="CartPole-v1")
    code, out, err = _cli("eval", str(path), "--env", "CartPole-v1", "-n", "1")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and f"unsupported ONNX operator {op}" in err


def test_external_data_is_refused(tmp_path: Path) -> None:
    w1, b1, _, _ = _weights()
    tensor = numpy_helper.from_array(w1, "W1")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "/etc/passwd"
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["y"])]
    path = _graph_model(nodes, [tensor, numpy_helper.from_array(b1, "B1")], 8, tmp_path / "ext.onnx")
    with pytest.raises(ModelFileError, match="external file"):
        load_policy_file(path, env_id="CartPole-v1")


def test_ambiguous_output_needs_an_env(tmp_path: Path) -> None:
    w1, b1, w2, b2 = _weights()
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h1"]), helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "W2", "B2"], ["y"]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2, "W2"), (b2, "B2"))]
    path = _graph_model(nodes, inits, 2, tmp_path / "amb.onnx")
    with pytest.raises(ModelFileError, match="cannot tell whether the output is logits"):
        load_policy_file(path)


def test_garbage_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\xff\xff\xff garbage")
    code, out, err = _cli("eval", str(path), "--env", "CartPole-v1", "-n", "1")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "not an ONNX model" in err


def test_cli_import_and_eval_of_onnx(tmp_path: Path, cartpole_onnx: Path, cartpole_oracle) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "imported"
    code, out, err = _cli("import", str(cartpole_onnx), "--env", "CartPole-v1", "-o", str(target))
    assert code == 0, err
    assert "MLP 4-64-64-2 (tanh)" in out
    from saferl.learn.model import load_model

    states = cartpole_states(2000, seed=3)
    assert np.array_equal(load_model(target).act_batch(states), cartpole_oracle.act_batch(states))
    code, out, err = _cli("eval", str(cartpole_onnx), "--env", "CartPole-v1", "-n", "2", "--format", "json")
    assert code == 0, err


def test_a_two_dimensional_continuous_onnx_policy_in_eval(tmp_path: Path) -> None:
    pytest.importorskip("Box2D")
    rng = np.random.default_rng(4)
    w1, b1 = rng.standard_normal((8, 16)).astype(np.float32), np.zeros(16, np.float32)
    w2, b2 = rng.standard_normal((16, 2)).astype(np.float32), np.zeros(2, np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h1"]), helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("Gemm", ["h2", "W2", "B2"], ["h3"]), helper.make_node("Tanh", ["h3"], ["y"]),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "W1"), (b1, "B1"), (w2, "W2"), (b2, "B2"))]
    path = _graph_model(nodes, inits, 2, tmp_path / "lander.onnx", in_dim=8)
    code, out, err = _cli("eval", str(path), "--env", "LunarLanderContinuous-v3", "-n", "1", "--max-steps", "50")
    assert code == 0, err
