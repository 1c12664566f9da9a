"""The wrong verdicts adversarial testing found, one class per test, each closed at its root:
labels scoped per action, float64 arithmetic (rounding, overflow, NaN), finite undeclared
observations, and valid inputs that used to be tool errors (the float32 maximum, irrational
models, counterexamples that did not replay)."""

from __future__ import annotations

import io
import math

import pytest

from saferl.cli import run
from saferl.errors import SpecError
from saferl.policy import ProgramPolicy, parse_policy
from saferl.results import Verdict
from saferl.spec import parse_spec
from saferl.verify import VerifyOptions, verify_policy

HEAD = "policy t\nobs x: float32\nobs y: float32\n"


def verdicts(policy: str, spec: str, solver: str = "z3", cross_check: bool = False) -> dict[str, Verdict]:
    result = verify_policy(parse_policy(policy), parse_spec(spec), VerifyOptions(solver=solver, cross_check=cross_check, timeout_s=20))
    for r in result.results:
        if r.verdict is Verdict.UNSAFE:  # every counterexample replays on the compiled runtime policy too
            assert r.counterexample is not None and r.counterexample.replayed
    return {r.property_id: r.verdict for r in result.results}


# -- 1. labels are scoped per action ------------------------------------------------------

LABELS = "policy l\nobs x: float32\nact p: discrete {l = 0, r = 1}\nact q: discrete {r = 0, l = 1}\np = l\nq = l\n"


def test_allowed_labels_mean_the_action_s_own_values() -> None:
    spec = "observations: {x: [-1, 1]}\nproperties:\n  - {id: p-r, kind: bounds, action: p, allowed: [r]}\n  - {id: q-l, kind: bounds, action: q, allowed: [l]}\n"
    assert verdicts(LABELS, spec) == {"p-r": Verdict.UNSAFE, "q-l": Verdict.SAFE}


@pytest.mark.parametrize(("require", "expected"), [("p == l", Verdict.SAFE), ("l == q", Verdict.SAFE), ("q == r", Verdict.UNSAFE), ("p != l", Verdict.UNSAFE)])
def test_a_label_compared_with_an_action_is_that_action_s_label(require: str, expected: Verdict) -> None:
    spec = f"observations: {{x: [-1, 1]}}\nproperties:\n  - {{id: c, kind: invariant, require: '{require}'}}\n"
    assert verdicts(LABELS, spec) == {"c": expected}


def test_an_ambiguous_label_is_an_error_at_its_position() -> None:
    spec = parse_spec("observations: {x: [-1, 1]}\nproperties:\n  - {id: c, kind: invariant, require: 'p + 0 == l'}\n", "s.yaml")
    with pytest.raises(SpecError, match=r"s.yaml:3:\d+: label 'l' is ambiguous: it means 0 for 'p', 1 for 'q'"):
        verify_policy(parse_policy(LABELS), spec)


def test_a_label_of_another_action_is_an_error() -> None:
    policy = "policy l\nobs x: float32\nact p: discrete {a = 0, b = 1}\nact q: discrete {c = 0, d = 1}\np = a\nq = c\n"
    spec = parse_spec("properties:\n  - {id: c, kind: invariant, require: 'p == c'}\n", "s.yaml")
    with pytest.raises(SpecError, match="'c' is not a label of action 'p'"):
        verify_policy(parse_policy(policy), spec)


# -- 2. float64 arithmetic as it runs -------------------------------------------------------

TRAPS = [
    # constant folding: 0.1 * 10 is exactly 1.0 in float64, so x = 1 takes the else branch
    ("act a: discrete {yes = 1, no = 0}\nif x < 0.1 * 10 { a = yes } else { a = no }\n", "x: [0, 1]", "a == yes", "true", Verdict.UNSAFE),
    # (x + 0.1) - 0.1 exceeds x for some float32 x (e.g. tiny ones)
    ("act a: continuous\na = (x + 0.1) - 0.1\n", "x: [0, 1]", "a <= x", "true", Verdict.UNSAFE),
    # y lost in rounding: 1 + 1e-17 == 1
    ("act a: continuous\na = x + y\n", "x: [1, 2], y: [1e-20, 1e-10]", "a > x", "true", Verdict.UNSAFE),
    # overflow to inf, then inf - inf = NaN
    ("act a: continuous\na = x * 1e300 * 1e300\n", "x: [0.5, 1]", "a <= 1e30", "true", Verdict.UNSAFE),
    ("act a: continuous\na = (x * 1e300 * 1e300) - (x * 1e300 * 1e300)\n", "x: [0.5, 1]", "a == 0", "true", Verdict.UNSAFE),
    # a spec's own arithmetic rounds too: x + 1e-17 <= 1 holds at x = 1
    ("act a: discrete {yes = 1, no = 0}\nif x < 1 { a = yes } else { a = no }\n", "x: [0, 1]", "a == yes", "x + 1e-17 <= 1", Verdict.UNSAFE),
    # and the same shapes that are safe stay provable
    ("act a: continuous\na = 2 * x - y\n", "x: [-1, 1], y: [-1, 1]", "a <= 3 and a >= -3", "true", Verdict.SAFE),
    ("act a: continuous\na = clip(10 * x + 0.1, -1, 1)\n", "x: [-5, 5]", "a <= 1 and a >= -1", "true", Verdict.SAFE),
    ("act a: continuous\na = x * 1e300 * 1e300\n", "x: [0.5, 1]", "a != 0", "true", Verdict.SAFE),
    ("act a: continuous\na = x * 0.1\n", "x: [0, 1]", "a >= 0", "true", Verdict.SAFE),
    ("act a: continuous\na = abs(x) + abs(y)\n", "x: [-1, 1], y: [-1, 1]", "a <= 2", "true", Verdict.SAFE),
]


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
@pytest.mark.parametrize(("body", "domains", "require", "when", "expected"), TRAPS)
def test_float64_traps(body: str, domains: str, require: str, when: str, expected: Verdict, solver: str) -> None:
    spec = f"observations: {{{domains}}}\nproperties:\n  - {{id: p, kind: invariant, when: '{when}', require: '{require}'}}\n"
    assert verdicts(HEAD + body, spec, solver) == {"p": expected}


def test_cross_check_agrees_on_the_bit_precise_stage() -> None:
    body, domains, require, when, expected = TRAPS[2]
    spec = f"observations: {{{domains}}}\nproperties:\n  - {{id: p, kind: invariant, when: '{when}', require: '{require}'}}\n"
    assert verdicts(HEAD + body, spec, cross_check=True) == {"p": expected}


def test_the_counterexample_is_a_float_point_the_runtime_really_violates() -> None:
    program = parse_policy(HEAD + "act a: continuous\na = (x + 0.1) - 0.1\n")
    result = verify_policy(program, parse_spec("observations: {x: [0, 1]}\nproperties:\n  - {id: p, kind: invariant, require: a <= x}\n"))
    obs = result.results[0].counterexample.steps[-1].observations  # type: ignore[union-attr]
    import numpy as np

    a = ProgramPolicy(program).act(np.array([obs["x"], obs["y"]], dtype=np.float32))
    assert a > obs["x"]


# -- 3. undeclared observations are finite ---------------------------------------------------


def test_undeclared_float32_observations_are_finite() -> None:
    # with x = inf this was reported UNSAFE; every finite float32 x gives |0.1 x| < 3.5e37
    assert verdicts(HEAD + "act a: continuous\na = x * 0.1\n", "properties:\n  - {id: p, kind: bounds, action: a, range: [-1e38, 1e38]}\n") == {"p": Verdict.SAFE}


def test_undeclared_float64_observations_and_state_decode_to_finite_values() -> None:
    policy = "policy t\nobs v: float64\nact a: continuous\na = pid(v, 0, 1, 1, 0)\n"
    spec = "properties:\n  - {id: p, kind: invariant, require: a <= 1e300}\n"
    result = verify_policy(parse_policy(policy), parse_spec(spec))
    r = result.results[0]
    assert r.verdict is Verdict.UNSAFE
    step = r.counterexample.steps[-1]  # type: ignore[union-attr]
    assert all(math.isfinite(v) for v in [*step.observations.values(), *step.state.values()])


# -- 5. valid inputs that used to be tool errors --------------------------------------------

F32_MAX = "3.4028234663852886e+38"


@pytest.mark.parametrize(("cond", "require", "expected"), [
    (f"x <= {F32_MAX}", "a == l", Verdict.SAFE),
    (f"x < {F32_MAX}", "a == l", Verdict.UNSAFE),
    (f"x >= -{F32_MAX}", "a == l", Verdict.SAFE),
    (f"x == {F32_MAX}", "a == r", Verdict.UNSAFE),
])
def test_comparisons_with_the_float32_maximum(cond: str, require: str, expected: Verdict) -> None:
    policy = HEAD + f"act a: discrete {{l = 0, r = 1}}\nif {cond} {{ a = l }} else {{ a = r }}\n"
    assert verdicts(policy, f"properties:\n  - {{id: p, kind: invariant, require: '{require}'}}\n") == {"p": expected}


def test_a_spec_constant_at_the_float32_maximum() -> None:
    policy = HEAD + "act a: discrete {l = 0, r = 1}\nif x > 0 { a = l } else { a = r }\n"
    spec = f"properties:\n  - {{id: p, kind: invariant, when: 'x >= {F32_MAX}', require: a == l}}\n"
    assert verdicts(policy, spec) == {"p": Verdict.SAFE}


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_an_irrational_model_is_no_tool_error(solver: str) -> None:
    # the real model has x = sqrt(2); no float32 squares to exactly 2.0
    assert verdicts(HEAD + "act a: continuous\na = x * x\n", "observations: {x: [-2, 2]}\nproperties:\n  - {id: p, kind: invariant, require: a != 2}\n", solver) == {"p": Verdict.SAFE}


def test_a_real_point_that_no_float32_reaches_is_no_tool_error() -> None:
    # 0.2 is no float32, so abs(y) != 0.2 always; the real model y = 0.2 does not replay
    assert verdicts(HEAD + "act a: continuous\na = abs(y)\n", "properties:\n  - {id: p, kind: invariant, require: a != 0.2}\n") == {"p": Verdict.SAFE}


def test_cli_exit_codes_for_the_traps(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pol = tmp_path / "p.pol"
    pol.write_text(HEAD + "act a: continuous\na = (x + 0.1) - 0.1\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("observations: {x: [0, 1]}\nproperties:\n  - {id: p, kind: invariant, require: a <= x}\n")
    out, err = io.StringIO(), io.StringIO()
    assert run(["verify", str(pol), "--spec", str(spec)], out, err) == 1
    spec.write_text("observations: {x: [0, 1]}\nproperties:\n  - {id: p, kind: invariant, require: a <= x + 1e-9}\n")
    assert run(["verify", str(pol), "--spec", str(spec)], io.StringIO(), io.StringIO()) == 0


def test_pid_with_unbounded_state_overflow_then_finite_counterexample() -> None:
    # undeclared PID state ranges over every finite float64: kd * (err - prev_error) may
    # overflow after earlier roundings; the finite violation is still found and replayed,
    # and the range property is never claimed without a proof
    from pathlib import Path

    from saferl.policy import load_policy
    from saferl.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    result = verify_policy(
        load_policy(root / "policies/extracted/mountaincar-pid.pol"), load_spec(root / "specs/mountaincar/momentum.yaml"),
        VerifyOptions(timeout_s=2),
    )
    got = {r.property_id: r.verdict for r in result.results}
    assert got["never-brake-uphill"] is Verdict.UNSAFE and got["escape-left-wall"] is Verdict.UNSAFE
    assert got["force-range"] in (Verdict.SAFE, Verdict.UNKNOWN)
