"""The verified constant search: better return, and never a program the verifier did not prove."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.learn.tune import TuneConfig, tunable_parameters, tune_program
from saferl.policy import format_policy, load_policy, parse_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
BANG_BANG = ROOT / "policies" / "mountaincar" / "bang_bang.pol"
MOMENTUM = ROOT / "specs" / "mountaincar" / "momentum.yaml"
MOMENTUM_REACH = ROOT / "specs" / "mountaincar" / "momentum_reach.yaml"
ENV = "MountainCarContinuous-v0"


def _shipped(result_program: object) -> object:
    # what the loop ships is the printed text; check that text, parsed afresh
    return parse_policy(format_policy(result_program), "tuned.pol")


def test_tuning_raises_the_return_and_the_result_is_proved() -> None:
    cfg = TuneConfig(generations=4, population=8, episodes=4, seed=3)
    r = tune_program(load_policy(BANG_BANG), ENV, load_spec(MOMENTUM), cfg)
    assert r.score > r.start_score + 0.5  # bang-bang at full force wastes energy
    assert r.evaluations >= 1 + 4 * 8  # the start, the generations, and the coordinate sweeps
    assert verify_policy(_shipped(r.program), load_spec(MOMENTUM)).verdict is Verdict.SAFE
    assert r.history == sorted(r.history)


def test_unproved_candidates_are_rejected_not_returned(tmp_path: Path) -> None:
    # a spec most moves break: the velocity threshold must stay at or below 0 and the
    # push right must stay >= 0.9; the search sees rejections and still returns a SAFE program
    spec_text = MOMENTUM.read_text().replace("require: force > 0\n", "require: force >= 0.9\n", 1)
    spec_path = tmp_path / "strict_momentum.yaml"
    spec_path.write_text(spec_text)
    spec = load_spec(spec_path)
    r = tune_program(load_policy(BANG_BANG), ENV, spec, TuneConfig(generations=3, population=8, episodes=3, seed=1))
    assert r.rejected > 0
    assert verify_policy(_shipped(r.program), spec).verdict is Verdict.SAFE


def test_closed_loop_properties_are_proved_for_the_result() -> None:
    spec = load_spec(MOMENTUM_REACH)
    assert spec.closed_loop
    r = tune_program(load_policy(BANG_BANG), ENV, spec, TuneConfig(generations=3, population=6, episodes=3, seed=2,
                                                                   final_checks=2))
    report = verify_policy(_shipped(r.program), spec)
    assert report.verdict is Verdict.SAFE
    assert {res.property_id for res in report.results} >= {"reaches-flag", "never-brake-uphill"}


def test_no_generations_returns_the_start() -> None:
    start = load_policy(BANG_BANG)
    r = tune_program(start, ENV, load_spec(MOMENTUM), TuneConfig(generations=0, episodes=2))
    assert r.program is start and r.score == r.start_score


def test_discrete_leaves_are_not_searched() -> None:
    cartpole = load_policy(ROOT / "policies" / "cartpole" / "near_optimal.pol")
    kinds = {p.kind for p in tunable_parameters(cartpole)}
    assert "leaf" not in kinds and "threshold" in kinds


def test_a_program_for_another_env_is_input_error() -> None:
    from saferl.errors import InputError

    with pytest.raises(InputError, match="observations"):
        tune_program(load_policy(BANG_BANG), "CartPole-v1", load_spec(MOMENTUM), TuneConfig(generations=1))
