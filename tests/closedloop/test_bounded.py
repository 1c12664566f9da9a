"""Bounded proofs: the exact split points of tree tests, and reach proofs that sampled
trajectories never contradict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from saferl.closedloop import ClosedLoopOptions, check_closed_loop
from saferl.closedloop.bounded import guard_split_point
from saferl.closedloop.falsify import initial_samples
from saferl.closedloop.policybox import act_points
from saferl.dynamics import make_model
from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]
OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@pytest.mark.parametrize("op", list(OPS))
def test_guard_split_point_is_the_last_float_on_one_side(op):
    rng = np.random.default_rng(3)
    for c in list(rng.normal(0, 2, 300)) + [0.0, -0.0, 1.0, 0.1, -0.3, 0.2, 1e-30, float(np.float32(0.3))]:
        p = guard_split_point(op, float(c))
        below = float(np.float32(p))
        above = float(np.float32(math.nextafter(p, math.inf)))
        first_side = op in ("<=", "<")
        assert OPS[op](below, c) == first_side
        assert OPS[op](above, c) != first_side


def test_reach_proof_holds_on_sampled_trajectories():
    spec = parse_spec("""properties:
  - {id: r, kind: reach, dynamics: MountainCarContinuous-v0, initial: {position: [-0.52, -0.48]},
     eventually: position >= 0.45, within: 999}
""")
    program = load_policy(ROOT / "policies/mountaincar/bang_bang.pol")
    (out,) = check_closed_loop(program, spec, ClosedLoopOptions(timeout_s=15))
    assert out.result.verdict is Verdict.SAFE, out.result.message
    bound = out.proved_steps
    model = make_model("MountainCarContinuous-v0")
    s = initial_samples(spec.closed_loop[0], 5000, seed=9)
    reached = s[:, 0] >= 0.45
    for t in range(bound):
        s = model.concrete_step(s, act_points(program, model.concrete_observe(s)), fresh=(t == 0))
        reached |= s[:, 0] >= 0.45
    assert reached.all()


def test_joined_boxes_contain_their_members():
    from saferl.closedloop.bounded import join_boxes

    rng = np.random.default_rng(0)
    lo = rng.uniform(-1, 1, (500, 3))
    hi = lo + rng.uniform(0, 0.05, (500, 3))
    glo, ghi = join_boxes(lo, hi, np.array([0.2, 0.2, 0.2]))
    assert len(glo) < len(lo)
    inside = (lo[:, None, :] >= glo[None]) & (hi[:, None, :] <= ghi[None])
    assert inside.all(axis=2).any(axis=1).all()
