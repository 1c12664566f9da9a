"""Benchmark of saferl.formats against the targets of issue 15.

1. the shipped CartPole oracle exported with torch.onnx and read back: identical actions
   on 10^4 states (against the oracle and onnxruntime);
2. a skops-saved scikit-learn tree turned into .pol: identical actions on 10^5 float32
   states, half of them on a threshold or one float32 step beside it;
3. a stable-baselines3 PPO CartPole model shielded from the CLI in one command.

Prints a table, then the same figures as JSON (last line of stdout).  Writes only to a
temporary folder.

    python bench/formats.py
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.cli import run  # noqa: E402
from saferl.formats import load_policy_file  # noqa: E402
from saferl.learn.model import load_model  # noqa: E402


def onnx_roundtrip(tmp: Path, n: int = 10_000) -> dict[str, object]:
    import onnxruntime
    import torch

    oracle = load_model(ROOT / "oracles" / "cartpole-ppo")
    layers = oracle.manifest["actor"]["layers"]
    modules: list[torch.nn.Module] = []
    for k in range(len(layers) - 1):
        lin = torch.nn.Linear(layers[k], layers[k + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(oracle.tensors[f"actor.{k}.weight"]))
            lin.bias.copy_(torch.from_numpy(oracle.tensors[f"actor.{k}.bias"]))
        modules += [lin, torch.nn.Tanh()] if k < len(layers) - 2 else [lin]
    path = tmp / "cartpole.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Sequential(*modules).eval(), (torch.zeros(1, 4),), str(path), dynamo=False,
                          input_names=["obs"], dynamic_axes={"obs": {0: "n"}})
    start = time.perf_counter()
    policy = load_policy_file(path, env_id="CartPole-v1")
    load_s = time.perf_counter() - start
    x = (np.random.default_rng(0).uniform(-1, 1, (n, 4)) * [2.4, 2.0, 0.21, 2.5]).astype(np.float32)
    ours = policy.act_batch(x)
    ort = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"obs": x})[0].argmax(1)
    return {"states": n, "equal_to_oracle": int(np.sum(ours == oracle.act_batch(x))),
            "equal_to_onnxruntime": int(np.sum(ours == ort)), "load_s": round(load_s, 3)}


def skops_roundtrip(tmp: Path, n: int = 100_000) -> dict[str, object]:
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4000, 4)) * [1.0, 1.5, 0.1, 1.0]).astype(np.float32)
    y = ((x[:, 2] + 0.1 * x[:, 3] > 0) ^ (x[:, 0] > 1.2)).astype(int)
    model = DecisionTreeClassifier(max_leaf_nodes=40, random_state=0).fit(x, y)
    t = model.tree_
    splits = np.flatnonzero(t.children_left != -1)
    for node in splits[::2]:  # half the thresholds exactly on a float32 value
        t.threshold[node] = float(np.float32(t.threshold[node]))
    path = tmp / "tree.skops"
    sio.dump(model, path)
    policy = load_policy_file(path, env_id="CartPole-v1")
    states = (rng.standard_normal((n, 4)) * [1.0, 1.5, 0.1, 1.0]).astype(np.float32)
    for row, node in enumerate(rng.choice(splits, size=n // 2)):
        thr = np.float32(t.threshold[node])
        states[row, t.feature[node]] = (thr, np.nextafter(thr, np.float32(np.inf)), np.nextafter(thr, np.float32(-np.inf)))[row % 3]
    on = sum(int(np.sum(states[:, t.feature[i]] == t.threshold[i])) for i in splits)
    start = time.perf_counter()
    ours = np.array([policy.act(s) for s in states])
    eval_s = time.perf_counter() - start
    return {"states": n, "on_a_threshold": on, "leaves": int(model.get_n_leaves()),
            "equal": int(np.sum(ours == model.predict(states))), "pol_eval_s": round(eval_s, 2)}


def sb3_shield(tmp: Path) -> dict[str, object]:
    import stable_baselines3 as sb3

    model = sb3.PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=64, seed=0, device="cpu")
    model.learn(total_timesteps=2048)
    path = tmp / "ppo-cartpole.zip"
    model.save(str(path))
    argv = ["shield", "run", "--policy", str(path), "--fallback", str(ROOT / "policies/cartpole/near_optimal.pol"),
            "--spec", str(ROOT / "specs/cartpole/pole_follow.yaml"), "--env", "CartPole-v1", "--episodes", "10",
            "--format", "json", "--compare", "-q"]
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, out, err)
    summary = json.loads(out.getvalue()) if code in (0, 1) else {}
    return {"command": "saferl " + " ".join(argv[:2]) + " --policy ppo-cartpole.zip ...", "exit": code,
            "shielded_return": summary.get("shielded", {}).get("mean_return"),
            "unshielded_return": summary.get("unshielded", {}).get("mean_return"),
            "interventions": summary.get("shielded", {}).get("interventions"),
            "violations_shielded": summary.get("shielded", {}).get("violations"),
            "violations_unshielded": summary.get("unshielded", {}).get("violations"), "error": err.getvalue().strip()}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        figures = {"onnx": onnx_roundtrip(tmp), "skops": skops_roundtrip(tmp), "sb3_shield": sb3_shield(tmp)}
    for name, values in figures.items():
        print(f"{name:<11}" + "  ".join(f"{k}={v}" for k, v in values.items() if k != "error"))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
