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


def test_closed_loop_properties_are_proved_for_the_result(tmp_path: Path) -> None:
    # upright.yaml plus a closed-loop safety property over Pendulum-v1's own step: every
    # candidate is simulated, the winner is proved on the whole spec (or the start stays)
    upright = (ROOT / "specs" / "pendulum" / "upright.yaml").read_text()
    closed = (ROOT / "specs" / "closedloop" / "pendulum.yaml").read_text()
    spec_path = tmp_path / "upright_closed.yaml"
    spec_path.write_text(upright + closed[closed.index("  - id: stays-upright"):])
    spec = load_spec(spec_path)
    assert spec.closed_loop and spec.properties
    start = load_policy(ROOT / "policies" / "pendulum" / "swing_up.pol")
    r = tune_program(start, "Pendulum-v1", spec, TuneConfig(generations=2, population=4, episodes=2, seed=2,
                                                            validation_episodes=4, final_checks=2,
                                                            simulated_starts=64, sweep_max_params=4))
    report = verify_policy(_shipped(r.program), spec)
    assert report.verdict is Verdict.SAFE
    assert {res.property_id for res in report.results} >= {"stays-upright", "restore-left"}
    assert r.validation >= r.validation_start


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
