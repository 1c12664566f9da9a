"""Training with tiny budgets: the command works, and the run is reproducible from the seed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("gymnasium")

from saferl.cli import run  # noqa: E402
from saferl.learn.model import load_model  # noqa: E402


def _train(tmp_path: Path, name: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["train", *args, "-o", str(tmp_path / name)], out, err)
    return code, out.getvalue(), err.getvalue()


def test_ppo_tiny_budget_is_reproducible(tmp_path: Path) -> None:
    args = ("--env", "CartPole-v1", "--algo", "ppo", "--seed", "3", "--timesteps", "1024", "--eval-episodes", "2")
    code, out, err = _train(tmp_path, "a", *args, "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["env"] == "CartPole-v1" and record["episodes"] == 2
    code, _, err = _train(tmp_path, "b", *args)
    assert code == 0, err
    a, b = load_model(tmp_path / "a"), load_model(tmp_path / "b")
    assert a.tensors.keys() == b.tensors.keys()
    assert all(np.array_equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert a.manifest == b.manifest
    assert a.manifest["critic"]["kind"] == "q"
    assert (tmp_path / "a" / "model.safetensors").stat().st_size < 100_000


def test_td3_tiny_budget(tmp_path: Path) -> None:
    from saferl.learn.model import policy_from_parts
    from saferl.learn.td3 import TD3Config, train_td3

    cfg = TD3Config(total_timesteps=600, learning_starts=200, eval_every=300, eval_episodes=1, hidden=(16, 16))
    manifest, tensors = train_td3("Pendulum-v1", 0, cfg)
    policy = policy_from_parts(manifest, tensors)
    action = policy.act(np.array([1.0, 0.0, 0.0], np.float32))
    assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
    assert policy.q_value(np.zeros((2, 3), np.float32), np.zeros((2, 1), np.float32)).shape == (2,)
    again, tensors2 = train_td3("Pendulum-v1", 0, cfg)
    assert all(np.array_equal(tensors[k], tensors2[k]) for k in tensors)


def test_coloured_noise_is_unit_variance() -> None:
    from saferl.learn.td3 import coloured_noise

    rng = np.random.default_rng(0)
    for beta in (0.0, 1.0, 2.0):
        x = coloured_noise(beta, 1000, rng)
        assert x.shape == (1000,)
        assert abs(float(np.std(x)) - 1.0) < 0.2


@pytest.mark.parametrize(
    "args, message",
    [
        (("--env", "CartPole-v1", "--algo", "td3"), "td3 trains continuous actions"),
        (("--env", "Pendulum-v1", "--algo", "ppo"), "ppo here trains discrete actions"),
        (("--env", "Nope-v0", "--algo", "ppo"), "unsupported environment 'Nope-v0'"),
        (("--env", "CartPole-v1", "--algo", "ppo", "--timesteps", "0"), "--timesteps must be positive"),
    ],
)
def test_bad_train_arguments_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    code, out, err = _train(tmp_path, "x", *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "x").exists()
