"""The generated checks agree with the reference evaluator (eval_sexpr)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.shield import compile_checks
from saferl.spec import bind_spec, eval_sexpr, parse_spec
from saferl.spec.bind import property_condition
from saferl.spec.expr import SVar, variables

f32 = st.floats(-5, 5, width=32)


def _reference(spec: Any, program: Any, o: list[float], a: list[float], h: list[Any]) -> int:
    binding = bind_spec(spec, program)
    frames = [(o, a), *[(ho, ha) for ho, ha, _ in reversed(h)]]
    for k, prop in enumerate(spec.properties, start=1):
        when, require = property_condition(prop, binding)
        lag = max((v.lag for e in (when, require) for v in variables(e)), default=0)
        if lag >= len(frames):
            continue

        def lookup(v: SVar) -> float:
            kind = binding.kind_of(v.name)
            if kind == "label":
                return binding.labels[v.name]
            fo, fa = frames[v.lag]
            if kind == "obs":
                return fo[program.obs_names.index(v.name)]
            return fa[program.action_names.index(v.name)]

        if eval_sexpr(when, lookup) and not eval_sexpr(require, lookup):
            return k
    return 0


@settings(max_examples=300, deadline=None)
@given(obs=st.lists(f32, min_size=4, max_size=4), action=st.integers(-1, 2))
def test_cartpole_checks_match_eval_sexpr(cartpole_spec: Any, near_optimal: Any, obs: list[float], action: int) -> None:
    checks = compile_checks(cartpole_spec, bind_spec(cartpole_spec, near_optimal))
    assert checks.check(obs, (action,), (), ()) == _reference(cartpole_spec, near_optimal, obs, [action], [])


@settings(max_examples=300, deadline=None)
@given(
    obs=st.lists(f32, min_size=2, max_size=2),
    prev=st.lists(f32, min_size=2, max_size=2),
    f=st.floats(-3, 3),
    f_prev=st.floats(-3, 3),
    history=st.booleans(),
)
def test_history_checks_match_eval_sexpr(damp_spec: Any, damp: Any, obs: list[float], prev: list[float], f: float, f_prev: float, history: bool) -> None:
    checks = compile_checks(damp_spec, bind_spec(damp_spec, damp))
    h = [(prev, (f_prev,), ())] if history else []
    assert checks.check(obs, (f,), h, ()) == _reference(damp_spec, damp, obs, [f], h)


@settings(max_examples=300, deadline=None)
@given(obs=st.lists(f32, min_size=2, max_size=2), f=st.floats(-3, 3), f_prev=st.floats(-1, 1))
def test_intervals_contain_only_allowed_values(damp_spec: Any, damp: Any, obs: list[float], f: float, f_prev: float) -> None:
    """Every value inside the extracted interval satisfies the projectable properties."""
    checks = compile_checks(damp_spec, bind_spec(damp_spec, damp))
    prev_obs = [obs[0], obs[1]]  # |x[t] - x[t-1]| = 0 < 0.2: smoothness active
    h = [(prev_obs, (f_prev,), ())]
    assert checks.intervals is not None
    ((lo, hi),) = checks.intervals(obs, (f,), h, ())
    assert lo <= hi
    for v in np.linspace(lo, hi, 7):
        assert checks.check(obs, (float(v),), h, ()) == 0, (lo, hi, v)


def test_generated_source_is_straight_line(cartpole_spec: Any, near_optimal: Any) -> None:
    checks = compile_checks(cartpole_spec, bind_spec(cartpole_spec, near_optimal))
    assert "def check(o, a, h, s):" in checks.source
    assert "eval" not in checks.source and "for " not in checks.source
    assert checks.ids == ("follow-right", "follow-left", "push-is-a-label")
    assert checks.window == 0 and checks.unmonitored == ()


def test_two_run_properties_are_not_monitored(damp: Any) -> None:
    spec = parse_spec(
        "properties:\n"
        "  - {id: robust, kind: smoothness, when: \"abs(x - x') < 0.1\", require: \"abs(f - f') <= 0.1\"}\n"
        "  - {id: r, kind: bounds, action: f, range: [-1, 1]}\n"
    )
    checks = compile_checks(spec, bind_spec(spec, damp))
    assert checks.ids == ("r",)
    assert [pid for pid, _ in checks.unmonitored] == ["robust"]


def test_nan_action_fails_a_range_check(damp_spec: Any, damp: Any) -> None:
    checks = compile_checks(damp_spec, bind_spec(damp_spec, damp))
    assert checks.check([0.0, 0.0], (math.nan,), (), ()) == 1


@settings(max_examples=200, deadline=None)
@given(obs=st.lists(st.floats(-6, 6, width=32), min_size=4, max_size=4))
def test_inline_fallback_equals_the_compiled_program(obs: list[float]) -> None:
    """The fast path's in-line copy of a fallback agrees with ProgramPolicy."""
    from pathlib import Path

    from saferl.policy import ProgramPolicy, load_policy
    from saferl.shield.compile import inline_fallback

    root = Path(__file__).resolve().parents[2] / "policies/cartpole"
    for name in ("near_optimal", "worst", "intermediate"):
        program = load_policy(root / f"{name}.pol")
        lines = inline_fallback(program, "b0", "    ")
        assert lines is not None
        src = "def fb(o0, o1, o2, o3):\n" + "\n".join(lines) + "\n    return b0\n"
        namespace: dict[str, Any] = {}
        exec(src, {"min": min, "max": max, "abs": abs, "int": int}, namespace)
        expected = ProgramPolicy(program).act(np.array(obs, dtype=np.float32))
        got = namespace["fb"](*obs)
        assert got == expected and type(got) is int, (name, obs)


def test_labels_are_scoped_per_action_in_the_compiled_checks() -> None:
    from saferl.policy import parse_policy

    program = parse_policy("policy l\nobs x: float32\nact p: discrete {l = 0, r = 1}\nact q: discrete {r = 0, l = 1}\np = l\nq = l\n")
    spec = parse_spec("properties:\n  - {id: p-r, kind: bounds, action: p, allowed: [r]}\n  - {id: q-l, kind: invariant, require: q == l}\n")
    checks = compile_checks(spec, bind_spec(spec, program))
    # p = 1 is p's r and q = 1 is q's l: nothing is violated
    assert checks.check([0.0], (1, 1), (), ()) == 0
    # p = 0 is p's l: the first property breaks; q = 0 is q's r: the second
    assert checks.check([0.0], (0, 1), (), ()) == 1
    assert checks.check([0.0], (1, 0), (), ()) == 2
