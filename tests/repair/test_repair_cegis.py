"""Parametric CEGIS: the shipped UNSAFE examples are repaired and re-verified SAFE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saferl.policy import format_policy, load_policy, parse_policy
from saferl.repair import RepairOptions, repair_policy
from saferl.results import Verdict
from saferl.spec import load_spec, parse_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE_SPEC = ROOT / "specs/cartpole/pole_follow.yaml"


def _reverify(text: str, spec_path: Path) -> Verdict:
    return verify_policy(parse_policy(text), load_spec(spec_path)).verdict


@pytest.mark.parametrize("name", ["worst", "intermediate"])
def test_shipped_cartpole_unsafe_policies_are_repaired(name: str) -> None:
    path = ROOT / f"policies/cartpole/{name}.pol"
    spec = load_spec(CARTPOLE_SPEC)
    program = load_policy(path)
    assert verify_policy(program, spec).verdict is Verdict.UNSAFE
    result = repair_policy(program, spec, RepairOptions(timeout_s=30), source_text=path.read_text())
    assert result.status == "repaired"
    assert result.verdict is Verdict.SAFE
    assert result.changes or result.edits
    assert _reverify(result.policy_text, CARTPOLE_SPEC) is Verdict.SAFE
    assert result.witnesses  # the counterexamples that forced the change are reported


def test_worst_minimal_change_moves_one_threshold_out_of_the_domain() -> None:
    path = ROOT / "policies/cartpole/worst.pol"
    result = repair_policy(load_policy(path), load_spec(CARTPOLE_SPEC), source_text=path.read_text())
    assert [(c.kind, c.old, c.old_line) for c in result.changes] == [("threshold", 0.5, 13)]
    assert result.changes[0].new < -5  # below the spec's cart_velocity domain
    assert "cart_velocity <= 0.5" in result.changes[0].old_text


def test_pid_smoothness_is_repaired_by_retuning_gains() -> None:
    path = ROOT / "policies/repair/pid_accel.pol"
    spec_path = ROOT / "specs/repair/pid_smooth.yaml"
    program = load_policy(path)
    spec = load_spec(spec_path)
    assert verify_policy(program, spec).verdict is Verdict.UNSAFE
    # the parametric search gets half the budget before structural edits are tried (then
    # resumes): 60 s leaves it the ~20 s it needs on a loaded machine
    result = repair_policy(program, spec, RepairOptions(timeout_s=60), source_text=path.read_text())
    assert result.status == "repaired"
    assert {c.kind for c in result.changes} == {"gain"}
    assert _reverify(result.policy_text, spec_path) is Verdict.SAFE
    assert result.time_s < 66  # the budget, within 10 %


def test_already_safe_policy_is_returned_unchanged() -> None:
    path = ROOT / "policies/cartpole/near_optimal.pol"
    program = load_policy(path)
    result = repair_policy(program, load_spec(CARTPOLE_SPEC))
    assert result.status == "already-safe"
    assert result.policy_text == format_policy(program)
    assert not result.changes and not result.edits


def test_threshold_moves_exactly_to_the_spec_boundary() -> None:
    p = parse_policy(
        "policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0.5 { a = l } else { a = r }\n"
    )
    s = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n  - {id: right, kind: invariant, when: x > 0.2, require: a == r}\n"
    )
    result = repair_policy(p, s)
    assert result.status == "repaired"
    assert [(c.old, c.new) for c in result.changes] == [(0.5, 0.2)]


def test_continuous_leaf_is_moved_into_bounds() -> None:
    p = parse_policy(
        "policy p\nobs x: float32\nact u: continuous\nif x <= 0 { u = 1.2 } else { u = 0.5 * x }\n"
    )
    s = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n  - {id: small, kind: bounds, action: u, range: [-1, 1]}\n"
    )
    result = repair_policy(p, s)
    assert result.status == "repaired"
    assert [(c.kind, c.old, c.new) for c in result.changes] == [("leaf", 1.2, 1.0)]


def test_behaviour_states_from_an_array_change_the_choice() -> None:
    # two ways to repair: flip the leaf (changes every visited state left of 0) or move the
    # threshold; the visited states decide how much each costs
    p = parse_policy(
        "policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0.5 { a = l } else { a = r }\n"
    )
    s = parse_spec(
        "observations: {x: [-1, 1]}\nproperties:\n  - {id: right, kind: invariant, when: x > 0.2, require: a == r}\n"
    )
    states = np.linspace(-1, 1, 41).reshape(-1, 1)
    result = repair_policy(p, s, RepairOptions(states=states))
    assert result.status == "repaired"
    assert result.behaviour_states > 0
    # only states in (0.2, 0.5] change action
    assert result.behaviour_changed is not None and 0 < result.behaviour_changed < 0.2


def test_visited_states_steer_the_repair_to_another_parameter() -> None:
    # two repairs: move the x split down to 0.2 (cheap, but it flips every visited state,
    # which all sit at x in (0.25, 0.45)), or move the y split down to 0.2 (dearer, flips none)
    p = parse_policy(
        "policy p\nobs x: float32\nobs y: float32\nact a: discrete {l = 0, r = 1}\n"
        "if x <= 0.5 { if y <= 0.9 { a = l } else { a = r } } else { a = r }\n"
    )
    s = parse_spec(
        "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n"
        "  - {id: right, kind: invariant, when: x > 0.2 and y > 0.2, require: a == r}\n"
    )
    plain = repair_policy(p, s)
    assert [(c.old, c.new) for c in plain.changes] == [(0.5, 0.2)]
    rng = np.random.default_rng(0)
    states = np.column_stack([rng.uniform(0.25, 0.45, 40), rng.uniform(-1, 0.1, 40)])
    kept = repair_policy(p, s, RepairOptions(states=states))
    assert [(c.old, c.new) for c in kept.changes] == [(0.9, 0.2)]
    assert kept.behaviour_changed == 0.0
