"""A repair whose solved constant sits exactly on a constraint's float boundary.

The TORCS fast driver against specs/torcs/track_speed.yaml: the drift properties cap the
throttle at 0.2, and the rpm PID's output at rpm 0 is 0.9477·kp, so the solver's kp is
0.2 / 0.9477 to the last bit.  Its real-arithmetic proof holds; the float-sound closing
proof cannot settle it.  The closing gate moves the constant off the boundary (in the safe
direction: further from the original 3.059) and proves the exact text it returns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from saferl.policy import load_policy, parse_policy
from saferl.repair import RepairOptions
from saferl.repair.engine import _closing_gate, _Repairer
from saferl.repair.optimize import off_boundary
from saferl.repair.shapes import _Outcome, _Shape
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies/torcs/propel_fast.pol"
SPEC = ROOT / "specs/torcs/track_speed.yaml"


def _boundary_candidate(events: list[tuple[str, dict[str, Any]]]) -> tuple[_Repairer, _Outcome, int]:
    program, spec = load_policy(POLICY), load_spec(SPEC)
    opts = RepairOptions(progress=lambda e, info: events.append((e, dict(info))))
    r = _Repairer(program, spec, opts, time.perf_counter(), POLICY.read_text())
    gains = {p.value: p.id for p in r.p0.parameters() if p.kind == "gain"}
    shape = _Shape(r.p0, {p.id: p.id for p in r.p0.parameters()}, "parameters")
    space = r.space_of(shape)
    values = {k: space.base[k] for k in space.symbolic}
    kp = gains[3.059]
    values[kp] = 0.2 / 0.9477  # the throttle at rpm 0 is exactly the drift cap
    values[gains[20.48]] = 0.0  # the throttle's derivative gain off
    values[gains[-2.29]] = 0.0  # the brake's derivative gain off
    best = _Outcome("safe", shape, shape.program.with_values(values), values, space=space)
    return r, best, kp


def test_off_boundary_moves_only_long_solved_constants_away_from_the_original() -> None:
    _, best, kp = _boundary_candidate([])
    assert best.space is not None
    moved = off_boundary(best.space, best.values, 1e-4)
    # kp moves down (its original 3.059 lay above), to a short decimal; the zeros stay
    assert 0.2 / 0.9477 - 10 * 1e-4 * 3.059 <= moved[kp] <= 0.2 / 0.9477 - 1e-4 * 3.059
    assert len(repr(moved[kp])) <= 8
    assert {k: v for k, v in moved.items() if k != kp} == {k: v for k, v in best.values.items() if k != kp}
    # deterministic: the same input gives the same values
    assert off_boundary(best.space, best.values, 1e-4) == moved


def test_an_unknown_closing_proof_on_a_boundary_is_retried_off_it() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    r, best, kp = _boundary_candidate(events)
    spec = load_spec(SPEC)
    chosen, text, _, final, detail = _closing_gate(r, best, spec, time.perf_counter() + 120)
    retries = [info for e, info in events if e == "off-boundary"]
    assert retries, "the boundary candidate was proved at once: this test no longer exercises the retry"
    assert final.verdict is Verdict.SAFE, detail
    assert chosen.values[kp] < best.values[kp]
    # the gate proved the exact text handed back; prove it again from scratch
    assert verify_policy(parse_policy(text), spec).verdict is Verdict.SAFE
