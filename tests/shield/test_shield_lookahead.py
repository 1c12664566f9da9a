"""The shield looks one step ahead on the fallback's proved invariant (closed-loop specs):
on real CartPole, random and worst.pol proposals never take the state out of the invariant."""

from __future__ import annotations

import io
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from saferl.cli import run
from saferl.errors import InputError
from saferl.policy import ProgramPolicy, load_policy
from saferl.shield import Shield, UnverifiedFallbackError
from saferl.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "specs/closedloop/cartpole.yaml"
POLE_ONLY = ROOT / "policies/cartpole/pole_only.pol"
WORST = ROOT / "policies/cartpole/worst.pol"
THETA_MAX = 0.20943951023931953

MIXED_SPEC = """\
spec: mixed
observations:
  cart_position: [-4.8, 4.8]
  cart_velocity: [-10, 10]
  pole_angle: [-0.418, 0.418]
  pole_angular_velocity: [-10, 10]
properties:
  - id: push-a-label
    kind: bounds
    action: push
    allowed: [left, right]
  - id: pole-up
    kind: safety
    dynamics: CartPole-v1
    initial: reset
    always: abs(theta) <= 0.20943951023931953
    horizon: forever
"""


@pytest.fixture(scope="module")
def shield() -> Shield:
    env = gym.make("CartPole-v1", max_episode_steps=10**9)
    return Shield(env, load_spec(SPEC), fallback=load_policy(POLE_ONLY))


def _in_invariant(shield: Shield, states: np.ndarray) -> np.ndarray:
    (table,) = shield.lookahead.tables
    grid = table.grid
    first, _, out = grid.index_ranges(states[:, grid.dims], states[:, grid.dims])
    alive = grid.alive.reshape(grid.shape)[tuple(first[:, j] for j in range(first.shape[1]))]
    return ~out & alive


@pytest.mark.parametrize("proposer", ["random", "worst"])
def test_proposals_never_leave_the_invariant(shield: Shield, proposer: str) -> None:
    rng = np.random.default_rng(5)
    worst = ProgramPolicy(load_policy(WORST))
    obs, _ = shield.reset(seed=11)
    states, reasons = [], set()
    for _ in range(4000):
        action = int(rng.integers(2)) if proposer == "random" else worst.act(obs)
        obs, _, term, trunc, info = shield.step(action)
        rec = info["saferl"]
        reasons.add(rec.reason)
        if rec.intervened:
            assert (rec.reason, rec.property_id, rec.source) == ("lookahead", "pole-up-forever", "fallback")
            assert rec.executed != action
        else:
            assert rec.executed == action
        states.append(np.asarray(shield.unwrapped.state, dtype=np.float64))
        if term or trunc:  # the cart leaves |x| <= 2.4; the pole never falls
            assert abs(float(shield.unwrapped.state[2])) <= THETA_MAX
            obs, _ = shield.reset()
    s = np.array(states)
    assert np.all(np.abs(s[:, 2]) <= THETA_MAX)
    assert _in_invariant(shield, s).all()
    assert "lookahead" in reasons and None in reasons
    assert shield.outside_invariant_steps == 0
    assert shield.monitored == ("pole-up-forever",) and shield.verified
    assert [r.property_id for r in shield.proof.results] == ["pole-up-forever"]


def test_unshielded_worst_policy_drops_the_pole() -> None:
    env = gym.make("CartPole-v1")
    worst = ProgramPolicy(load_policy(WORST))
    obs, _ = env.reset(seed=11)
    for _ in range(100):
        obs, _, term, _, _ = env.step(worst.act(obs))
        if term:
            break
    assert term and abs(float(env.unwrapped.state[2])) > THETA_MAX


def test_action_masks_follow_the_table(shield: Shield) -> None:
    shield.reset(seed=0)
    shield.unwrapped.state = np.array([0.0, 0.0, 0.15, 0.9])  # leaning right, falling right
    obs = np.array(shield.unwrapped.state, dtype=np.float32)
    shield._o = obs.tolist()
    mask = shield.action_masks()
    assert mask.tolist() == [False, True]  # only a push right keeps it in the invariant


def test_state_outside_the_invariant_is_reported(shield: Shield) -> None:
    shield.reset(seed=0)
    shield.unwrapped.state = np.array([0.0, 0.0, 0.2, 2.5])  # beyond saving
    shield._o = np.array(shield.unwrapped.state, dtype=np.float32).tolist()
    before = shield.outside_invariant_steps
    _, _, _, _, info = shield.step(0)
    assert shield.outside_invariant_steps == before + 1
    rec = info["saferl"]
    assert (rec.reason, rec.executed) == ("outside-invariant", 1)


def test_mixed_spec_checks_both_and_per_state_first() -> None:
    env = gym.make("CartPole-v1")
    sh = Shield(env, parse_spec(MIXED_SPEC), fallback=load_policy(POLE_ONLY))
    assert sh.monitored == ("push-a-label", "pole-up")
    assert [r.property_id for r in sh.proof.results] == ["push-a-label", "pole-up"]
    sh.reset(seed=1)
    _, _, _, _, info = sh.step(7)  # not an action of the space: the per-state path decides
    assert info["saferl"].reason == "invalid-action"


def test_a_fallback_without_an_invariant_is_refused() -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(UnverifiedFallbackError, match="no proved inductive invariant for property 'pole-up-forever'"):
        Shield(env, load_spec(SPEC), fallback=load_policy(WORST))
    sh = Shield(env, load_spec(SPEC), fallback=load_policy(WORST), allow_unverified=True)
    assert sh.lookahead is None and sh.unmonitored[0][0] == "pole-up-forever"
    off = Shield(env, load_spec(SPEC), fallback=load_policy(POLE_ONLY), lookahead=False)
    assert off.lookahead is None and off.unmonitored == (("pole-up-forever", "look-ahead turned off"),)


def test_the_environment_must_be_the_model() -> None:
    spec = parse_spec(MIXED_SPEC.replace("dynamics: CartPole-v1", "dynamics: CartPole-v1\n    parameters: {force_mag: 20.0}"))
    with pytest.raises(InputError, match="proved with force_mag = 20.0; the environment has force_mag = 10.0"):
        Shield(gym.make("CartPole-v1"), spec, fallback=load_policy(POLE_ONLY))


def test_cli_reports_the_lookahead() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["shield", "run", "--policy", str(WORST), "--fallback", str(POLE_ONLY), "--spec", str(SPEC),
                "--env", "CartPole-v1", "--episodes", "2", "--format", "json", "--compare", "-q"], out, err)
    assert code == 0, err.getvalue()
    summary = json.loads(out.getvalue())
    assert summary["lookahead"]["properties"] == ["pole-up-forever"]
    assert summary["lookahead"]["outside_invariant_steps"] == 0
    shielded, unshielded = summary["shielded"], summary["unshielded"]
    assert shielded["violations"] == 0 and shielded["by_reason"] == {"lookahead": shielded["interventions"]} != {}
    assert unshielded["violations_by_property"] == {"pole-up-forever": 2}


def test_cli_refuses_an_unproved_fallback() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["shield", "run", "--policy", "random", "--fallback", str(WORST), "--spec", str(SPEC),
                "--env", "CartPole-v1", "--episodes", "1", "-q"], out, err)
    assert code == 2
    assert "no proved inductive invariant" in err.getvalue() and "--no-lookahead" in err.getvalue()
    assert "Traceback" not in err.getvalue()
