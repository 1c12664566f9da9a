"""Coefficients of linear conditions are repair parameters (issue 15's user tree)."""

from __future__ import annotations

import time

from saferl.policy import parse_policy
from saferl.repair import RepairOptions, repair_policy
from saferl.results import Verdict
from saferl.spec import parse_spec
from saferl.verify import verify_policy

USER_TREE = """\
# a user's CartPole tree: lean plus half the angular velocity decides the push
policy user_tree
obs cart_position: float32
obs cart_velocity: float32
obs pole_angle: float32
obs pole_angular_velocity: float32
act push: discrete {left = 0, right = 1}

if pole_angle + 0.5 * pole_angular_velocity <= 0 {
  if cart_position <= -2 { push = right } else { push = left }
} else {
  if cart_position <= 2 { push = right } else { push = left }
}
"""

#: invariants and a two-run smoothness property: only the lean may decide, so the
#: velocity's coefficient has to (almost) vanish
MIXED_SPEC = """\
observations:
  cart_position: [-1.5, 1.5]
  cart_velocity: [-2, 2]
  pole_angle: [-0.2, 0.2]
  pole_angular_velocity: [-2, 2]
properties:
  - id: right-when-leaning-right
    kind: invariant
    when: pole_angle > 0.04
    require: push == right
  - id: left-when-upright
    kind: invariant
    when: pole_angle < 0.03
    require: push == left
  - id: steady-when-leaning
    kind: smoothness
    when: abs(pole_angle - pole_angle') <= 0.001 and pole_angle > 0.05 and pole_angle' > 0.05
    require: push == push'
"""


def test_the_coefficient_of_a_linear_condition_is_repaired() -> None:
    program, spec = parse_policy(USER_TREE), parse_spec(MIXED_SPEC)
    assert verify_policy(program, spec).verdict is Verdict.UNSAFE
    start = time.perf_counter()
    result = repair_policy(program, spec, RepairOptions(timeout_s=30), source_text=USER_TREE)
    assert time.perf_counter() - start <= 33
    assert result.status == "repaired", result.reason
    moved = {c.kind: (c.old, c.new) for c in result.changes}
    assert "constant" in moved and moved["constant"][0] == 0.5
    assert abs(moved["constant"][1]) <= 0.0025  # bounded by the spec: the lean alone decides
    assert result.policy_text.startswith("# a user's CartPole tree")  # the user's text, patched
    assert "  if cart_position <= -2 { push = right } else { push = left }" in result.policy_text
    assert verify_policy(parse_policy(result.policy_text), spec).verdict is Verdict.SAFE


def test_a_short_budget_still_reaches_the_coefficients() -> None:
    program, spec = parse_policy(USER_TREE), parse_spec(MIXED_SPEC)
    result = repair_policy(program, spec, RepairOptions(timeout_s=8), source_text=USER_TREE)
    assert result.status in ("repaired", "not-repaired")
    assert any(a.shape == "parameters and constants" for a in result.attempts), result.attempts
