"""The Shield wrapper: substitutions, fail-safe, records, masks, proof gate, env checker."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from saferl.errors import InputError, UnsupportedError
from saferl.policy import ProgramPolicy
from saferl.shield import (
    EPISODE_FIELDS,
    REASONS,
    RECORD_FIELDS,
    RECORD_VERSION,
    SOURCES,
    EpisodeStats,
    Shield,
    ShieldRecord,
    UnverifiedFallbackError,
    ViolationMonitor,
)

from .conftest import ScriptedEnv


def _cartpole(spec: Any, fallback: Any, proof: Any, **kw: Any) -> Shield:
    return Shield(gym.make("CartPole-v1"), spec, fallback=fallback, proof=proof, **kw)


# -- the record schema is frozen ---------------------------------------------------------

def test_record_schema_is_pinned() -> None:
    assert RECORD_VERSION == 2
    assert RECORD_FIELDS == ("proposed", "executed", "intervened", "property_id", "reason", "source", "episode")
    assert EPISODE_FIELDS == ("steps", "interventions", "unsafe_steps", "by_property", "by_reason", "by_source")
    assert REASONS == ("violation", "invalid-action", "policy-error", "lookahead", "outside-invariant")
    assert SOURCES == ("policy", "projection", "fallback", "fallback-projection", "search", "unsafe-fallback")
    rec = ShieldRecord(0, 1, True, "p", "violation", "fallback", EpisodeStats(3, 1, 0, {"p": 1}, {"violation": 1}, {"fallback": 1}))
    assert list(rec.to_record()) == list(RECORD_FIELDS)
    assert list(rec.to_record()["episode"]) == list(EPISODE_FIELDS)
    with pytest.raises(AttributeError):
        rec.executed = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        rec.episode.steps = 0  # type: ignore[misc,union-attr]


def test_info_record_on_every_step_and_episode_counters_at_the_end(cartpole_spec: Any, near_optimal: Any, worst: Any, cartpole_proof: Any) -> None:
    env = _cartpole(cartpole_spec, near_optimal, cartpole_proof)
    policy = ProgramPolicy(worst)
    obs, _ = env.reset(seed=3)
    interventions = 0
    while True:
        obs, _, terminated, truncated, info = env.step(policy.act(obs))
        rec = info["saferl"]
        assert isinstance(rec, ShieldRecord)
        interventions += rec.intervened
        if rec.intervened:
            assert rec.reason == "violation" and rec.property_id in env.monitored
            assert rec.source == "fallback" and rec.executed != rec.proposed
        else:
            assert rec.reason is None and rec.property_id is None and rec.executed == rec.proposed
        if terminated or truncated:
            break
        assert rec.episode is None
    assert rec.episode is not None
    assert rec.episode.interventions == interventions > 0
    assert rec.episode.steps == env.totals.steps
    assert sum(rec.episode.by_property.values()) == interventions
    assert env.episodes == 1


def test_adversarial_policies_zero_violations_shielded_many_unshielded(cartpole_spec: Any, near_optimal: Any, worst: Any, cartpole_proof: Any) -> None:
    for name in ("worst", "random"):
        counts = {}
        for shielded in (True, False):
            base = gym.make("CartPole-v1")
            env: Any = _cartpole(cartpole_spec, near_optimal, cartpole_proof) if shielded else base
            policy = ProgramPolicy(worst)
            env.action_space.seed(0)
            monitor = ViolationMonitor(cartpole_spec, near_optimal)
            obs, _ = env.reset(seed=0)
            monitor.reset(obs)
            for _ in range(3000):
                action = policy.act(obs) if name == "worst" else env.action_space.sample()
                obs, _, terminated, truncated, info = env.step(action)
                executed = info["saferl"].executed if shielded else action
                monitor.step(executed, obs)
                if terminated or truncated:
                    obs, _ = env.reset()
                    monitor.reset(obs)
            counts[shielded] = monitor.total
        assert counts[True] == 0, name
        assert counts[False] > 100, name


def test_invalid_actions_never_reach_the_environment(cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any) -> None:
    obs = [[0.0, 0.0, 0.0, 0.0]] * 10
    inner = ScriptedEnv(obs, gym.spaces.Discrete(2))
    env = Shield(inner, cartpole_spec, fallback=near_optimal, proof=cartpole_proof)
    env.reset()
    for bad in (2, -1, 0.5, 1.0, math.nan, "left", None, np.array([1, 0]), np.float32(1.0)):
        _, _, _, _, info = env.step(bad)
        rec = info["saferl"]
        assert rec.intervened and rec.reason == "invalid-action" and rec.source == "fallback"
        assert rec.executed in (0, 1)
    assert all(a in (0, 1) for a in inner.received)


def test_policy_exception_is_replaced_by_the_fallback(cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any) -> None:
    class Broken:
        def act(self, obs: Any) -> Any:
            raise ValueError("boom")

    env = _cartpole(cartpole_spec, near_optimal, cartpole_proof)
    obs, _ = env.reset(seed=1)
    assert env.observation.dtype == obs.dtype and np.array_equal(env.observation, obs)
    obs, _, _, _, info = env.step_with(ProgramPolicy(near_optimal))
    assert np.array_equal(env.observation, obs)
    _, _, _, _, info = env.step_with(Broken())
    rec = info["saferl"]
    assert rec.proposed is None and rec.reason == "policy-error" and rec.source == "fallback"
    assert isinstance(env.last_policy_error, ValueError)
    assert env.episode_stats.by_reason == {"policy-error": 1}


def test_step_before_reset_is_an_error(cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any) -> None:
    env = _cartpole(cartpole_spec, near_optimal, cartpole_proof)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


def test_action_masks(cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any) -> None:
    script = [[0.0, 0.0, 0.1, 1.0], [0.0, 0.0, -0.1, -1.0], [0.0, 0.0, 0.0, 0.0]]
    env = Shield(ScriptedEnv(script, gym.spaces.Discrete(2)), cartpole_spec, fallback=near_optimal, proof=cartpole_proof)
    env.reset()
    assert env.action_masks().tolist() == [False, True]  # falling right: push right
    env.step(1)
    assert env.action_masks().tolist() == [True, False]
    env.step(0)
    assert env.action_masks().tolist() == [True, True]


def test_unverified_fallback_is_refused(cartpole_spec: Any, worst: Any) -> None:
    with pytest.raises(UnverifiedFallbackError) as exc:
        Shield(gym.make("CartPole-v1"), cartpole_spec, fallback=worst)
    assert str(exc.value) == (
        "the fallback 'cartpole_worst' is not proved against property 'follow-right' of spec "
        "'cartpole-pole-follow' (UNSAFE); a substitution could break it (hint: repair the fallback "
        "until saferl.verify_policy proves it SAFE, or pass allow_unverified=True)"
    )
    env = Shield(gym.make("CartPole-v1"), cartpole_spec, fallback=worst, allow_unverified=True)
    assert env.proof is None and not env.verified


def test_proof_of_another_program_is_refused(cartpole_spec: Any, worst: Any, cartpole_proof: Any) -> None:
    with pytest.raises(UnverifiedFallbackError, match="the proof given is for another program"):
        Shield(gym.make("CartPole-v1"), cartpole_spec, fallback=worst, proof=cartpole_proof)


def test_spaces_must_fit_the_program(cartpole_spec: Any, near_optimal: Any, damp: Any, damp_spec: Any) -> None:
    with pytest.raises(InputError, match="declares 4 observations"):
        Shield(gym.make("Pendulum-v1"), cartpole_spec, fallback=near_optimal, allow_unverified=True)
    with pytest.raises(InputError, match="one continuous action per entry"):
        Shield(ScriptedEnv([[0.0, 0.0]], gym.spaces.Box(-1, 1, (2,), np.float32)), damp_spec, fallback=damp, allow_unverified=True)
    with pytest.raises(UnsupportedError):
        Shield(ScriptedEnv([[0.0, 0.0]], gym.spaces.MultiBinary(1)), damp_spec, fallback=damp, allow_unverified=True)
    with pytest.raises(InputError, match="spec must be a saferl Spec"):
        Shield(gym.make("CartPole-v1"), "spec.yaml", fallback=near_optimal)  # type: ignore[arg-type]


def test_continuous_projection_into_the_smoothness_band(damp: Any, damp_spec: Any, damp_proof: Any) -> None:
    script = [[0.0, 0.0], [0.05, 0.0], [0.1, 0.0], [1.5, 0.0], [1.55, 0.0], [1.6, 0.0]]
    inner = ScriptedEnv(script, gym.spaces.Box(-2, 2, (1,), np.float32))
    env = Shield(inner, damp_spec, fallback=damp, proof=damp_proof)
    env.reset()
    _, _, _, _, info = env.step(np.array([0.8], dtype=np.float32))  # no history yet: ok
    assert not info["saferl"].intervened
    _, _, _, _, info = env.step(np.array([-0.9], dtype=np.float32))  # jump of 1.7 > 0.5
    rec = info["saferl"]
    assert rec.intervened and rec.property_id == "smooth" and rec.source == "projection"
    assert rec.executed == pytest.approx(0.3)
    _, _, _, _, info = env.step(np.array([1.9], dtype=np.float32))  # outside [-1, 1]
    assert info["saferl"].property_id == "force-range" and info["saferl"].executed == 0.8000000119209290
    _, _, _, _, info = env.step(np.array([0.9], dtype=np.float32))  # x = 1.5 > 1: at most 0.6
    assert info["saferl"].property_id == "push-back" and info["saferl"].executed == pytest.approx(0.6)
    _, _, _, _, info = env.step(np.array([math.nan], dtype=np.float32))
    assert info["saferl"].reason == "invalid-action" and info["saferl"].source in ("fallback", "fallback-projection")
    monitor = ViolationMonitor(damp_spec, damp)
    monitor.reset(script[0])
    for action, obs in zip(inner.received, script[1:], strict=False):
        monitor.step(action, obs)
    assert monitor.total == 0


def test_passes_the_gymnasium_env_checker(cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any, damp: Any, damp_spec: Any, damp_proof: Any) -> None:
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(Shield(gym.make("CartPole-v1").unwrapped, cartpole_spec, fallback=near_optimal, proof=cartpole_proof), skip_render_check=True)
        check_env(Shield(gym.make("MountainCarContinuous-v0").unwrapped, damp_spec, fallback=damp, proof=damp_proof), skip_render_check=True)


def test_import_saferl_does_not_import_gymnasium() -> None:
    code = "import sys, saferl, saferl.policy, saferl.spec; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


EDGE_POL = """\
policy edge
obs cart_position: float32
obs cart_velocity: float32
obs pole_angle: float32
obs pole_angular_velocity: float32
act push: discrete {left = 0, right = 1}

if cart_velocity > 10 {
  push = left
} else {
  if pole_angle <= 0 { push = left } else { push = right }
}
"""


def test_outside_the_verified_domain_the_shield_searches(cartpole_spec: Any) -> None:
    """The fallback is proved only for |cart_velocity| <= 5; beyond it, its action is
    checked too, and a safe action is searched for when it fails."""
    from saferl.policy import parse_policy

    edge = parse_policy(EDGE_POL, "edge.pol")
    script = [[0.0, 20.0, 0.1, 1.0], [0.0, 20.0, 0.1, 1.0], [0.0, 0.0, 0.0, 0.0]]
    inner = ScriptedEnv(script, gym.spaces.Discrete(2))
    env = Shield(inner, cartpole_spec, fallback=edge)
    assert env.verified
    env.reset()
    assert env.action_masks().tolist() == [False, True]
    _, _, _, _, info = env.step(0)  # falling right, proposes left; the fallback says left too
    rec = info["saferl"]
    assert (rec.proposed, rec.executed, rec.property_id, rec.source) == (0, 1, "follow-right", "search")
    _, _, _, _, info = env.step(1)
    assert not info["saferl"].intervened
    assert info["saferl"].episode.by_source == {"search": 1}
    assert inner.received == [1, 1]


def test_discrete_space_with_an_offset_start() -> None:
    from saferl.policy import parse_policy
    from saferl.spec import parse_spec

    program = parse_policy(
        "policy tri\nobs x: float32\nact m: discrete {down = 1, stay = 2, up = 3}\n"
        "if x > 0.5 { m = down } elif x < -0.5 { m = up } else { m = stay }\n"
    )
    spec = parse_spec(
        "observations: {x: [-2, 2]}\nproperties:\n"
        "  - {id: high, kind: invariant, when: x > 1, require: m == down}\n"
        "  - {id: low, kind: invariant, when: x < -1, require: m != down}\n"
    )
    script = [[1.5], [-1.5], [0.0], [0.0]]
    inner = ScriptedEnv(script, gym.spaces.Discrete(3, start=1))
    env = Shield(inner, spec, fallback=program)
    env.reset()
    records = [env.step(a)[4]["saferl"] for a in (3, np.int64(1), 1)]
    assert [(r.proposed, r.executed, r.property_id, r.source) for r in records] == [
        (3, 1, "high", "fallback"), (1, 3, "low", "fallback"), (1, 1, None, "policy"),
    ]
    assert type(inner.received[1]) is np.int64  # the substitute keeps the proposal's type
    assert env.action_masks().tolist() == [True, True, True]
