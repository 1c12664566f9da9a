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
