"""Unrepairable inputs: the explanation names the conflicting properties and a real witness."""

from __future__ import annotations

from saferl.policy import parse_policy
from saferl.repair import RepairOptions, repair_policy
from saferl.spec import parse_spec

POLICY = parse_policy(
    "policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0 { a = l } else { a = r }\n"
)


def test_conflicting_spec_is_shown_unrepairable_with_the_point() -> None:
    spec = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n"
        "  - {id: want-right, kind: invariant, when: x > 0, require: a == r}\n"
        "  - {id: want-left, kind: invariant, when: x > 0.5, require: a == l}\n"
    )
    result = repair_policy(POLICY, spec, RepairOptions(timeout_s=20))
    assert result.status == "unrepairable"
    assert "spec itself conflicts" in result.reason
    assert "want-right" in result.reason and "want-left" in result.reason
    x = result.witnesses[0].observations["t"]["x"]
    assert x > 0.5  # the point lies where both properties apply
    assert result.policy_text.startswith("policy p")  # the original is returned untouched


def test_budget_of_one_iteration_reports_why() -> None:
    spec = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n"
        "  - {id: want-right, kind: invariant, when: x > 0.3 and x < 0.4, require: a == l}\n"
    )
    result = repair_policy(POLICY, spec, RepairOptions(max_iters=1, structural=False))
    # one iteration may or may not suffice; either way the outcome is explained and honest
    if result.status in ("unrepairable", "not-repaired"):
        assert result.reason
    else:
        assert result.verdict.value == "SAFE"
