"""Randomly broken SAFE policies are repaired (and re-verified) or shown unrepairable."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saferl.policy import load_policy, parse_policy
from saferl.repair import RepairOptions, repair_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
SAFE_POLICY = load_policy(ROOT / "policies/cartpole/near_optimal.pol")
SPEC = load_spec(ROOT / "specs/cartpole/pole_follow.yaml")
PARAMS = SAFE_POLICY.parameters()


@st.composite
def perturbations(draw: st.DrawFn) -> dict[int, float]:
    chosen = draw(st.lists(st.sampled_from([p.id for p in PARAMS]), min_size=1, max_size=4, unique=True))
    values: dict[int, float] = {}
    for k in chosen:
        p = PARAMS[k]
        if p.kind == "leaf":
            values[k] = float(1 - int(p.value))
        else:
            values[k] = p.value + draw(st.floats(-1.0, 1.0, allow_nan=False)).__round__(3)
    return values


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(perturbations())
def test_perturbed_safe_policy_is_repaired_or_explained(values: dict[int, float]) -> None:
    broken = SAFE_POLICY.with_values(values)
    result = repair_policy(broken, SPEC, RepairOptions(timeout_s=30, max_iters=15))
    if result.status == "already-safe":
        assert verify_policy(broken, SPEC).verdict is Verdict.SAFE
    elif result.status == "repaired":
        assert verify_policy(parse_policy(result.policy_text), SPEC).verdict is Verdict.SAFE
    else:
        # the spec is satisfiable (near_optimal proves it), so only the budget can stop a
        # repair; the explanation must say so and carry counterexamples
        assert result.reason
        assert result.witnesses
        assert "spec itself conflicts" not in result.reason


PID_SAFE = parse_policy(
    "policy pid\nobs trackPos: float32 in [-1, 1]\nobs rpm: float32 in [0, 1]\n"
    "act accel: continuous [0, 1]\naccel = pid(rpm, 0.55, 3.97, 0.85, 48.79)\n"
)
PID_SPEC = load_spec(ROOT / "specs/repair/pid_smooth.yaml")


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["kp", "ki", "kd"]), st.floats(0.05, 40.0, allow_nan=False))
def test_perturbed_pid_gains_are_repaired(gain: str, factor: float) -> None:
    params = PID_SAFE.parameters()  # target, kp, ki, kd
    assert [p.kind for p in params] == ["target", "gain", "gain", "gain"]
    p = params[{"kp": 1, "ki": 2, "kd": 3}[gain]]
    broken = PID_SAFE.with_values({p.id: round(p.value * factor, 3)})
    result = repair_policy(broken, PID_SPEC, RepairOptions(timeout_s=30))
    assert result.status in ("repaired", "already-safe"), result.reason
    assert verify_policy(parse_policy(result.policy_text), PID_SPEC).verdict is Verdict.SAFE


TREE = parse_policy(
    "policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0 { a = l } else { a = r }\n"
)


@st.composite
def two_intervals(draw: st.DrawFn) -> tuple[float, float, float, float]:
    cuts = [round(draw(st.floats(-0.95, 0.95, allow_nan=False)), 2) for _ in range(4)]
    u1, v1 = sorted(cuts[:2])
    u2, v2 = sorted(cuts[2:])
    return u1, v1, u2, v2


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(two_intervals())
def test_contradictory_requirements_are_unrepairable_exactly_when_they_overlap(
    iv: tuple[float, float, float, float],
) -> None:
    from hypothesis import assume

    from saferl.spec import parse_spec

    u1, v1, u2, v2 = iv
    assume(v1 - u1 >= 0.02 and v2 - u2 >= 0.02)
    overlap = min(v1, v2) - max(u1, u2)
    assume(abs(overlap) >= 0.01)
    spec = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n"
        f"  - {{id: want-r, kind: invariant, when: x > {u1} and x < {v1}, require: a == r}}\n"
        f"  - {{id: want-l, kind: invariant, when: x > {u2} and x < {v2}, require: a == l}}\n"
    )
    result = repair_policy(TREE, spec, RepairOptions(timeout_s=30))
    if overlap > 0:
        assert result.status == "unrepairable"
        assert "spec itself conflicts" in result.reason
        x = result.witnesses[0].observations["t"]["x"]
        assert max(u1, u2) < x < min(v1, v2)
    else:
        assert result.status in ("repaired", "already-safe"), result.reason
        assert verify_policy(parse_policy(result.policy_text), spec).verdict is Verdict.SAFE
