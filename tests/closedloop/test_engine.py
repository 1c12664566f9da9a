"""Closed-loop verdicts: UNSAFE only with a replayed trajectory, SAFE only with a proof that
dense sampling never contradicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saferl.closedloop import ClosedLoopOptions, check_closed_loop
from saferl.closedloop.falsify import initial_samples
from saferl.closedloop.policybox import act_points
from saferl.dynamics import make_model
from saferl.policy import load_policy, parse_policy
from saferl.results import Verdict
from saferl.spec import parse_spec

pytest.importorskip("gymnasium")

ROOT = Path(__file__).resolve().parents[2]
FAST = ClosedLoopOptions(samples=512, max_simulated_steps=200_000, cells=40_000, timeout_s=15)

CARTPOLE_UP = """properties:
  - id: up
    kind: safety
    dynamics: CartPole-v1
    initial: reset
    always: abs(theta) <= 0.20943951023931953
    horizon: {horizon}
"""

PENDULUM_UP = """properties:
  - id: upright
    kind: safety
    dynamics: Pendulum-v1
    initial: {theta: [-0.1, 0.1], theta_dot: [-0.1, 0.1]}
    always: abs(theta) <= 0.2
    horizon: forever
"""


def test_worst_cartpole_is_refuted_with_a_replayed_trajectory():
    program = load_policy(ROOT / "policies/cartpole/worst.pol")
    (out,) = check_closed_loop(program, parse_spec(CARTPOLE_UP.format(horizon="forever")), FAST)
    assert out.result.verdict is Verdict.UNSAFE
    cex = out.result.counterexample
    assert cex is not None and cex.replayed
    last = cex.steps[-1].state
    assert abs(last["theta"]) > 0.20943951023931953
    assert "replayed in gymnasium" in cex.detail


def test_unsafe_policies_of_every_environment_are_refuted():
    pend = parse_policy("policy p\nobs c: float32\nobs s: float32\nobs w: float32\nact u: continuous [-2, 2]\nu = 2\n")
    (out,) = check_closed_loop(pend, parse_spec(PENDULUM_UP), FAST)
    assert out.result.verdict is Verdict.UNSAFE and out.result.counterexample.replayed
    car = parse_policy("policy p\nobs x: float32\nobs v: float32\nact f: continuous [-1, 1]\nf = 0\n")
    spec = parse_spec("""properties:
  - {id: r, kind: reach, dynamics: MountainCarContinuous-v0, initial: reset, eventually: position >= 0.45, within: 200}
""")
    (out,) = check_closed_loop(car, spec, FAST)
    assert out.result.verdict is Verdict.UNSAFE and "never reaches the goal" in out.result.message


def test_pendulum_invariant_is_proved_and_never_left_by_sampled_trajectories():
    program = load_policy(ROOT / "policies/pendulum/swing_up.pol")
    prop = parse_spec(PENDULUM_UP).closed_loop[0]
    (out,) = check_closed_loop(program, parse_spec(PENDULUM_UP), FAST)
    assert out.result.verdict is Verdict.SAFE, out.result.message
    grid = out.invariant
    model = make_model("Pendulum-v1")
    s = initial_samples(prop, 3000, seed=11)
    alive = grid.alive.reshape(grid.shape)
    for t in range(300):
        first, last, leaves = grid.index_ranges(s[:, grid.dims], s[:, grid.dims])
        assert not leaves.any(), f"a sampled trajectory left the grid at step {t}"
        assert np.array_equal(first, last)
        assert alive[tuple(first[:, j] for j in range(first.shape[1]))].all(), f"left the invariant at step {t}"
        assert np.all(np.abs(s[:, 0]) <= 0.2)
        s = model.concrete_step(s, act_points(program, model.concrete_observe(s)), fresh=(t == 0))


def test_bounded_cartpole_proof_holds_on_samples():
    program = load_policy(ROOT / "policies/cartpole/near_optimal.pol")
    (out,) = check_closed_loop(program, parse_spec(CARTPOLE_UP.format(horizon=10)), FAST)
    assert out.result.verdict is Verdict.SAFE, out.result.message
    assert out.proved_steps == 11


def test_pid_programs_are_unknown_not_safe():
    program = load_policy(ROOT / "policies/extracted/pendulum-pid.pol")
    (out,) = check_closed_loop(program, parse_spec(PENDULUM_UP), FAST)
    assert out.result.verdict in (Verdict.UNKNOWN, Verdict.UNSAFE)


def test_certificate_check_rejects_a_broken_invariant():
    from saferl.closedloop.certify import check_invariant

    program = load_policy(ROOT / "policies/pendulum/swing_up.pol")
    spec = parse_spec(PENDULUM_UP)
    (out,) = check_closed_loop(program, spec, FAST)
    grid, prop = out.invariant, spec.closed_loop[0]
    model = make_model("Pendulum-v1")
    assert check_invariant(model, program, prop, grid) == (True, "")
    alive = grid.alive.reshape(grid.shape)
    # a hole in the middle: some cell's successor now lies outside
    hole = grid.alive.copy().reshape(grid.shape)
    hole[grid.shape[0] // 2, grid.shape[1] // 2] = False
    grid.alive = hole.ravel()
    ok, why = check_invariant(model, program, prop, grid)
    assert not ok and "outside the invariant" in why
    # an unsafe cell added
    bigger = alive.copy()
    bigger[0, grid.shape[1] // 2] = True
    grid.alive = bigger.ravel()
    ok, why = check_invariant(model, program, prop, grid)
    assert not ok


def test_cartpole_pole_only_invariant_holds_on_long_sampled_trajectories():
    program = load_policy(ROOT / "policies/cartpole/pole_only.pol")
    spec = parse_spec(CARTPOLE_UP.format(horizon="forever"))
    (out,) = check_closed_loop(program, spec, FAST)
    assert out.result.verdict is Verdict.SAFE, out.result.message
    grid = out.invariant
    assert [("x", "x_dot", "theta", "theta_dot")[d] for d in grid.dims] == ["theta", "theta_dot"]
    model = make_model("CartPole-v1")
    s = initial_samples(spec.closed_loop[0], 2000, seed=4)
    alive = grid.alive.reshape(grid.shape)
    for t in range(1000):
        first, _, leaves = grid.index_ranges(s[:, grid.dims], s[:, grid.dims])
        assert not leaves.any() and alive[first[:, 0], first[:, 1]].all(), f"left the invariant at step {t}"
        s = model.concrete_step(s, act_points(program, model.concrete_observe(s)))


def test_a_rare_violation_is_found_when_the_bounded_proof_stops_short():
    """The VIPER tree lets the cart leave |x| <= 2.4 before step 500 from about one reset
    state in 10,000 (23 of 200,000 sampled): the first 4,000 starts miss it, the bounded
    proof stops at a set that may violate, and the time left goes to fresh starts until one
    violates; the trajectory is replayed in gymnasium (UNKNOWN before this)."""
    import time

    from saferl.spec import load_spec

    program = load_policy(ROOT / "policies/extracted/cartpole-viper.pol")
    spec = load_spec(ROOT / "specs/closedloop/cartpole-full.yaml")
    t0 = time.perf_counter()
    (out,) = check_closed_loop(program, spec, ClosedLoopOptions(timeout_s=60))
    assert out.result.verdict is Verdict.UNSAFE, out.result.message
    assert "replayed in gymnasium" in out.result.message
    states = out.trajectory.states
    assert np.all(np.abs(states[0]) <= 0.05)
    assert abs(states[-1][0]) > 2.4 and len(states) <= 501
    assert out.stats["falsification_rounds"] >= 1
    assert time.perf_counter() - t0 < 60


def test_more_falsification_keeps_to_the_deadline():
    """A bounded proof that stops short with no time left: no extra round starts."""
    import time

    from saferl.spec import load_spec

    program = load_policy(ROOT / "policies/extracted/cartpole-viper.pol")
    spec = load_spec(ROOT / "specs/closedloop/cartpole-full.yaml")
    t0 = time.perf_counter()
    (out,) = check_closed_loop(program, spec, ClosedLoopOptions(timeout_s=1.5))
    assert out.result.verdict in (Verdict.UNKNOWN, Verdict.UNSAFE)
    assert time.perf_counter() - t0 < 1.5 + 2.0
