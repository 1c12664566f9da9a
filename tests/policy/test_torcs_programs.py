"""The shipped TORCS programs against the TORCS specs: verdicts pinned per property."""

from __future__ import annotations

from pathlib import Path

import pytest

from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import verify_policy

ROOT = Path(__file__).resolve().parents[2]
S, U = Verdict.SAFE, Verdict.UNSAFE
TRACK = {"edge-left-steer-right": S, "edge-right-steer-left": S, "no-full-throttle-misaligned": S,
         "steer-smooth": S, "steer-range": S, "accel-range": S, "brake-range": S}
SMOOTH = {"accel-smooth": S, "accel-range": S, "steer-range": S, "brake-range": S}
SPEED = {**TRACK, "throttle-overspeed": S, "brake-overspeed": S, "drift-left-ease-off": S, "drift-right-ease-off": S}


@pytest.mark.parametrize(
    ("policy", "spec", "expected"),
    [
        ("propel_fast.pol", "track.yaml", TRACK),
        ("propel_fast.pol", "smooth.yaml", SMOOTH),
        ("prior_window.pol", "smooth_window.yaml", SMOOTH),
        ("propel_careful.pol", "track_speed.yaml", SPEED),
        ("propel_careful.pol", "track.yaml", TRACK),
        # its drift caps jump with the position and heading, which smoothness leaves free
        ("propel_careful.pol", "smooth.yaml", {**SMOOTH, "accel-smooth": U}),
        # propel_careful with the throttle capped at 0.2 + 0.63: all three driving specs
        ("propel_steady.pol", "track_speed.yaml", SPEED),
        ("propel_steady.pol", "track.yaml", TRACK),
        ("propel_steady.pol", "smooth.yaml", SMOOTH),
        # propel_fast's brake is a PD controller (its derivative state can cancel the
        # proportional term) and it does not ease off when drifting wide: refuted
        ("propel_fast.pol", "track_speed.yaml",
         {**SPEED, "brake-overspeed": U, "drift-left-ease-off": U, "drift-right-ease-off": U}),
        # the older program jumps its steering between branches and keeps full throttle when
        # misaligned: the track-keeping spec refutes it (counterexamples replayed)
        ("propel_prog.pol", "track.yaml", {**TRACK, "no-full-throttle-misaligned": U, "steer-smooth": U}),
    ],
)
def test_verdicts(policy: str, spec: str, expected: dict[str, Verdict]) -> None:
    result = verify_policy(load_policy(ROOT / "policies/torcs" / policy), load_spec(ROOT / "specs/torcs" / spec))
    got = {r.property_id: r.verdict for r in result.results}
    assert got == expected
    for r in result.results:
        if r.verdict is U:
            assert r.counterexample is not None and r.counterexample.replayed
