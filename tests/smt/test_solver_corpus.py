"""A corpus of policy × spec cases with known verdicts; z3 and cvc5 must both get them right."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.policy import load_policy, parse_policy
from saferl.results import Verdict
from saferl.spec import load_spec, parse_spec
from saferl.verify import VerifyOptions, verify_policy

ROOT = Path(__file__).resolve().parents[2]
S, U = Verdict.SAFE, Verdict.UNSAFE

SHIPPED = [
    ("policies/cartpole/worst.pol", "specs/cartpole/pole_follow.yaml", {"follow-right": U, "follow-left": S, "push-is-a-label": S}),
    ("policies/cartpole/intermediate.pol", "specs/cartpole/pole_follow.yaml", {"follow-right": S, "follow-left": U, "push-is-a-label": S}),
    ("policies/cartpole/near_optimal.pol", "specs/cartpole/pole_follow.yaml", {"follow-right": S, "follow-left": S, "push-is-a-label": S}),
    ("policies/torcs/propel_prog.pol", "specs/torcs/smooth.yaml", {"accel-smooth": S, "accel-range": S, "steer-range": S, "brake-range": S}),
    ("policies/pendulum/swing_up.pol", "specs/pendulum/upright.yaml", {"torque-range": S, "restore-right": S, "restore-left": S}),
    ("policies/mountaincar/bang_bang.pol", "specs/mountaincar/momentum.yaml", {"force-range": S, "never-brake-uphill": S, "escape-left-wall": S}),
]

P1 = "policy p\nobs x: float32\nobs y: float32\nact a: discrete {l = 0, r = 1}\nact f: continuous\n"
INLINE = [
    # float32 rounding: 0.1 is not a float32; x > 0.1 and x <= 0.1 never overlap on floats32
    (P1 + "if x <= 0.1 { a = l f = 0 } else { a = r f = 1 }", "x > 0.1", "a == r", S),
    (P1 + "if x <= 0.1 { a = l f = 0 } else { a = r f = 1 }", "x >= 0.1", "a == r", S),
    (P1 + "if x < 0.1 { a = l f = 0 } else { a = r f = 1 }", "x >= 0.1", "a == r", S),
    # the float32 just below 0.1 (0.099999994) is <= 0.1 and > 0.09999999
    (P1 + "if x <= 0.1 { a = l f = 0 } else { a = r f = 1 }", "x > 0.09999999", "a == r", U),
    (P1 + "if x == 0.1 { a = l f = 0 } else { a = r f = 1 }", "true", "a == r", S),
    (P1 + "if x == 0.5 { a = l f = 0 } else { a = r f = 1 }", "true", "a == r", U),
    (P1 + "if x != 0.5 { a = l f = 0 } else { a = r f = 1 }", "x > 0.5 or x < 0.5", "a == l", S),
    # arithmetic: f = 2x - y within the domain [-1, 1]^2
    (P1 + "a = l\nf = 2 * x - y", "true", "f <= 3 and f >= -3", S),
    (P1 + "a = l\nf = 2 * x - y", "true", "f < 3", U),
    (P1 + "a = l\nf = clip(10 * x, -1, 1)", "true", "abs(f) <= 1", S),
    (P1 + "a = l\nf = abs(x) + abs(y)", "true", "f <= 2", S),
    (P1 + "a = l\nf = min(x, y) - max(x, y)", "true", "f <= 0", S),
    (P1 + "a = l\nf = x * y", "true", "f <= 1", S),
    (P1 + "a = l\nf = x * y", "true", "f < 1", U),
    (P1 + "a = l\nf = x / 4 + y / 4", "true", "abs(f) <= 0.5", S),
    (P1 + "if x + y > 1 { a = r f = 1 } else { a = l f = 0 }", "x > 0.6 and y > 0.6", "a == r", S),
    (P1 + "if x + y > 1 { a = r f = 1 } else { a = l f = 0 }", "x > 0.5 and y > 0.4", "a == r", U),
    (P1 + "if not (x <= 0 or y <= 0) { a = r f = 1 } else { a = l f = 0 }", "x > 0 and y > 0", "a == r", S),
    (P1 + "if x > 2 { a = r f = 1 } else { a = l f = 0 }", "true", "a == l", S),
]


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
@pytest.mark.parametrize(("policy", "spec", "expected"), SHIPPED, ids=lambda v: Path(v).stem if isinstance(v, str) else "")
def test_shipped_cases(policy: str, spec: str, expected: dict[str, Verdict], solver: str) -> None:
    result = verify_policy(load_policy(ROOT / policy), load_spec(ROOT / spec), VerifyOptions(solver=solver, timeout_s=60))
    assert {r.property_id: r.verdict for r in result.results} == expected
    for r in result.results:
        assert (r.counterexample is not None) == (r.verdict is Verdict.UNSAFE)
        if r.counterexample is not None:
            assert r.counterexample.replayed


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
@pytest.mark.parametrize(("policy", "when", "require", "expected"), INLINE)
def test_inline_cases(policy: str, when: str, require: str, expected: Verdict, solver: str) -> None:
    spec = parse_spec(
        f"observations: {{x: [-1, 1], y: [-1, 1]}}\nproperties:\n  - id: p\n    kind: invariant\n"
        f"    when: '{when}'\n    require: '{require}'\n"
    )
    result = verify_policy(parse_policy(policy), spec, VerifyOptions(solver=solver, timeout_s=60))
    assert result.results[0].verdict is expected


def test_cross_check_agrees_on_every_shipped_case() -> None:
    for policy, spec, expected in SHIPPED:
        result = verify_policy(load_policy(ROOT / policy), load_spec(ROOT / spec), VerifyOptions(cross_check=True, timeout_s=60))
        assert {r.property_id: r.verdict for r in result.results} == expected
        assert all(r.cross_checked for r in result.results)


def test_stateful_smoothness_is_unsafe_without_enough_damping() -> None:
    program = parse_policy("policy p\nobs rpm: float32\nact accel: continuous\naccel = pid(rpm, 0.45, 3.54, 0.03, 400)")
    spec = parse_spec(
        "observations: {rpm: [0, 1]}\nstate: {pid0.integral: [-10, 10], pid0.prev_error: [-1, 1]}\n"
        "properties:\n  - id: smooth\n    kind: smoothness\n"
        "    when: sum(k = 0..5, abs(rpm[t-k] - rpm[t-k-1])) < 0.003\n"
        "    require: abs(accel[t] - accel[t-1]) <= 0.63\n"
    )
    r = verify_policy(program, spec).results[0]
    assert r.verdict is Verdict.UNSAFE
    steps = r.counterexample.steps
    assert [s.label for s in steps] == ["t-6", "t-5", "t-4", "t-3", "t-2", "t-1", "t"]
    rpm = [s.observations["rpm"] for s in steps]
    assert sum(abs(rpm[i + 1] - rpm[i]) for i in range(6)) < 0.003
    assert abs(steps[-1].actions["accel"] - steps[-2].actions["accel"]) > 0.63


def test_timeout_gives_unknown() -> None:
    # a nonlinear property hard enough that 1 ms is not enough
    program = parse_policy("policy p\nobs x: float64\nobs y: float64\nobs z: float64\nact f: continuous\nf = x * x * y - z * z * x + y * y * z")
    spec = parse_spec(
        "observations: {x: [-100, 100], y: [-100, 100], z: [-100, 100]}\n"
        "properties:\n  - {id: p, kind: invariant, when: 'x * y > 3 and z * x < 2', require: 'f < 1000000'}\n"
    )
    r = verify_policy(program, spec, VerifyOptions(timeout_s=0.001)).results[0]
    assert r.verdict in (Verdict.UNKNOWN, Verdict.UNSAFE)
    if r.verdict is Verdict.UNKNOWN:
        assert r.message
