"""``pid(signal, target, kp, ki, kd, window)``: PROPEL's windowed integral.

The parser, printer, reference interpreter, compiled evaluator and the SMT encoding
(float64 rounding through the same path as every other operation) must agree; a proof is
checked by sampling and a counterexample by replaying it on both evaluators.
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saferl.errors import PolicyParseError
from saferl.policy import format_policy, parse_policy
from saferl.policy.evaluate import compile_program, interpret
from saferl.results import Verdict
from saferl.spec import parse_spec
from saferl.verify import VerifyOptions, verify_policy

HEADER = "policy w\nobs x: float32 in [-1, 1]\nobs y: float32\nact u: continuous\n"


def program(body: str) -> str:
    return HEADER + body + "\n"


class PropelPid:
    """PROPEL's controller as its Python code reads: the integral sums the last w errors."""

    def __init__(self, target: float, kp: float, ki: float, kd: float, window: int) -> None:
        self.target, self.kp, self.ki, self.kd = target, kp, ki, kd
        self.errors: deque[float] = deque(maxlen=window)
        self.prev = 0.0

    def __call__(self, signal: float) -> float:
        error = self.target - signal
        self.errors.append(error)
        out = self.kp * error + self.ki * sum(self.errors) + self.kd * (error - self.prev)
        self.prev = error
        return out


def test_state_names_and_slots_follow_the_windows() -> None:
    p = parse_policy(program("u = pid(x, 0, 1, 1, 1, 5) + pid(y, 0, 1, 1, 1) + pid(x, 0, 1, 1, 1, 1)"))
    assert p.state_names == (
        "pid0.prev_error", "pid0.error2", "pid0.error3", "pid0.error4",
        "pid1.integral", "pid1.prev_error", "pid2.prev_error",
    )
    assert p.pid_slots == (0, 4, 6)


def test_print_round_trips_and_keeps_the_window() -> None:
    text = program("u = clip(pid(x - y, 0.5, 1.5, 0.25, 2, 5), -1, 1) + pid(y, 0, 1, 0, 0)")
    p = parse_policy(text)
    out = format_policy(p)
    assert "pid(x - y, 0.5, 1.5, 0.25, 2, 5)" in out and "pid(y, 0, 1, 0, 0)" in out
    assert parse_policy(out) == p
    # the window is structure, not a tunable parameter: ids and values are unchanged
    assert [q.value for q in p.parameters()] == [0.5, 1.5, 0.25, 2.0, -1.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    assert parse_policy(format_policy(p.with_values({1: 3.0}))).pids[0].window == 5


@pytest.mark.parametrize(
    ("args", "col", "message"),
    [
        ("0", 24, "the pid window must be a whole number of steps from 1 to 100"),
        ("101", 24, "the pid window must be a whole number of steps from 1 to 100"),
        ("2.0", 24, "the pid window must be a whole number of steps from 1 to 100"),
        ("-3", 24, "the pid window must be a whole number of steps from 1 to 100"),
        ("5, 6", 25, "expected ')'"),
        ("x", 24, "expected a number"),
    ],
)
def test_bad_windows_are_errors_at_their_column(args: str, col: int, message: str) -> None:
    text = program(f"u = pid(x, 0, 1, 1, 1, {args})")
    with pytest.raises(PolicyParseError) as info:
        parse_policy(text, path="w.pol")
    assert str(info.value).startswith(f"w.pol:5:{col}: {message}"), str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    window=st.integers(1, 7),
    gains=st.lists(st.floats(-5, 5, allow_nan=False), min_size=4, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_interpreter_compiled_and_propel_agree(window: int, gains: list[float], seed: int) -> None:
    target, kp, ki, kd = gains
    p = parse_policy(program(f"u = pid(x, {target!r}, {kp!r}, {ki!r}, {kd!r}, {window})"))
    step = compile_program(p)
    reference = PropelPid(target, kp, ki, kd, window)
    rng = random.Random(seed)
    state = [0.0] * len(p.state_names)
    st_i: tuple[float, ...] | None = None
    for _ in range(3 * window + 3):
        x = float(np.float32(rng.uniform(-1, 1)))
        acts, st_i, _ = interpret(p, {"x": x, "y": 0.0}, st_i)
        (u,) = step(x, 0.0, state)
        assert acts["u"] == u == reference(x)
        assert tuple(state) == st_i


SPEC = """
observations:
  x: [-1, 1]
state:
{state}
properties:
  - id: smooth
    kind: smoothness
    when: abs(x[t] - x[t-1]) <= 0.01
    require: abs(u[t] - u[t-1]) <= {bound!r}
  - id: cap
    kind: invariant
    when: x > 0.5
    require: u <= {cap!r}
"""


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=st.integers(1, 5),
    kp=st.sampled_from([0.0, 0.5, 2.0]),
    ki=st.sampled_from([0.0, 0.1, 1.0]),
    kd=st.sampled_from([0.0, 0.3, 5.0]),
    bound=st.sampled_from([0.05, 0.5, 3.0]),
    cap=st.sampled_from([-0.2, 1.0, 4.0]),
)
def test_proofs_hold_on_samples_and_counterexamples_replay(
    window: int, kp: float, ki: float, kd: float, bound: float, cap: float,
) -> None:
    p = parse_policy(program(f"u = clip(pid(x, 0.1, {kp!r}, {ki!r}, {kd!r}, {window}), -2, 2)"))
    state = "\n".join(f"  {n}: [-1, 1]" for n in p.state_names)
    spec = parse_spec(SPEC.format(state=state, bound=bound, cap=cap))
    result = verify_policy(p, spec, VerifyOptions(timeout_s=5))
    step = compile_program(p)
    rng = random.Random(window * 1000 + int(kd * 10))
    for res in result.results:
        if res.verdict is Verdict.UNKNOWN:  # allowed (a solver limit), never a wrong answer
            continue
        if res.verdict is Verdict.UNSAFE:
            cex = res.counterexample
            assert cex is not None and cex.replayed
            # replay once more on both evaluators, from the reported initial state
            s0 = [float(cex.steps[0].state[n]) for n in p.state_names]
            s_c, s_i = list(s0), tuple(s0)
            outs = []
            for stp in cex.steps:
                x = float(stp.observations["x"])
                (u,) = step(x, 0.0, s_c)
                acts, s_i, _ = interpret(p, {"x": x, "y": 0.0}, s_i)
                assert acts["u"] == u == stp.actions["u"]
                outs.append(u)
            if res.property_id == "smooth":
                assert abs(outs[-1] - outs[-2]) > bound
            else:
                assert outs[-1] > cap
            continue
        # SAFE: no sampled run from a state in the declared box may violate it
        for _ in range(300):
            s = [rng.uniform(-1, 1) for _ in p.state_names]
            x0 = float(np.float32(rng.uniform(-1, 1)))
            x1 = float(np.float32(min(max(x0 + rng.uniform(-0.01, 0.01), -1), 1)))
            (u0,) = step(x0, 0.0, s)
            (u1,) = step(x1, 0.0, s)
            if res.property_id == "smooth" and abs(x1 - x0) <= 0.01:
                assert abs(u1 - u0) <= bound
            if res.property_id == "cap" and x1 > 0.5:
                assert u1 <= cap


def test_a_jumpy_window_controller_is_refuted_with_a_replayed_trace() -> None:
    p = parse_policy(program("u = pid(x, 0.1, 0, 1, 0, 3)"))
    state = "\n".join(f"  {n}: [-1, 1]" for n in p.state_names)
    spec = parse_spec(SPEC.format(state=state, bound=0.05, cap=10.0))
    result = verify_policy(p, spec, VerifyOptions(timeout_s=20))
    smooth, cap = result.results
    # u[t] - u[t-1] = e[t] - e[t-3]: the error three steps back is free in [-1, 1]
    assert smooth.verdict is Verdict.UNSAFE and smooth.counterexample is not None
    assert smooth.counterexample.replayed
    assert cap.verdict is Verdict.SAFE  # |u| <= 3 * 1.1


def test_propel_prior_is_expressible_exactly() -> None:
    """PROPEL's prior with its 5-step windows verifies against the throttle smoothness spec."""
    from pathlib import Path

    from saferl.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    p = parse_policy((root / "policies/torcs/prior_window.pol").read_text())
    assert [q.window for q in p.pids] == [5, 5]
    spec = load_spec(root / "specs/torcs/smooth_window.yaml")
    assert verify_policy(p, spec).verdict is Verdict.SAFE
