"""The .pol language: parsing, printing, digests, errors and evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.errors import PolicyParseError
from saferl.policy import (
    ProgramPolicy,
    compile_program,
    format_policy,
    interpret,
    load_policy,
    parse_policy,
    policy_digest,
)
from saferl.policy.ast import (
    ActDecl,
    Assign,
    BinOp,
    BoolOp,
    Call,
    Compare,
    If,
    Label,
    Not,
    Num,
    Obs,
    ObsDecl,
    Program,
)
from saferl.policy.evaluate import cast_observations

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "policies").glob("[cmpt]*/*.pol"))

HEADER = "policy p\nobs x: float32\nobs y: float32\nact a: discrete {left = 0, right = 1}\nact f: continuous [-1, 1]\n"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_policies_round_trip(path: Path) -> None:
    program = load_policy(path)
    text = format_policy(program)
    assert parse_policy(text) == program
    assert format_policy(parse_policy(text)) == text


def test_digest_ignores_comments_and_layout() -> None:
    a = parse_policy(HEADER + "if x <= 0.5 { a = left f = 0 } else { a = right f = 1 }")
    b = parse_policy("# a comment\n" + HEADER.replace("\n", "\n\n") + "if x<=0.5{a=left\nf=0}else{a=1 f=1.0}  # end")
    assert policy_digest(a) == policy_digest(b)
    assert policy_digest(a).startswith("sha256:") and len(policy_digest(a)) == 71
    c = parse_policy(HEADER + "if x <= 0.25 { a = left f = 0 } else { a = right f = 1 }")
    assert policy_digest(c) != policy_digest(a)


def test_digest_is_pinned_for_a_shipped_policy() -> None:
    # the canonical text of a shipped policy is part of the contract: a change here means
    # every recorded digest changes
    p = load_policy(ROOT / "policies/cartpole/near_optimal.pol")
    assert policy_digest(p) == policy_digest(parse_policy(format_policy(p)))
    assert format_policy(p).splitlines()[0] == "policy cartpole_near_optimal"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "1:1: expected 'policy NAME' at the start, found end of file"),
        ("policy p\nobs x: float32\n", "the policy declares no action"),
        (HEADER + "a = left", "action 'f' is never assigned"),
        (HEADER + "a = left\nf = 0\na = right", "8:1: action 'a' is assigned twice on one path"),
        (HEADER + "a = middle\nf = 0", "6:5: 'middle' is not a label of action 'a'"),
        (HEADER + "a = left\nf = z", "7:5: unknown observation 'z'"),
        (HEADER + "a = left\nf = xx", "did you mean 'x'?"),
        (HEADER + "a = left\nf = x / y", "7:7: division is only allowed by a non-zero constant"),
        (HEADER + "a = left\nf = x / 0", "division is only allowed by a non-zero constant"),
        (HEADER + "a = left\nf = 1e400", "7:5: constant 1e400 is too large"),
        (HEADER + "a = left\nf = nan", "unknown observation 'nan'"),
        (HEADER + "a = left\nf = foo(x)", "unknown function 'foo'"),
        (HEADER + "a = left\nf = clip(x, 1)", "clip() takes 3 arguments, got 2"),
        (HEADER + "if x <= 0 { a = left f = 0 }", "action 'a' is assigned in some branches of this if but not in others"),
        (HEADER + "if x <= 0 { a = left f = 0 } else if y { }", "write 'elif', not 'else if'"),
        (HEADER + "if x { a = left f = 0 } else { a = left f = 1 }", "expected a comparison"),
        (HEADER + "if x < y < 1 { a = left f = 0 } else { a = left f = 1 }", "comparisons do not chain"),
        (HEADER + "a = left\nf = pid(x, 0, 1, 2)", "expected ','"),
        (HEADER + "a = left\nf = x @ 2", "unexpected character '@'"),
        (HEADER + "a = left\nf = 1.5e", "malformed number"),
        ("policy p\nobs x: float16\nact a: continuous\na = x", "unknown observation type 'float16'"),
        ("policy p\nobs x: float32\nobs x: float32\nact a: continuous\na = x", "'x' is declared twice"),
        ("policy p\nobs if: float32\nact a: continuous\na = 1", "2:5: 'if' is a reserved word"),
        ("policy p\nobs x: float32 in [1, 0]\nact a: continuous\na = 1", "empty range"),
        ("policy p\nact a: discrete {l = 0, r = 0}\na = l", "is repeated"),
        ("policy p\nact a: discrete {l = 0.5}\na = l", "non-negative integer"),
        ("policy p\nobs x: float32\nact a: continuous\nx = 1", "observations are read-only"),
        ("policy p\nobs x: float32\nact a: continuous\nif pid(x, 0, 1, 0, 0) > 0 { a = 1 } else { a = 0 }", "cannot appear in a condition"),
    ],
)
def test_parse_errors_are_located_with_hints(text: str, message: str) -> None:
    with pytest.raises(PolicyParseError) as info:
        parse_policy(text, "bad.pol")
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("bad.pol:")
    assert message in line


def test_error_hint_is_present() -> None:
    with pytest.raises(PolicyParseError, match=r"\(hint: declare it: 'obs z: float32'\)"):
        parse_policy(HEADER + "a = left\nf = z", "bad.pol")


def test_float32_comparison_matches_runtime() -> None:
    # 0.1 is not a float32: np.float32(0.1) > 0.1, so a float32 observation "0.1" is
    # *not* <= 0.1 -- exactly what numpy does with a float32 array at run time.
    p = parse_policy("policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\nif x <= 0.1 { a = l } else { a = r }")
    pol = ProgramPolicy(p)
    assert float(np.float32(0.1)) > 0.1
    assert pol.act(np.array([0.1], dtype=np.float32)) == 1
    assert pol.act(np.array([np.nextafter(np.float32(0.1), np.float32(0))], dtype=np.float32)) == 0
    # float64 observations keep their exact value
    p64 = parse_policy("policy p\nobs x: float64\nact a: discrete {l = 0, r = 1}\nif x <= 0.1 { a = l } else { a = r }")
    assert ProgramPolicy(p64).act(np.array([0.1])) == 0


def test_pid_semantics() -> None:
    p = parse_policy("policy p\nobs s: float64\nact u: continuous\nu = pid(s, 1, 2, 0.5, 3)")
    pol = ProgramPolicy(p)
    # e = 1 - s; I += e; u = 2e + 0.5 I + 3 (e - prev)
    assert pol.act([0.0]) == pytest.approx(2 * 1 + 0.5 * 1 + 3 * 1)
    assert pol.act([0.5]) == pytest.approx(2 * 0.5 + 0.5 * 1.5 + 3 * (0.5 - 1))
    assert pol.state == (1.5, 0.5)
    pol.reset()
    assert pol.state == (0.0, 0.0)
    assert p.state_names == ("pid0.integral", "pid0.prev_error")


def test_wrong_observation_count_is_an_input_error() -> None:
    from saferl.errors import InputError

    pol = ProgramPolicy(parse_policy(HEADER + "a = left\nf = x"))
    with pytest.raises(InputError, match="expects 2 observations"):
        pol.act([1.0, 2.0, 3.0])


def test_parameters_and_with_values() -> None:
    p = parse_policy(HEADER + "if x <= 0.5 { a = left f = pid(y, 0.1, 1, 2, 3) } else { a = right f = -0.25 }")
    kinds = [(q.kind, q.value) for q in p.parameters()]
    assert kinds == [("threshold", 0.5), ("leaf", 0.0), ("target", 0.1), ("gain", 1.0), ("gain", 2.0), ("gain", 3.0), ("leaf", 1.0), ("leaf", -0.25)]
    q = p.with_values({0: 0.75, 1: 1, 7: 0.5})
    text = format_policy(q)
    assert "if x <= 0.75 {" in text and "a = right\n  f = pid" in text and "f = 0.5" in text
    assert parse_policy(text) == q


# -- property tests ------------------------------------------------------------------

_NUMS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.1, -0.1, 1 / 3, 0.5, 1.0, -2.5, 1e-7, 123456.789, 1e20, 2.0**-30]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
OBS = ("x", "y")


def _exprs() -> st.SearchStrategy:
    leaves = st.one_of(_NUMS.map(Num), st.sampled_from(OBS).map(Obs))

    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        return st.one_of(
            st.builds(BinOp, st.sampled_from(["+", "-", "*"]), children, children),
            st.builds(lambda c, n: BinOp("/", c, Num(n)), children, _NUMS.filter(lambda v: v != 0)),
            st.builds(lambda c: Call("abs", (c,)), children),
            st.builds(lambda a, b: Call("min", (a, b)), children, children),
            st.builds(lambda a, b, c: Call("clip", (a, b, c)), children, children, children),
        )

    return st.recursive(leaves, extend, max_leaves=6)


def _conds() -> st.SearchStrategy:
    cmp = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), _exprs(), _exprs())
    return st.recursive(
        cmp,
        lambda c: st.one_of(
            st.builds(lambda a, b, op: BoolOp(op, (a, b)), c, c, st.sampled_from(["and", "or"])),
            st.builds(Not, c),
        ),
        max_leaves=3,
    )


def _bodies(depth: int) -> st.SearchStrategy:
    leaf = st.tuples(st.sampled_from([("left", 0), ("right", 1)]), _exprs()).map(
        lambda t: (Assign("a", Label(*t[0])), Assign("f", t[1]))
    )
    if depth == 0:
        return leaf
    sub = _bodies(depth - 1)
    node = st.builds(lambda c, t, e: (If(((c, t),), e),), _conds(), sub, sub)
    return st.one_of(leaf, node)


def _programs() -> st.SearchStrategy:
    return _bodies(3).map(
        lambda body: Program(
            "p",
            (ObsDecl("x"), ObsDecl("y", "float64")),
            (ActDecl("a", "discrete", (("left", 0), ("right", 1))), ActDecl("f", "continuous", (), -1.0, 1.0)),
            body,
        )
    )


@settings(max_examples=150, deadline=None)
@given(_programs())
def test_parse_print_is_identity(program: Program) -> None:
    text = format_policy(program)
    assert parse_policy(text) == program


@settings(max_examples=150, deadline=None)
@given(_programs(), st.lists(_NUMS, min_size=2, max_size=2))
def test_compiled_evaluator_equals_interpreter(program: Program, values: list[float]) -> None:
    obs = cast_observations(program, values)
    acts, _, _ = interpret(program, dict(zip(program.obs_names, obs)))
    step = compile_program(program)
    with np.errstate(all="ignore"):
        out = step(*obs, [])
    for (name, v), w in zip(acts.items(), out):
        assert (v == w) or (v != v and w != w), (name, v, w)


def _preorder(node: object) -> list[object]:
    """Every syntax node reached through the dataclass fields, in field order (the reference walk)."""
    from dataclasses import fields, is_dataclass

    from saferl.policy.ast import Span

    out: list[object] = []

    def visit(x: object) -> None:
        if isinstance(x, tuple):
            for item in x:
                visit(item)
        elif is_dataclass(x) and not isinstance(x, Span):
            out.append(x)
            for f in fields(x):
                visit(getattr(x, f.name))

    visit(node)
    return out


@settings(max_examples=100, deadline=None)
@given(_programs())
def test_walk_is_the_preorder_of_the_fields(program: Program) -> None:
    from saferl.policy.ast import walk

    got, want = list(walk(program.body)), _preorder(program.body)
    assert len(got) == len(want) and all(a is b for a, b in zip(got, want))


def test_walk_reaches_every_kind_of_node() -> None:
    from saferl.policy.ast import Pid, walk, walk_node

    program = parse_policy(
        HEADER + "if not (x <= 1 or true) and -y > 2 { a = left } elif abs(x) < 1 { a = right }\n"
        "else { if x > max(x, y, 2) { a = left } else { a = right } }\nf = clip(pid(x, 0.5, 1, 0.1, 0.01, 3) / 2, -1, 1)\n"
    )
    got = list(walk(program.body))
    assert got == _preorder(program.body) and all(a is b for a, b in zip(got, _preorder(program.body)))
    assert {type(n).__name__ for n in got} >= {"If", "BoolOp", "Not", "BoolConst", "Neg", "Call", "Pid", "BinOp", "Assign"}
    pid = next(n for n in got if isinstance(n, Pid))
    assert list(walk_node(pid)) == _preorder(pid)
    assert program.pids == (pid,) and program.state_names == ("pid0.prev_error", "pid0.error2")


def test_tokens_around_blanks_and_comments() -> None:
    from saferl.policy.lexer import tokenize

    def kinds(text: str) -> list[tuple[str, str, int, int]]:
        return [(t.kind, t.text, t.line, t.col) for t in tokenize(text, dotted_names=True)]

    assert kinds("a # if b\n  # c\n\tb.c<=1.5e-3 #end") == [
        ("NAME", "a", 1, 1), ("NAME", "b.c", 3, 2), ("OP", "<=", 3, 5), ("NUMBER", "1.5e-3", 3, 7), ("EOF", "", 3, 18),
    ]
    assert kinds("x" + " " * 100_000) == [("NAME", "x", 1, 1), ("EOF", "", 1, 100_002)]
    assert kinds("#" + "a" * 1000) == [("EOF", "", 1, 1002)]
    with pytest.raises(PolicyParseError, match=r"<string>:2:3: unexpected character '\$'"):
        tokenize("a\n  $")
