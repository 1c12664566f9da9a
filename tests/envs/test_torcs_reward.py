"""Real TORCS: PROPEL's reward option and the stall termination of saferl/Torcs-v0."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from saferl.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import needs_torcs  # noqa: E402

pytestmark = pytest.mark.integration


def _make(**kwargs: object) -> object:
    import gymnasium

    from saferl.envs import register_envs

    register_envs()
    return gymnasium.make("saferl/Torcs-v0", **kwargs)


@needs_torcs
def test_propel_reward_is_the_axis_speed_less_transverse_and_offset_terms() -> None:
    env = _make(track="g-track-2", reward="propel", max_steps=300)
    try:
        env.reset()
        rewards, done, step = [], False, 0
        while not done:
            steer = 0.3 if step > 150 else 0.0  # drift off the centre line and turn
            _, reward, term, trunc, info = env.step([steer, 1.0, 0.0])
            s = info["sensors"]
            v = float(s["speedX"]) / 3.6
            expected = v * (math.cos(s["angle"]) - abs(math.sin(s["angle"])) - abs(s["trackPos"])) * 0.02
            assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
            rewards.append(reward)
            done, step = term or trunc, step + 1
    finally:
        env.close()
    assert max(rewards) > 0.2  # moving along the axis pays
    assert info["crashed"] or min(rewards[150:]) < max(rewards)  # steering away pays less


@needs_torcs
def test_the_default_reward_is_still_progress_in_metres() -> None:
    env = _make(track="g-track-2", max_steps=200)
    try:
        env.reset()
        total, done = 0.0, False
        while not done:
            _, reward, term, trunc, info = env.step([0.0, 1.0, 0.0])
            total += reward
            done = term or trunc
    finally:
        env.close()
    assert total == pytest.approx(info["dist_raced"] - (-10.0), abs=0.5)  # from 10 m behind the line


@needs_torcs
def test_a_stalled_car_ends_the_episode_without_a_crash() -> None:
    env = _make(track="g-track-2", stall_steps=100, max_steps=1000)
    try:
        env.reset()
        steps, done = 0, False
        while not done:
            _, _, term, trunc, info = env.step(np.array([0.0, 0.0, 1.0], dtype=np.float32))
            steps += 1
            done = term or trunc
    finally:
        env.close()
    assert term and not trunc
    assert info["stalled"] and not info["crashed"]
    assert steps == 100


@needs_torcs
def test_a_moving_car_does_not_stall() -> None:
    env = _make(track="g-track-2", stall_steps=100, max_steps=400)
    try:
        env.reset()
        done = False
        while not done:
            _, _, term, trunc, info = env.step([0.0, 1.0, 0.0])
            done = term or trunc
    finally:
        env.close()
    assert trunc and not info["stalled"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"reward": "speed"}, "reward must be one of progress, propel"), ({"stall_steps": 0}, "stall_steps must be at least 1")],
)
@needs_torcs
def test_bad_reward_options_are_input_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        _make(**kwargs)
