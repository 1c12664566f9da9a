"""The guards of the soundness rules: a counterexample that does not replay and a solver
disagreement are tool errors (exit 2), never findings or proofs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import saferl.smt.solve as solve_mod
import saferl.smt.tree as tree_mod
import saferl.verify as verify_mod
from saferl.cli import run
from saferl.errors import InternalError, SolverError
from saferl.policy import load_policy, parse_policy
from saferl.spec import load_spec, parse_spec
from saferl.verify import VerifyOptions, verify_policy

ROOT = Path(__file__).resolve().parents[2]
WORST = ROOT / "policies/cartpole/worst.pol"
NEAR = ROOT / "policies/cartpole/near_optimal.pol"
FOLLOW = ROOT / "specs/cartpole/pole_follow.yaml"


def test_a_counterexample_that_does_not_replay_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # simulate an evaluator that disagrees with the encoding
    monkeypatch.setattr(verify_mod, "replay", lambda *a, **k: (False, [], {}))
    with pytest.raises(InternalError, match="did not replay"):
        verify_policy(load_policy(WORST), load_spec(FOLLOW))
    out, err = io.StringIO(), io.StringIO()
    assert run(["verify", str(WORST), "--spec", str(FOLLOW)], out, err) == 2
    assert "tool error" in err.getvalue() and out.getvalue() == ""


def test_solver_disagreement_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_solve = solve_mod.solve

    def lying_cvc5(formula, symbols, solver="z3", timeout_s=10.0, **kw):  # type: ignore[no-untyped-def]
        outcome = real_solve(formula, symbols, solver, timeout_s, **kw)
        if solver == "cvc5":
            flipped = {"sat": "unsat", "unsat": "sat"}.get(outcome.status, outcome.status)
            return solve_mod.SolveOutcome(flipped, "cvc5", outcome.time_s)
        return outcome

    monkeypatch.setattr(solve_mod, "solve", lying_cvc5)
    with pytest.raises(SolverError, match="solvers disagree"):
        verify_policy(load_policy(NEAR), load_spec(FOLLOW), VerifyOptions(cross_check=True))
    out, err = io.StringIO(), io.StringIO()
    assert run(["verify", str(NEAR), "--spec", str(FOLLOW), "--cross-check"], out, err) == 2
    assert "solvers disagree" in err.getvalue()


def test_unknown_is_never_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        solve_mod, "solve", lambda f, s, solver="z3", timeout_s=10.0, **kw: solve_mod.SolveOutcome("unknown", solver, 0.0, reason="timeout after 10 s")
    )
    # a tree whose leaves need the solver (a linear condition) stays UNKNOWN too
    linear = parse_policy(
        "policy p\nobs x: float32\nobs y: float32\nact a: discrete {l = 0, r = 1}\n"
        "if 0.5 * x + y <= 0.25 { a = l } else { a = r }\n"
    )
    spec = parse_spec("observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n  - {id: r, kind: invariant, when: x > 0.9, require: a == r}\n")
    assert verify_policy(linear, spec).results[0].verdict.value == "UNKNOWN"
    # the leaf boxes of an axis-aligned tree need no solver: encode it whole here
    monkeypatch.setattr(tree_mod.TreeDecomposition, "decide", lambda *a, **k: None)
    result = verify_policy(load_policy(NEAR), load_spec(FOLLOW))
    assert {r.verdict.value for r in result.results} == {"UNKNOWN"}
    out, err = io.StringIO(), io.StringIO()
    assert run(["verify", str(NEAR), "--spec", str(FOLLOW)], out, err) == 3
