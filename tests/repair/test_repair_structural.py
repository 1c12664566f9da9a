"""Structural repair: when no parameter values work, split a leaf or add a guard."""

from __future__ import annotations

from saferl.policy import parse_policy
from saferl.repair import RepairOptions, repair_policy
from saferl.results import Verdict
from saferl.spec import parse_spec
from saferl.verify import verify_policy

HEAD = (
    "policy p\nobs angle: float32 in [-0.5, 0.5]\nobs rate: float32\n"
    "act push: discrete {left = 0, right = 1}\n"
)
FOLLOW = parse_spec(
    "observations: {angle: [-0.2, 0.2], rate: [-5, 5]}\n"
    "properties:\n"
    "  - {id: follow-right, kind: invariant, when: angle > 0.02 and rate > 0.2, require: push == right}\n"
    "  - {id: follow-left, kind: invariant, when: angle < -0.02 and rate < -0.2, require: push == left}\n"
)


def test_constant_policy_needs_a_split() -> None:
    text = HEAD + "push = left\n"
    result = repair_policy(parse_policy(text), FOLLOW, source_text=text)
    assert result.status == "repaired"
    assert result.edits and result.edits[0].kind == "split-leaf"
    assert result.edits[0].old_line == 5 and result.edits[0].old_text == "push = left"
    assert result.policy_text.startswith(HEAD)  # the user's text, patched
    assert "if " in result.edits[0].new_text
    assert verify_policy(parse_policy(result.policy_text), FOLLOW).verdict is Verdict.SAFE
    assert any(a.outcome == "unsat" for a in result.attempts)  # parametric was tried first


def test_without_structural_edits_the_conflicting_counterexamples_are_named() -> None:
    program = parse_policy(HEAD + "push = left\n")
    result = repair_policy(program, FOLLOW, RepairOptions(structural=False))
    assert result.status == "unrepairable"
    assert "follow-left" in result.reason and "follow-right" in result.reason
    assert {w.property_id for w in result.witnesses} == {"follow-left", "follow-right"}
    # the named counterexamples really conflict: one needs right, the other left
    for w in result.witnesses:
        obs = w.observations["t"]
        if w.property_id == "follow-right":
            assert obs["angle"] > 0.02 and obs["rate"] > 0.2
        else:
            assert obs["angle"] < -0.02 and obs["rate"] < -0.2


def test_two_violating_leaves_are_split_together() -> None:
    # both leaves are wrong somewhere; no single split of one leaf suffices
    program = parse_policy(HEAD + "if angle <= 0 { push = right } else { push = left }\n")
    result = repair_policy(program, FOLLOW, RepairOptions(timeout_s=60))
    assert result.status == "repaired"
    assert verify_policy(parse_policy(result.policy_text), FOLLOW).verdict is Verdict.SAFE


def test_pid_program_leaf_split_or_gain_change_verifies() -> None:
    program = parse_policy(
        "policy q\nobs e: float32\nact u: continuous\nif e <= 0 { u = 2 * e } else { u = 5 }\n"
    )
    spec = parse_spec(
        "observations: {e: [-1, 1]}\nproperties:\n  - {id: cap, kind: bounds, action: u, range: [-1, 1]}\n"
    )
    result = repair_policy(program, spec)
    assert result.status == "repaired"
    assert verify_policy(parse_policy(result.policy_text), spec).verdict is Verdict.SAFE


def test_three_regions_need_two_splits() -> None:
    program = parse_policy("policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\na = l\n")
    spec = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n"
        "  - {id: low, kind: invariant, when: x < -0.5, require: a == r}\n"
        "  - {id: mid, kind: invariant, when: x > -0.2 and x < 0.2, require: a == l}\n"
        "  - {id: high, kind: invariant, when: x > 0.5, require: a == r}\n"
    )
    result = repair_policy(program, spec)
    assert result.status == "repaired"
    assert ", then split" in result.reason
    assert result.edits[0].old_text == "a = l"
    assert verify_policy(parse_policy(result.policy_text), spec).verdict is Verdict.SAFE
