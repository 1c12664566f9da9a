"""YAML specs: schema, expression grammar, and errors pointing at the YAML line."""

from __future__ import annotations

import pytest

from saferl.errors import SpecError
from saferl.policy import parse_policy
from saferl.spec import bind_spec, parse_spec
from saferl.spec.expr import SBin, SCall, SVar

POL = parse_policy(
    "policy p\nobs rpm: float32\nobs x: float32\nact accel: continuous [0, 1]\nact push: discrete {left = 0, right = 1}\n"
    "accel = clip(pid(rpm, 0.4, 1, 0, 0), 0, 1)\npush = left\n"
)


def test_history_sum_is_unrolled() -> None:
    spec = parse_spec(
        "properties:\n  - id: s\n    kind: smoothness\n"
        "    when: sum(k = 0..5, abs(rpm[t-k] - rpm[t-k-1])) < 0.003\n"
        "    require: abs(accel[t] - accel[t-1]) <= 0.63\n"
    )
    prop = spec.properties[0]
    assert prop.mode == "history" and prop.window == 6
    left = prop.when.left
    terms = []
    while isinstance(left, SBin):
        terms.append(left.right)
        left = left.left
    terms.append(left)
    assert len(terms) == 6
    lags = sorted((t.args[0].left.lag, t.args[0].right.lag) for t in terms if isinstance(t, SCall))
    assert lags == [(k, k + 1) for k in range(6)]


def test_two_run_mode() -> None:
    spec = parse_spec("properties:\n  - {id: l, kind: smoothness, when: \"abs(x - x') < 0.1\", require: \"abs(accel - accel') <= 0.2\"}\n")
    assert spec.properties[0].mode == "two-run"
    assert SVar("x", 0, 1) in [v for v in [spec.properties[0].when.left.args[0].right]]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", "1:1", "empty spec file"),
        ("spec: a\n", "1:1", "the spec has no 'properties:'"),
        ("properties: [\n", "2:1", "invalid YAML"),
        ("properties:\n  - id: a\n", "2:5", "property 'a' needs a 'kind'"),
        ("properties:\n  - id: a\n    kind: liveness\n", "3:11", "unknown kind 'liveness'"),
        ("propertys: []\n", "1:1", "unknown key 'propertys'"),
        ("properties:\n  - {id: a, kind: invariant, require: 'push == right', bogus: 1}\n", "2:56", "unknown key 'bogus'"),
        ("properties:\n  - id: a\n    kind: invariant\n    require: push === right\n", "4:21", "expected an expression"),
        ("properties:\n  - id: a\n    kind: invariant\n    require: push == right and\n", "4:31", "expected an expression, found end of expression"),
        ("properties:\n  - id: a\n    kind: invariant\n    require: x[t-1] > 0\n", "4:14", "refers to other steps or runs"),
        ("properties:\n  - id: a\n    kind: smoothness\n    require: x > 0\n", "4:14", "compares nothing over time or runs"),
        ("properties:\n  - id: a\n    kind: invariant\n    require: x[t+1] > 0\n", "4:16", "cannot look into the future"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, range: [1, 0]}\n", "2:49", "range is empty"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, range: [0, .nan]}\n", "2:53", "finite number"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1e999]}\n", "2:53", "must be a finite number"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, range: [0, abc]}\n", "2:53", "must be a number"),
        ("properties:\n  - {id: a, kind: bounds, action: accel}\n", "2:5", "exactly one of 'range' or 'allowed'"),
        ("properties:\n  - {id: '1a', kind: bounds, action: accel, range: [0, 1]}\n", "2:10", "bad property id"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n", "3:5", "duplicate property id 'a'"),
        ("observations: {x: 3}\nproperties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n", "1:19", "must be a list [low, high]"),
        ("properties:\n  - id: a\n    kind: invariant\n    require: foo(x) > 0\n", "4:14", "unknown function 'foo'"),
        ("properties: !!python/object:os.system {}\n", "1:13", "YAML tag '!!python/object:os.system' is not allowed"),
    ],
)
def test_spec_errors_point_at_the_yaml(text: str, where: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    line = str(info.value)
    assert "\n" not in line
    assert f"s.yaml:{where}:" in line, line
    assert message in line


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("properties:\n  - id: a\n    kind: invariant\n    require: pussh == right\n", "4:14", "unknown name 'pussh' (hint: did you mean 'push'?)"),
        ("observations:\n  speed: [0, 1]\nproperties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n", "2:3", "'speed' is not an observation"),
        ("state:\n  pid3.integral: [-1, 1]\nproperties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n", "2:3", "not a state variable"),
        ("state:\n  pid0.integral: [1, 2]\nproperties:\n  - {id: a, kind: bounds, action: accel, range: [0, 1]}\n", "2:3", "excludes the initial state 0"),
        ("properties:\n  - {id: a, kind: bounds, action: brake, range: [0, 1]}\n", "2:35", "'brake' is not an action"),
        ("properties:\n  - {id: a, kind: bounds, action: accel, allowed: [left]}\n", "2:35", "'allowed' needs a discrete action"),
        ("properties:\n  - {id: a, kind: bounds, action: push, allowed: [up]}\n", "2:50", "'up' is not a label of 'push'"),
    ],
)
def test_binding_errors_point_at_the_yaml(text: str, where: str, message: str) -> None:
    spec = parse_spec(text, "s.yaml")
    with pytest.raises(SpecError) as info:
        bind_spec(spec, POL)
    assert f"s.yaml:{where}:" in str(info.value), str(info.value)
    assert message in str(info.value)
