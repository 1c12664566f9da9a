"""The programs `saferl loop` produced at full budget (policies/loop/): verdicts pinned per
property, and the returns their headers state, on the real environments."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
S, U = Verdict.SAFE, Verdict.UNSAFE
MOMENTUM = {"force-range": S, "never-brake-uphill": S, "escape-left-wall": S}


@pytest.mark.parametrize(
    ("policy", "spec", "expected"),
    [
        ("mountaincar_tree.pol", "specs/mountaincar/momentum.yaml", MOMENTUM),
        # a reset position from which it never reaches the flag within 999 steps
        ("mountaincar_tree.pol", "specs/mountaincar/momentum_reach.yaml", {**MOMENTUM, "reaches-flag": U}),
        ("pendulum_energy.pol", "specs/pendulum/upright.yaml",
         {"torque-range": S, "restore-right": S, "restore-left": S}),
        ("pendulum_energy.pol", "specs/closedloop/pendulum.yaml", None),
    ],
)
def test_loop_program_verdicts(policy: str, spec: str, expected: dict[str, Verdict] | None) -> None:
    result = verify_policy(load_policy(ROOT / "policies" / "loop" / policy), load_spec(ROOT / spec))
    got = {p.property_id: p.verdict for p in result.results}
    if expected is None:
        assert set(got.values()) == {S}, got
    else:
        assert got == expected
    for p in result.results:
        if p.verdict is U:
            assert p.counterexample is not None


def test_loop_programs_return_what_their_headers_say() -> None:
    pytest.importorskip("gymnasium")
    from saferl.learn.evaluate import evaluate_policy
    from saferl.policy import ProgramPolicy

    car = evaluate_policy(ProgramPolicy(load_policy(ROOT / "policies/loop/mountaincar_tree.pol")),
                          "MountainCarContinuous-v0", episodes=100, seed=0)
    assert round(car.mean, 2) == 98.84
    pend = evaluate_policy(ProgramPolicy(load_policy(ROOT / "policies/loop/pendulum_energy.pol")),
                           "Pendulum-v1", episodes=100, seed=0)
    assert round(pend.mean, 2) == -137.13
