"""The shared cross-entropy engine: its gate holds in both modes, whatever the scorer."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.learn.tune import SearchHooks, TuneConfig, cross_entropy_search, tunable_parameters
from saferl.policy import parse_policy
from saferl.policy.ast import Program

TEXT = """policy p
obs x: float32 in [-1, 1]
act u: continuous [-5, 5]

u = clip(0.5 * x + 0.25, -5, 5)
"""


def _values(program: Program) -> list[float]:
    # the coefficient and the offset (parameters 0 and 1: the clip bounds come after them)
    return [p.value for p in program.parameters()][:2]


def _run(gate_first: bool, cap: float, target: float, seed: int) -> tuple[Program, list[Program], list[bool | None]]:
    program = parse_policy(TEXT, "p.pol")
    scored: list[Program] = []
    verdicts: list[bool | None] = []

    def score(prog: Program) -> float:
        scored.append(prog)
        return -sum((v - target) ** 2 for v in _values(prog))

    def gate(prog: Program) -> bool:
        return max(_values(prog)) <= cap

    def seen(prog: Program, value: float, verdict: bool | None) -> None:
        verdicts.append(verdict)

    params = [p for p in tunable_parameters(program) if p.value not in (-5.0, 5.0)]  # the clip bounds stay
    cfg = TuneConfig(generations=6, population=8, sweep_points=5, seed=seed, gate_first=gate_first)
    result = cross_entropy_search(program, params, SearchHooks(score, gate, on_candidate=seen), cfg,
                                  scales=[1.0] * len(params), policy_path="p.pol")
    return result.program, scored, verdicts


@settings(max_examples=15, deadline=None)
@given(cap=st.floats(0.5, 3.0), target=st.floats(-2.0, 4.0), seed=st.integers(0, 1000))
def test_gate_first_never_scores_a_rejected_candidate_and_the_result_passes(cap: float, target: float, seed: int) -> None:
    best, scored, verdicts = _run(True, cap, target, seed)
    assert all(max(_values(p)) <= cap for p in scored)
    assert max(_values(best)) <= cap
    assert all(v is not None for v in verdicts)


@pytest.mark.parametrize("gate_first", [False, True])
def test_both_modes_improve_inside_the_gate(gate_first: bool) -> None:
    best, scored, _ = _run(gate_first, 1.0, 2.0, 0)
    # the optimum (2, 2) is outside the gate; the best admissible point is (1, 1)
    assert max(_values(best)) <= 1.0
    assert all(math.isclose(v, 1.0, abs_tol=0.1) for v in _values(best))
    if not gate_first:  # score-first rolls out candidates the gate later rejects
        assert any(max(_values(p)) > 1.0 for p in scored)
