"""The tree decomposition (saferl/smt/tree.py) against the monolithic encoding.

Random trees — axis-aligned thresholds exactly at float32 boundaries and between them,
``==``/``!=``, ``and``/``or``/``not``, elif chains, linear conditions, comparisons of two
observations, constant and linear leaves — with random invariant and bounds properties:
deciding leaf by leaf and encoding the whole program must give the same verdicts, and
every UNSAFE counterexample must replay on the compiled runtime policy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saferl.policy import ProgramPolicy, parse_policy
from saferl.results import Verdict
from saferl.smt.floats import f32_pred, f32_succ, to_f32
from saferl.smt.tree import TreeDecomposition
from saferl.spec import bind_spec, eval_sexpr, parse_spec
from saferl.spec.bind import property_condition
from saferl.verify import VerifyOptions, verify_policy

F32_03 = to_f32(0.3)
THRESHOLDS = [
    0.0, 0.1, -0.1, 1 / 3, 0.5, -0.75, 1.0, 2.0**-20, F32_03, f32_succ(F32_03), f32_pred(F32_03),
    0.2999999, to_f32(0.1), f32_succ(to_f32(0.1)), -1.5, 1.5, f32_succ(1.5),
]
th = st.one_of(st.sampled_from(THRESHOLDS), st.floats(-1.6, 1.6, allow_nan=False).map(lambda v: round(v, 3)))
ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
names = st.sampled_from(["x", "y"])

HEADER = "policy r\nobs x: float32\nobs y: float32\nact a: discrete {left = 0, right = 1}\n"


@st.composite
def atom(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return f"{draw(names)} {draw(ops)} {draw(th)!r}"
    if kind == 6:
        return f"{draw(th)!r} {draw(ops)} {draw(names)}"
    if kind == 7:
        return f"x {draw(ops)} y"
    if kind == 8:
        return f"{draw(th)!r} * x + y {draw(ops)} {draw(th)!r}"
    return f"not ({draw(names)} {draw(ops)} {draw(th)!r})"


@st.composite
def condition(draw: st.DrawFn, simple: bool) -> str:
    if simple or draw(st.integers(0, 3)) > 0:
        return f"{draw(names)} {draw(st.sampled_from(['<', '<=', '>', '>=']))} {draw(th)!r}"
    parts = [draw(atom()) for _ in range(draw(st.integers(1, 3)))]
    return f" {draw(st.sampled_from(['and', 'or']))} ".join(parts)


@st.composite
def tree(draw: st.DrawFn, depth: int, continuous: str, simple: bool) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        out = f"a = {draw(st.sampled_from(['left', 'right']))}"
        if continuous == "const":
            out += f" f = {draw(th)!r}"
        elif continuous == "linear":
            out += f" f = {draw(th)!r} * x + {draw(th)!r}"
        return out
    arms = draw(st.integers(1, 3))
    text = ""
    for k in range(arms):
        kw = "if" if k == 0 else "elif"
        text += f"{kw} {draw(condition(simple))} {{ {draw(tree(depth - 1, continuous, simple))} }} "
    return text + f"else {{ {draw(tree(depth - 1, continuous, simple))} }}"


@st.composite
def case(draw: st.DrawFn) -> tuple[str, str]:
    continuous = draw(st.sampled_from(["none", "const", "linear"]))
    simple = draw(st.booleans())
    header = HEADER + ("act f: continuous\n" if continuous != "none" else "")
    body = draw(tree(3, continuous, simple))
    lo, hi = sorted([draw(th), draw(th)])
    when = f" {draw(st.sampled_from(['and', 'or']))} ".join(
        draw(atom()) if not simple else f"{draw(names)} {draw(ops)} {draw(th)!r}"
        for _ in range(draw(st.integers(1, 2)))
    )
    label = draw(st.sampled_from(["left", "right"]))
    props = f"  - {{id: inv, kind: invariant, when: '{when}', require: 'a == {label}'}}\n"
    props += "  - {id: lab, kind: bounds, action: a, allowed: [left]}\n"
    if continuous != "none":
        r1, r2 = sorted([draw(th), draw(th)])
        props += f"  - {{id: rng, kind: bounds, action: f, range: [{r1!r}, {r2!r}]}}\n"
        props += f"  - {{id: fw, kind: invariant, when: '{draw(names)} {draw(ops)} {draw(th)!r}', require: 'f {draw(ops)} {draw(th)!r}'}}\n"
    spec = f"observations:\n  x: [{lo!r}, {hi!r}]\n  y: [-1.5, 1.5]\nproperties:\n{props}"
    return header + body + "\n", spec


def _replays(program_text: str, spec_text: str, prop_id: str, obs: dict[str, float], acts: dict[str, float]) -> bool:
    """Independently of verify: the compiled runtime policy on ``obs`` violates the property."""
    program = parse_policy(program_text)
    spec = parse_spec(spec_text)
    binding = bind_spec(spec, program)
    got = dict(zip(program.action_names, ProgramPolicy(program).act_raw(np.array([obs["x"], obs["y"]], dtype=np.float32))))
    if got != {k: float(v) for k, v in acts.items()}:
        return False
    prop = next(p for p in spec.properties if p.id == prop_id)
    when, require = property_condition(prop, binding)
    values = {**obs, **got, **binding.labels}
    return bool(eval_sexpr(when, lambda v: values[v.name])) and not eval_sexpr(require, lambda v: values[v.name])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case())
def test_decomposed_and_monolithic_verdicts_agree(c: tuple[str, str]) -> None:
    policy_text, spec_text = c
    program = parse_policy(policy_text)
    spec = parse_spec(spec_text)
    by_leaves = verify_policy(program, spec, VerifyOptions(decompose=True))
    whole = verify_policy(program, spec, VerifyOptions(decompose=False))
    for r, w in zip(by_leaves.results, whole.results, strict=True):
        if Verdict.UNKNOWN not in (r.verdict, w.verdict):
            assert r.verdict is w.verdict, (r.property_id, r.message, w.message)
        for res in (r, w):
            if res.verdict is Verdict.UNSAFE:
                cex = res.counterexample
                assert cex is not None and cex.replayed
                step = cex.steps[-1]
                assert _replays(policy_text, spec_text, res.property_id, step.observations, step.actions)


def _decide_all(policy_text: str, spec_text: str) -> list[str]:
    program = parse_policy(policy_text)
    spec = parse_spec(spec_text)
    binding = bind_spec(spec, program)
    tree = TreeDecomposition(program, spec)
    outs = [tree.decide(p, binding) for p in spec.properties]
    return [o.status if o is not None else "whole" for o in outs]


def test_axis_aligned_tree_is_decided_without_a_solver() -> None:
    policy = HEADER + "if x <= 0.1 { a = left } elif y > 0.5 { a = right } else { a = left }\n"
    spec = (
        "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n"
        "  - {id: r, kind: invariant, when: x > 0.1 and y > 0.5, require: a == right}\n"
        "  - {id: l, kind: invariant, when: x <= 0.1, require: a == left}\n"
        "  - {id: both, kind: bounds, action: a, allowed: [left, right]}\n"
        "  - {id: only-left, kind: bounds, action: a, allowed: [left]}\n"
    )
    assert _decide_all(policy, spec) == ["safe", "safe", "safe", "unsafe"]


@pytest.mark.parametrize(
    ("threshold", "when", "verdict"),
    [
        # x <= 0.1 compares the float32 x with the double 0.1: the float32 just above 0.1
        # (0.100000001490116...) is the first x that goes right
        ("0.1", "x > 0.1", Verdict.SAFE),
        ("0.1", "x >= 0.1", Verdict.SAFE),
        ("0.1", f"x >= {to_f32(0.1)!r}", Verdict.SAFE),
        ("0.1", f"x >= {f32_pred(to_f32(0.1))!r}", Verdict.UNSAFE),
        (repr(to_f32(0.1)), "x > 0.1", Verdict.UNSAFE),
        (repr(to_f32(0.1)), f"x > {to_f32(0.1)!r}", Verdict.SAFE),
    ],
)
def test_float32_boundaries(threshold: str, when: str, verdict: Verdict) -> None:
    policy = HEADER + f"if x <= {threshold} {{ a = left }} else {{ a = right }}\n"
    spec = f"observations: {{x: [-1, 1], y: [-1, 1]}}\nproperties:\n  - {{id: r, kind: invariant, when: '{when}', require: a == right}}\n"
    program, parsed = parse_policy(policy), parse_spec(spec)
    for decompose in (True, False):
        got = verify_policy(program, parsed, VerifyOptions(decompose=decompose)).results[0]
        assert got.verdict is verdict, (decompose, got.message)
    assert _decide_all(policy, spec) == ["safe" if verdict is Verdict.SAFE else "unsafe"]


def test_a_linear_condition_goes_to_one_query() -> None:
    policy = HEADER + (
        "if x <= 0.5 { if y <= -0.5 { a = left } elif x <= -0.5 { a = left } elif y > 0.9 { a = right } "
        "elif 0.5 * x + y <= 0.25 { a = left } else { a = right } } else { a = right }\n"
    )
    spec = (
        "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n"
        "  - {id: r, kind: invariant, when: x > 0.4 and y > 0.5, require: a == right}\n"
        "  - {id: l, kind: invariant, when: x > 0.2 and y > 0, require: a == right}\n"
    )
    program, parsed = parse_policy(policy), parse_spec(spec)
    binding = bind_spec(parsed, program)
    tree = TreeDecomposition(program, parsed)
    outs = [tree.decide(p, binding) for p in parsed.properties]
    assert [o.status if o is not None else "whole" for o in outs] == ["query", "query"]
    got = [r.verdict for r in verify_policy(program, parsed).results]
    assert got == [Verdict.SAFE, Verdict.UNSAFE]


def test_trees_of_mostly_linear_conditions_are_encoded_whole() -> None:
    policy = HEADER + "if 0.5 * x + y <= 0.25 { a = left } else { a = right }\n"
    spec = "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n  - {id: r, kind: invariant, when: x > 0.9, require: a == right}\n"
    assert _decide_all(policy, spec) == ["whole"]


def test_programs_that_are_not_trees_are_encoded_whole() -> None:
    pid = HEADER.replace("act a: discrete {left = 0, right = 1}", "act f: continuous") + "f = pid(x, 0, 1, 0.1, 0)\n"
    two_ifs = HEADER + "act b: discrete {no = 0, yes = 1}\nif x <= 0 { a = left } else { a = right }\nif y <= 0 { b = no } else { b = yes }\n"
    spec_f = "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n  - {id: r, kind: bounds, action: f, range: [-5, 5]}\n"
    spec_b = "observations: {x: [-1, 1], y: [-1, 1]}\nproperties:\n  - {id: r, kind: invariant, when: x > 0, require: a == right}\n"
    assert _decide_all(pid, spec_f) == ["whole"]
    assert _decide_all(two_ifs, spec_b) == ["whole"]


def test_an_axis_aligned_tree_is_verified_without_loading_a_solver(root: Path) -> None:
    # the start-up cost of a small verify: pysmt and z3 stay unloaded when no leaf needs them
    script = (
        "import sys\n"
        "from saferl.policy import load_policy\n"
        "from saferl.spec import load_spec\n"
        "from saferl.verify import verify_policy\n"
        f"r = verify_policy(load_policy({str(root / 'policies/cartpole/worst.pol')!r}), "
        f"load_spec({str(root / 'specs/cartpole/pole_follow.yaml')!r}))\n"
        "print(r.verdict.value, sorted(m for m in ('pysmt', 'z3') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["UNSAFE", "[]"]
