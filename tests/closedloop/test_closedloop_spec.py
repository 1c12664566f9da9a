"""Closed-loop properties in specs: parsed, and bad input points at the YAML line."""

from __future__ import annotations

import pytest

from saferl.errors import SpecError
from saferl.spec import parse_spec
from saferl.spec.closedloop import ENVIRONMENTS

GOOD = """\
spec: cl
properties:
  - id: up
    kind: safety
    dynamics: CartPole-v1
    initial: reset
    always: abs(theta) <= 0.2
    horizon: forever
  - id: flag
    kind: reach
    dynamics: MountainCarContinuous-v0
    parameters: {power: 0.0015}
    initial: {position: [-0.6, -0.4]}
    eventually: position >= 0.45
    within: 999
  - {id: plain, kind: bounds, action: a, range: [-1, 1]}
"""


def test_parses_closed_loop_properties():
    spec = parse_spec(GOOD, "s.yaml")
    assert [p.id for p in spec.properties] == ["plain"]
    up, flag = spec.closed_loop
    assert up.kind == "safety" and up.steps is None and up.initial_is_reset and up.line == 3
    assert up.initial == (((-0.05, 0.05),) * 4,)
    assert flag.steps == 999 and flag.initial == (((-0.6, -0.4), (0.0, 0.0)),)
    assert flag.parameters == {"power": 0.0015}


@pytest.mark.parametrize(
    "change, message, line",
    [
        (("dynamics: CartPole-v1", "dynamics: CartPole-v9"), "unknown dynamics 'CartPole-v9'", 5),
        (("abs(theta)", "abs(phi)"), "'phi' is not a state variable", 7),
        (("horizon: forever", "horizon: 0"), "horizon must be a whole number", 8),
        (("within: 999", "within: 1000000000"), "within must be a whole number", 15),
        (("{position: [-0.6, -0.4]}", "{position: [-1.6, -0.4]}"), "leaves the state space", 13),
        (("{position: [-0.6, -0.4]}", "{pos: [-0.6, -0.4]}"), "'pos' is not a state variable", 13),
        (("{power: 0.0015}", "{gravity: 9.8}"), "has no parameter 'gravity'", 12),
    ],
)
def test_bad_input_points_at_the_line(change, message, line):
    with pytest.raises(SpecError) as exc:
        parse_spec(GOOD.replace(*change), "s.yaml")
    assert message in str(exc.value)
    assert f"s.yaml:{line}:" in str(exc.value)


def test_environment_table_matches_the_models():
    from saferl.dynamics import MODELS

    for env_id, cls in MODELS.items():
        table = ENVIRONMENTS[env_id]
        assert table["state"] == cls.state_names
        assert table["parameters"] == tuple(cls.defaults)
        assert table["reset"] == tuple(zip(cls.reset_low, cls.reset_high, strict=True))
        assert table["space"] == tuple(zip(cls.state_low, cls.state_high, strict=True))
