"""Any gymnasium environment with a flat Box observation, end to end through the CLI:
Acrobot-v1 and LunarLander-v3 (extract a tree, verify a spec of ours, shield the oracle).

The oracles are tiny hand-set networks (no training): Acrobot's pumps energy by torquing
along the second joint's angular velocity; LunarLander's is random.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from saferl.cli import run

pytest.importorskip("gymnasium")
pytest.importorskip("sklearn")


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def _save_oracle(path: Path, names: list[str], labels: list[str], w1: np.ndarray, w2: np.ndarray, env_id: str) -> Path:
    from saferl.learn.model import save_model

    manifest = {
        "format": "saferl-model", "version": 1, "env_id": env_id,
        "observation": {"names": names},
        "action": {"kind": "discrete", "name": "action", "labels": labels},
        "actor": {"layers": [len(names), w1.shape[0], len(labels)], "activation": "tanh", "output": "logits"},
        "critic": None, "normalisation": None, "training": {"algo": "hand-set"},
    }
    tensors = {
        "actor.0.weight": w1.astype(np.float32), "actor.0.bias": np.zeros(w1.shape[0], np.float32),
        "actor.1.weight": w2.astype(np.float32), "actor.1.bias": np.zeros(len(labels), np.float32),
    }
    return save_model(path, manifest, tensors)


ACROBOT_NAMES = "cos1,sin1,cos2,sin2,dtheta1,dtheta2"

ACROBOT_SPEC = """\
spec: acrobot-pump
observations:
  cos1: [-1, 1]
  sin1: [-1, 1]
  cos2: [-1, 1]
  sin2: [-1, 1]
  dtheta1: [-12.57, 12.57]
  dtheta2: [-28.28, 28.28]
properties:
  - id: pump-positive
    kind: invariant
    when: dtheta2 > 1.0
    require: torque == pos
  - id: pump-negative
    kind: invariant
    when: dtheta2 < -1.0
    require: torque == neg
  - id: torque-is-a-label
    kind: bounds
    action: torque
    allowed: [neg, zero, pos]
"""

ACROBOT_FALLBACK = """\
policy acrobot_pump
obs cos1: float32
obs sin1: float32
obs cos2: float32
obs sin2: float32
obs dtheta1: float32
obs dtheta2: float32
act torque: discrete {neg = 0, zero = 1, pos = 2}

if dtheta2 <= 0.0 {
  torque = neg
} else {
  torque = pos
}
"""


def test_acrobot_end_to_end(tmp_path: Path) -> None:
    w1 = np.zeros((2, 6))
    w1[0, 5], w1[1, 5] = 4.0, -4.0
    w2 = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    oracle = _save_oracle(tmp_path / "oracle", [f"obs{i}" for i in range(6)], ["a0", "a1", "a2"], w1, w2, "Acrobot-v1")
    code, out, err = _cli("eval", str(oracle), "--env", "Acrobot-v1", "-n", "2", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["mean_return"] > -500  # the pumping oracle swings up

    tree = tmp_path / "acrobot.pol"
    code, out, err = _cli(
        "extract", "--oracle", str(oracle), "--env", "Acrobot-v1", "--iters", "2", "--episodes", "2",
        "--max-leaves", "4", "--obs-names", ACROBOT_NAMES, "--action-name", "torque", "--labels", "neg,zero,pos",
        "-o", str(tree), "--format", "json",
    )
    assert code == 0, err
    text = tree.read_text()
    assert "obs dtheta1: float32 in [-12.566370964050293, 12.566370964050293]" in text
    assert "act torque: discrete {neg = 0, zero = 1, pos = 2}" in text
    assert json.loads(out)["fidelity"] > 0.8

    spec = tmp_path / "acrobot.yaml"
    spec.write_text(ACROBOT_SPEC)
    code, out, err = _cli("verify", str(tree), "--spec", str(spec), "--format", "json")
    assert code in (0, 1), err  # a verdict (a replayed counterexample if UNSAFE), never a tool error
    verdicts = {p["id"]: p["verdict"] for p in json.loads(out)["results"][0]["properties"]}
    assert verdicts["torque-is-a-label"] == "SAFE"

    fallback = tmp_path / "pump.pol"
    fallback.write_text(ACROBOT_FALLBACK)
    code, out, err = _cli(
        "shield", "run", "--policy", str(oracle), "--fallback", str(fallback), "--spec", str(spec),
        "--env", "Acrobot-v1", "--episodes", "2", "--format", "json", "-q",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["verified"] and summary["shielded"]["violations"] == 0


LUNAR_SPEC = """\
spec: lunar-landed
observations:
  obs0: [-2.5, 2.5]
  obs1: [-2.5, 2.5]
  obs2: [-10, 10]
  obs3: [-10, 10]
  obs4: [-6.2832, 6.2832]
  obs5: [-10, 10]
  obs6: [0, 1]
  obs7: [0, 1]
properties:
  - id: landed-idle
    kind: invariant
    when: obs6 > 0.5 and obs7 > 0.5
    require: action == a0
  - id: action-is-a-label
    kind: bounds
    action: action
    allowed: [a0, a1, a2, a3]
"""

LUNAR_FALLBACK = """\
policy lunar_idle
obs obs0: float32
obs obs1: float32
obs obs2: float32
obs obs3: float32
obs obs4: float32
obs obs5: float32
obs obs6: float32
obs obs7: float32
act action: discrete {a0 = 0, a1 = 1, a2 = 2, a3 = 3}

if obs1 <= 0.5 {
  if obs6 <= 0.5 {
    action = a2
  } else {
    action = a0
  }
} else {
  action = a0
}
"""


def test_lunarlander_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("Box2D")
    rng = np.random.default_rng(0)
    oracle = _save_oracle(
        tmp_path / "oracle", [f"obs{i}" for i in range(8)], ["a0", "a1", "a2", "a3"],
        rng.standard_normal((8, 8)), rng.standard_normal((4, 8)), "LunarLander-v3",
    )
    tree = tmp_path / "lunar.pol"
    code, out, err = _cli(
        "extract", "--oracle", str(oracle), "--env", "LunarLander-v3", "--iters", "1", "--episodes", "2",
        "--max-leaves", "6", "-o", str(tree), "--format", "json",
    )
    assert code == 0, err
    text = tree.read_text()
    assert "policy lunarlander_viper" in text and "act action: discrete {a0 = 0, a1 = 1, a2 = 2, a3 = 3}" in text
    assert "obs obs6: float32 in [0.0, 1.0]" in text

    spec = tmp_path / "lunar.yaml"
    spec.write_text(LUNAR_SPEC)
    code, out, err = _cli("verify", str(tree), "--spec", str(spec), "--format", "json")
    assert code in (0, 1), err
    assert {p["id"]: p["verdict"] for p in json.loads(out)["results"][0]["properties"]}["action-is-a-label"] == "SAFE"

    fallback = tmp_path / "idle.pol"
    fallback.write_text(LUNAR_FALLBACK)
    code, out, err = _cli(
        "shield", "run", "--policy", str(oracle), "--fallback", str(fallback), "--spec", str(spec),
        "--env", "LunarLander-v3", "--episodes", "2", "--max-steps", "300", "--format", "json", "-q",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["verified"] and summary["shielded"]["violations"] == 0 and summary["shielded"]["steps"] > 0


def test_repair_with_a_generic_env(tmp_path: Path) -> None:
    spec = tmp_path / "acrobot.yaml"
    spec.write_text(ACROBOT_SPEC)
    broken = tmp_path / "broken.pol"
    broken.write_text(ACROBOT_FALLBACK.replace("torque = pos", "torque = zero"))
    fixed = tmp_path / "fixed.pol"
    code, out, err = _cli(
        "repair", str(broken), "--spec", str(spec), "--env", "Acrobot-v1", "--episodes", "2", "--timeout", "20",
        "--format", "json", "-q", "-o", str(fixed),
    )
    assert code == 0, err
    assert _cli("verify", str(fixed), "--spec", str(spec))[0] == 0
