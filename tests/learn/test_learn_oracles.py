"""The oracles shipped in oracles/ load, are small, and still act well."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.learn.model import load_model

ORACLES = [
    ("cartpole-ppo", "CartPole-v1", "ppo", 475.0),
    ("mountaincar-td3", "MountainCarContinuous-v0", "td3", 90.0),
    ("pendulum-td3", "Pendulum-v1", "td3", -400.0),  # a few episodes are noisy; bench uses 100
]


@pytest.mark.parametrize("name, env_id, algo, floor", ORACLES)
def test_shipped_oracle(root: Path, name: str, env_id: str, algo: str, floor: float) -> None:
    pytest.importorskip("gymnasium")
    from saferl.learn.evaluate import evaluate_policy

    directory = root / "oracles" / name
    policy = load_model(directory)
    assert policy.env_id == env_id
    assert policy.manifest["training"]["algo"] == algo
    assert policy.manifest["critic"]["kind"] == "q"
    assert sum(f.stat().st_size for f in directory.iterdir()) < 64 * 1024
    assert evaluate_policy(policy, env_id, episodes=3, seed=123).mean >= floor
