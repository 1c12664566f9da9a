"""The generated step for Box action spaces takes the general step's decisions.

Two shields over the same spec and fallback, one with the generated step
(``fast_path=True``, the default) and one without, see the same observations and the same
proposals; every record, every action the environment receives and the fallback's PID
state must be equal, bit for bit, on every step.  Observations come from real TORCS
races (the TORCS spec and fallbacks, the shipped neural driver with a jittery actuator,
two deterministic races in lockstep) and from random walks through the spec's domain
(a replaying environment).  ``pid_update_lines`` advances PID state exactly as the
compiled program does, windowed controllers included.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from saferl.policy import load_policy
from saferl.policy.evaluate import compile_program
from saferl.shield import Shield
from saferl.shield.fastpath import make_box_step, pid_update_lines
from saferl.spec import load_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import live_torcs_children, needs_torcs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PAIRS = [
    ("specs/torcs/track_speed.yaml", "policies/torcs/propel_careful.pol"),
    ("specs/torcs/track.yaml", "policies/torcs/propel_fast.pol"),
    # a pid inside an if: the generated step runs the whole program every step
    ("specs/torcs/track.yaml", "policies/torcs/propel_prog.pol"),
]
LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)


class ReplayEnv(gym.Env):  # type: ignore[type-arg]
    """TORCS's spaces; returns the given observations one per step, truncates after the last."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (29,), np.float32)
    action_space = gym.spaces.Box(LOW, HIGH, dtype=np.float32)

    def __init__(self, observations: np.ndarray):
        self.script = observations.astype(np.float32)
        self.i = 0
        self.received: list[Any] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.i = 0
        return self.script[0].copy(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.received.append(np.array(action, copy=True))
        self.i += 1
        return self.script[self.i].copy(), 0.0, False, self.i == len(self.script) - 1, {}


def random_walk(rng: np.random.Generator, n: int) -> np.ndarray:
    """Observations that wander through the spec's domain: small steps (steering smoothness
    applies), jumps now and then, edges, hairpins, over-speed and drift all visited."""
    obs = np.zeros((n, 29))
    x = np.array([0.0, 0.0, 0.3, 0.5])  # angle, trackPos, speedX, rpm
    for t in range(n):
        if rng.random() < 0.05:
            x = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-1.3, 1.3), rng.uniform(-0.1, 1.0), rng.uniform(0, 1.2)])
        else:
            x = x + rng.normal(0, [0.003, 0.01, 0.005, 0.01])
        obs[t, 0], obs[t, 1], obs[t, 2], obs[t, 5] = x
        obs[t, 3:5] = rng.normal(0, 0.01, 2)
        obs[t, 6:10] = rng.uniform(0, 1, 4)
        obs[t, 10:29] = rng.uniform(-0.005, 1.0, 19) * (0.2 if rng.random() < 0.3 else 1.0)
    return obs


def proposals(rng: np.random.Generator, n: int) -> list[Any]:
    """Mostly valid float32 arrays (some barely off the previous one), a few invalid ones."""
    out: list[Any] = []
    prev = rng.uniform(LOW, HIGH).astype(np.float32)
    for _ in range(n):
        r = rng.random()
        a: Any
        if r < 0.5:
            a = np.clip(prev + rng.normal(0, 0.1, 3), LOW, HIGH).astype(np.float32)
        elif r < 0.95:
            a = rng.uniform(LOW, HIGH).astype(np.float32)
        elif r < 0.97:
            a = np.array([np.nan, 0.5, 0.0], dtype=np.float32)
        elif r < 0.99:
            a = np.array([0.0, 1.5, 0.0], dtype=np.float32)
        else:
            a = [0.1, 0.2, 0.3]  # not an array: the general path
        out.append(a)
        if isinstance(a, np.ndarray):
            prev = a
    return out


def same(a: Any, b: Any) -> bool:
    """Records equal bit for bit (repr: NaN equals NaN, -0.0 differs from 0.0); episode counters equal."""
    return repr(a._replace(episode=None)) == repr(b._replace(episode=None)) and a.episode == b.episode


def run_both(spec: Any, program: Any, obs: np.ndarray, acts: list[Any]) -> None:
    envs = [ReplayEnv(obs), ReplayEnv(obs)]
    fast, slow = (Shield(e, spec, fallback=program, allow_unverified=True, fast_path=f) for e, f in zip(envs, (True, False)))
    assert fast._fast is not None
    fast.reset()
    slow.reset()
    for t, a in enumerate(acts[: len(obs) - 1]):
        rf, rs = fast.step(a)[4]["saferl"], slow.step(a)[4]["saferl"]
        assert same(rf, rs), (t, rf, rs)
        assert np.array_equal(envs[0].received[-1], envs[1].received[-1], equal_nan=True), t
        assert fast._ps == slow._ps, t
    assert fast.totals == slow.totals and fast.totals.interventions > 0


@pytest.mark.parametrize("spec_path, fallback_path", PAIRS)
def test_generated_box_step_equals_the_general_step_on_random_walks(spec_path: str, fallback_path: str) -> None:
    spec, program = load_spec(ROOT / spec_path), load_policy(ROOT / fallback_path)
    rng = np.random.default_rng(16)
    for _ in range(4):
        obs = random_walk(rng, 1500)
        run_both(spec, program, obs, proposals(rng, len(obs)))


def test_every_kind_of_step_is_visited_by_the_random_walks() -> None:
    """The comparison above means something: projections of every property, fallback
    substitutions and invalid actions all happen on the fast shield."""
    spec, program = load_spec(ROOT / PAIRS[0][0]), load_policy(ROOT / PAIRS[0][1])
    rng = np.random.default_rng(16)
    obs = random_walk(rng, 1500)
    shield = Shield(ReplayEnv(obs), spec, fallback=program, allow_unverified=True)
    shield.reset()
    for a in proposals(rng, len(obs) - 1):
        shield.step(a)
    totals = shield.totals
    assert set(totals.by_reason) == {"violation", "invalid-action"}
    assert totals.by_source["projection"] > 100 and totals.by_source["fallback"] > 10
    monitored_by_projection = {"edge-left-steer-right", "edge-right-steer-left", "no-full-throttle-misaligned",
                               "steer-smooth", "throttle-overspeed", "brake-overspeed"}
    assert monitored_by_projection <= set(totals.by_property)


@pytest.mark.parametrize("path", ["propel_careful", "propel_fast", "prior_window", "prior"])
def test_pid_update_lines_advance_the_state_as_the_program_does(path: str) -> None:
    program = load_policy(ROOT / f"policies/torcs/{path}.pol")
    lines = pid_update_lines(program, "    ")
    assert lines is not None
    n = len(program.observations)
    src = f"def update({', '.join(f'o{i}' for i in range(n))}, ps):\n" + "\n".join(lines or ["    pass"]) + "\n"
    namespace: dict[str, Any] = {}
    exec(src, {"__builtins__": {"min": min, "max": max, "abs": abs}}, namespace)
    full, alone = compile_program(program), namespace["update"]
    s_full, s_alone = [0.0] * len(program.state_names), [0.0] * len(program.state_names)
    rng = np.random.default_rng(3)
    for o in random_walk(rng, 400).astype(np.float32).tolist():
        full(*o, s_full)
        alone(*o, s_alone)
        assert s_full == s_alone


def test_a_pid_inside_an_if_is_not_separated() -> None:
    assert pid_update_lines(load_policy(ROOT / "policies/torcs/propel_prog.pol"), "    ") is None


@needs_torcs
@pytest.mark.integration
def test_native_python_and_general_steps_agree_on_real_torcs() -> None:
    """Three deterministic races of the shipped driver (jittery steering) on aalborg, in
    lockstep: the native step, the generated Python step and the general step."""
    from saferl.envs import register_envs
    from saferl.learn.model import load_model

    register_envs()
    spec, program = load_spec(ROOT / PAIRS[0][0]), load_policy(ROOT / PAIRS[0][1])
    driver = load_model(ROOT / "oracles/torcs-td3")
    shields = [Shield(gym.make("saferl/Torcs-v0", track="aalborg", max_steps=1200), spec, fallback=program,
                      allow_unverified=True, fast_path=f, native=n) for f, n in ((True, True), (True, False), (False, False))]
    try:
        assert [s.step_kind for s in shields] == ["native", "python", "general"], shields[0].native_note
        assert make_box_step(shields[1]) is not None and shields[2]._fast is None
        obs = [s.reset()[0] for s in shields]
        for t in range(1200):
            assert np.array_equal(obs[0], obs[1]) and np.array_equal(obs[1], obs[2]), t
            action = np.asarray(driver.act(obs[0]), dtype=np.float32).copy()
            action[0] = np.clip(action[0] + (0.3 if t % 2 else -0.3), -1.0, 1.0)
            outs = [s.step(action) for s in shields]
            assert repr(outs[0][4]["saferl"]) == repr(outs[1][4]["saferl"]), t  # native = Python, bit for bit
            assert same(outs[1][4]["saferl"], outs[2][4]["saferl"]), t
            assert repr(shields[0]._ps) == repr(shields[1]._ps) and shields[1]._ps == shields[2]._ps, t
            obs = [o[0] for o in outs]
            if outs[0][2] or outs[0][3]:
                break
        assert shields[0].totals == shields[1].totals == shields[2].totals
        assert shields[0].totals.by_source.get("projection", 0) > 100
    finally:
        for s in shields:
            s.close()
    assert not live_torcs_children()
