"""Property tests: whatever the observations and the proposed actions, the action the
environment receives satisfies every monitored property (judged by the independent
monitor), lies in the action space, and the record tells the truth about it."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from saferl.shield import SOURCES, Shield, ViolationMonitor

from .conftest import ScriptedEnv

RAISE = object()  # the policy raises instead of acting

discrete_proposals = st.one_of(
    st.integers(0, 1),
    st.integers(0, 1).map(np.int64),
    st.integers(-3, 4),
    st.sampled_from([math.nan, 0.5, 1.0, "right", None, RAISE]),
)

continuous_proposals = st.one_of(
    st.floats(-1.25, 1.25, width=32).map(lambda f: np.array([f], dtype=np.float32)),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda f: np.array([f])),
    st.floats(-3, 3).map(float),
    st.sampled_from([None, "f", np.zeros(2), RAISE]),
)


class _Scripted:
    """A policy that proposes the given actions in turn (or raises)."""

    def __init__(self, proposals: list[Any]):
        self.proposals = iter(proposals)

    def act(self, obs: Any) -> Any:
        action = next(self.proposals)
        if action is RAISE:
            raise RuntimeError("policy failure")
        return action


def _run(env: Shield, inner: ScriptedEnv, proposals: list[Any], monitor: ViolationMonitor) -> list[Any]:
    env.reset()
    policy = _Scripted(proposals)
    records = []
    for _ in proposals:
        _, _, terminated, truncated, info = env.step_with(policy)
        records.append(info["saferl"])
        event(f"source={info['saferl'].source}")
        if terminated or truncated:
            break
    monitor.reset(inner.script[0])
    for action, obs in zip(inner.received, inner.script[1:], strict=False):
        assert monitor.step(action, obs) == []
    return records


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(2, 12),
    scale=st.sampled_from([0.0625, 0.25, 4.0]),
)
def test_discrete_executed_actions_never_violate(data: Any, n: int, scale: float, cartpole_spec: Any, near_optimal: Any, cartpole_proof: Any) -> None:
    obs = data.draw(st.lists(st.lists(st.floats(-scale, scale, width=32), min_size=4, max_size=4), min_size=n + 1, max_size=n + 1))
    proposals = data.draw(st.lists(discrete_proposals, min_size=n, max_size=n))
    inner = ScriptedEnv(obs, gym.spaces.Discrete(2))
    env = Shield(inner, cartpole_spec, fallback=near_optimal, proof=cartpole_proof)
    records = _run(env, inner, proposals, ViolationMonitor(cartpole_spec, near_optimal))
    for rec, action in zip(records, inner.received, strict=True):
        assert rec.executed == action and rec.source in SOURCES and rec.source != "unsafe-fallback"
        assert rec.intervened == (rec.reason is not None)
    assert env.totals.unsafe_steps == 0


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(2, 12),
    jump=st.sampled_from([0.05, 0.15, 1.0]),
)
def test_continuous_executed_actions_never_violate(data: Any, n: int, jump: float, damp: Any, damp_spec: Any, damp_proof: Any) -> None:
    steps = data.draw(st.lists(st.floats(-jump, jump), min_size=n, max_size=n))
    x0 = data.draw(st.floats(-2.5, 2.5))
    xs = [x0]
    for d in steps:
        xs.append(float(np.clip(xs[-1] + d, -3, 3)))
    obs = [[x, 0.0] for x in xs]
    proposals = data.draw(st.lists(continuous_proposals, min_size=n, max_size=n))
    inner = ScriptedEnv(obs, gym.spaces.Box(-2, 2, (1,), np.float32))
    env = Shield(inner, damp_spec, fallback=damp, proof=damp_proof)
    records = _run(env, inner, proposals, ViolationMonitor(damp_spec, damp))
    for rec, action in zip(records, inner.received, strict=True):
        assert rec.executed == float(action[0])
        assert rec.source != "unsafe-fallback"
    assert env.totals.unsafe_steps == 0
