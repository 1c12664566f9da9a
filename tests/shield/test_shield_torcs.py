"""The runtime shield on real TORCS: the shipped neural driver behind a verified program.

One short race in the library: the driver's steering reaches the car through a jittery
actuator (+-0.3 on alternate steps), which breaks the spec's steering smoothness; the
shield intervenes, no violation reaches TORCS, and the car stays on the track.  One short
race through ``saferl shield run`` with the plain driver.  No TORCS process outlives either
run.  Lap times, crashes and overhead on the five tracks: ``bench/torcs_shield.py``.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import live_torcs_children, needs_torcs  # noqa: E402

pytest.importorskip("gymnasium")


ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "oracles/torcs-td3"
SPEC = ROOT / "specs/torcs/track.yaml"
FALLBACK = ROOT / "policies/torcs/propel_fast.pol"
TRACK = "g-track-2"
STEPS = 1_500  # 30 s of simulated time: the first two turns of g-track-2

pytestmark = pytest.mark.integration


class JitteryDriver:
    """The shipped driver behind a faulty steering actuator: +-0.3 on alternate steps."""

    def __init__(self, policy: Any):
        self.policy, self.t = policy, 0

    def act(self, obs: Any) -> Any:
        action = np.asarray(self.policy.act(obs), dtype=np.float32).copy()
        action[0] = np.clip(action[0] + (0.3 if self.t % 2 else -0.3), -1.0, 1.0)
        self.t += 1
        return action


@needs_torcs
def test_a_short_shielded_race_keeps_the_car_on_the_track() -> None:
    import gymnasium as gym

    from saferl.envs import register_envs
    from saferl.learn.model import load_model
    from saferl.policy import load_policy
    from saferl.shield import Shield, ViolationMonitor
    from saferl.spec import load_spec

    register_envs()
    spec, program = load_spec(SPEC), load_policy(FALLBACK)
    shield = Shield(gym.make("saferl/Torcs-v0", track=TRACK, max_steps=STEPS), spec, fallback=program)
    assert shield.verified
    driver = JitteryDriver(load_model(ORACLE))
    monitor = ViolationMonitor(spec, program)
    try:
        obs, _ = shield.reset()
        monitor.reset(obs)
        done = False
        while not done:
            obs, _, terminated, truncated, info = shield.step_with(driver)
            monitor.step(info["saferl"].executed, obs)
            done = terminated or truncated
    finally:
        shield.close()
    stats = info["saferl"].episode
    assert truncated and not info["crashed"]
    assert stats.steps == STEPS and stats.interventions > 0 and stats.unsafe_steps == 0
    assert monitor.total == 0
    assert stats.by_property.get("steer-smooth", 0) > STEPS // 2  # the jitter is what it removed
    assert not live_torcs_children()


@needs_torcs
def test_cli_shielded_race_on_torcs_reports_laps_and_leaves_no_torcs() -> None:
    from saferl.cli import run

    out, err = io.StringIO(), io.StringIO()
    args = ["shield", "run", "--policy", str(ORACLE), "--spec", str(SPEC), "--fallback", str(FALLBACK),
            "--env", "saferl/Torcs-v0", "--track", TRACK, "--max-steps", str(STEPS), "--episodes", "1",
            "--quiet", "--format", "json"]
    code = run(args, out, err)
    assert code == 0, err.getvalue()
    summary = json.loads(out.getvalue())
    shielded = summary["shielded"]
    assert summary["verified"] and shielded["violations"] == 0 and shielded["unsafe_steps"] == 0
    assert shielded["crashes"] == 0 and shielded["races"][0]["dist_raced"] > 900
    assert not live_torcs_children()


@needs_torcs
def test_track_option_is_for_torcs_only() -> None:
    from saferl.cli import run

    out, err = io.StringIO(), io.StringIO()
    args = ["shield", "run", "--policy", "random", "--spec", str(ROOT / "specs/cartpole/pole_follow.yaml"),
            "--fallback", str(ROOT / "policies/cartpole/near_optimal.pol"), "--env", "CartPole-v1", "--track", "aalborg"]
    assert run(args, out, err) == 2
    assert "--track and --laps apply to the TORCS environments" in err.getvalue()


@needs_torcs
def test_the_speed_spec_takes_the_driver_through_aalborgs_first_hairpin() -> None:
    """Unshielded, the shipped driver enters aalborg's first hairpin too fast and leaves the
    track at about 195 m; behind specs/torcs/track_speed.yaml (fallback propel_careful.pol,
    proved SAFE) the shield lowers its throttle and raises its brake there, and the car is
    still on the track 30 s later, well past it."""
    import gymnasium as gym

    from saferl.envs import register_envs
    from saferl.learn.model import load_model
    from saferl.policy import load_policy
    from saferl.shield import Shield, ViolationMonitor
    from saferl.spec import load_spec

    register_envs()
    spec = load_spec(ROOT / "specs/torcs/track_speed.yaml")
    program = load_policy(ROOT / "policies/torcs/propel_careful.pol")
    driver = load_model(ORACLE)
    steps = 1_500
    results = []
    for shielded in (False, True):
        env: Any = gym.make("saferl/Torcs-v0", track="aalborg", max_steps=steps)
        if shielded:
            env = Shield(env, spec, fallback=program)
            assert env.verified
        monitor = ViolationMonitor(spec, program)
        try:
            obs, _ = env.reset()
            monitor.reset(obs)
            done = False
            while not done:
                action = np.asarray(driver.act(obs), dtype=np.float32)
                obs, _, terminated, truncated, info = env.step(action)
                monitor.step(info["saferl"].executed if shielded else action, obs)
                done = terminated or truncated
        finally:
            env.close()
        results.append((info["crashed"], info["dist_raced"], monitor.total))
    (crashed, dist, violations), (crashed_s, dist_s, violations_s) = results
    assert crashed and dist < 300 and violations > 0
    assert not crashed_s and dist_s > 500 and violations_s == 0
    assert not live_torcs_children()
