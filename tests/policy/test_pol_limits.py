"""Deep or large .pol input costs one line naming the limit, never a traceback or a hang."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from saferl.cli import run
from saferl.errors import PolicyParseError
from saferl.limits import MAX_NESTING_DEPTH, MAX_POLICY_BYTES
from saferl.policy import compile_program, format_policy, interpret, load_policy, parse_policy

HEAD = "policy p\nobs x: float32\nobs y: float32\nact a: continuous [-1, 1]\n"
DEEP = f"nesting deeper than {MAX_NESTING_DEPTH} levels (limit max_nesting_depth)"
N = 10_000


def parse_error(text: str) -> str:
    with pytest.raises(PolicyParseError) as info:
        parse_policy(text, "p.pol")
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("if x <= 0 { " * N + "a = 0" + " }" * N, "p.pol:5:748"),
        ("a = " + "(" * N + "x" + ")" * N, "p.pol:5:133"),
        ("if " + "(" * N + "x <= 0" + ")" * N + " { a = 0 } else { a = 1 }", "p.pol:5:131"),
        ("if " + "not " * N + "x <= 0 { a = 0 } else { a = 1 }", "p.pol:5:512"),
        ("a = " + "- " * N + "x", "p.pol:5:261"),
        ("a = " + "abs(" * N + "x" + ")" * N, "p.pol:5:517"),
        ("a = " + " + ".join(["x"] * 20_000), "p.pol:5:259"),
        ("a = " + " * ".join(["x"] * 20_000), "p.pol:5:259"),
        ("if " + " - ".join(["x"] * 20_000) + " <= 0 { a = 0 } else { a = 1 }", "p.pol:5:254"),
    ],
    ids=["if", "parentheses", "parenthesised-condition", "not", "unary-minus", "abs", "flat-sum", "flat-product",
         "sum-in-condition"],
)
def test_deep_input_names_the_nesting_limit(body: str, where: str) -> None:
    start = time.perf_counter()
    message = parse_error(HEAD + body + "\n")
    assert message == f"{where}: {DEEP} (hint: split the expression or flatten the nesting)"
    assert time.perf_counter() - start < 5


def test_nesting_at_the_limit_is_usable_downstream() -> None:
    """A tree at the limit prints, re-parses, compiles and evaluates (no RecursionError)."""
    d = MAX_NESTING_DEPTH
    bodies = [
        "if x <= 0 { " * (d - 2) + "a = x" + " } else { a = y }" * (d - 2),
        "a = " + " + ".join(["x"] * (d - 1)),
        "a = " + "- " * (d - 1) + "x",
        "a = " + "abs(" * (d - 1) + "x" + ")" * (d - 1),
        "if " + "not " * (d - 3) + "x <= 0 { a = 0 } else { a = 1 }",
    ]
    for body in bodies:
        program = parse_policy(HEAD + body + "\n")
        assert parse_policy(format_policy(program)) == program
        step = compile_program(program)
        assert step(0.25, 0.5, [])[0] == interpret(program, {"x": 0.25, "y": 0.5})[0]["a"]
    with pytest.raises(PolicyParseError, match="limit max_nesting_depth"):
        parse_policy(HEAD + "a = " + " + ".join(["x"] * (d + 1)) + "\n")


def test_a_long_flat_and_chain_is_fine() -> None:
    program = parse_policy(HEAD + "if " + " and ".join(["x <= 0"] * 5000) + " { a = 0 } else { a = 1 }\n")
    assert program.action_names == ("a",)


def elif_chain(n: int) -> str:
    return HEAD + "if x <= 0 { a = 0 }\n" + "".join(f"elif x <= {i} {{ a = {i % 2} }}\n" for i in range(1, n)) + "else { a = 1 }\n"


def test_a_1000_branch_elif_chain_parses_fast_and_compiles() -> None:
    start = time.perf_counter()
    program = parse_policy(elif_chain(1000))
    assert time.perf_counter() - start < 5
    assert len(program.body[0].branches) == 1000
    assert compile_program(program)(500.5, 0.0, [])[0] == 1.0


def test_elif_branches_on_one_path_are_limited() -> None:
    assert parse_error(elif_chain(1001)) == (
        "p.pol:1005:1: more than 1000 if/elif branches on one path (limit max_branches) "
        "(hint: split the chain into nested ifs (e.g. a binary search over the thresholds))"
    )
    start = time.perf_counter()
    assert "limit max_branches" in parse_error(elif_chain(3000))
    assert time.perf_counter() - start < 5
    # nested chains add up: 2 x 600 branches on the way to the inner statements
    inner = "if y <= 0 { a = 0 }\n" + "".join(f"elif y <= {i} {{ a = 0 }}\n" for i in range(1, 600)) + "else { a = 1 }"
    outer = HEAD + "if x <= 0 { a = 0 }\n" + "".join(f"elif x <= {i} {{ a = 0 }}\n" for i in range(1, 599))
    assert "limit max_branches" in parse_error(outer + f"elif x <= 600 {{ {inner} }}\nelse {{ a = 1 }}\n")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("1" * 400, "p.pol:5:5: number longer than 100 characters (limit max_number_length) "
                    "(hint: a float64 needs at most 17 significant digits)"),
        ("0." + "0" * 200 + "1", "p.pol:5:5: number longer than 100 characters (limit max_number_length) "
                                 "(hint: a float64 needs at most 17 significant digits)"),
        ("1e301", "p.pol:5:5: constant 1e301 is too large (hint: constants must lie within ±1e+300)"),
        ("x * 1²", "p.pol:5:9: malformed number '1²' (hint: put a space or operator after a number)"),
        ("x * ²", "p.pol:5:9: unexpected character '²' (hint: see docs/policy-format.md for the grammar)"),
        ("x * ٣", "p.pol:5:9: unexpected character '٣' (hint: see docs/policy-format.md for the grammar)"),
    ],
)
def test_numbers(expr: str, message: str) -> None:
    assert parse_error(HEAD + f"a = {expr}\n") == message


def test_names_are_at_most_200_characters() -> None:
    assert parse_error(HEAD.replace("obs y", "obs " + "y" * 201)) == (
        "p.pol:3:5: name longer than 200 characters (limit max_name_length)"
    )
    assert parse_policy(HEAD.replace("obs y", "obs " + "y" * 200) + "a = x\n").obs_names[1] == "y" * 200


def test_a_number_of_100_characters_is_fine() -> None:
    program = parse_policy(HEAD + "a = x * 0." + "0" * 97 + "1\n")
    assert program.body[0].value.right.value == 1e-98


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out, err), out.getvalue(), err.getvalue()


def test_a_10_mb_policy_is_read_and_a_20_mb_one_refused_by_size(tmp_path: Path, root: Path) -> None:
    big = tmp_path / "big.pol"
    big.write_text(HEAD + "a = x\n" + "#" * (10 * 1024 * 1024) + "\n")
    assert load_policy(big).name == "p"
    big.write_text(HEAD + "a = x\n" + "#" * (20 * 1024 * 1024) + "\n")
    with pytest.raises(PolicyParseError) as info:
        load_policy(big)
    assert str(info.value) == f"{big}: policy file is larger than {MAX_POLICY_BYTES} bytes (limit max_policy_bytes)"
    code, _, err = cli("verify", str(big), "--spec", str(root / "specs/cartpole/pole_follow.yaml"))
    assert code == 2 and err.count("\n") == 1 and "limit max_policy_bytes" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_device_directory_and_odd_names_never_block(tmp_path: Path, root: Path) -> None:
    fifo = tmp_path / "p.pol"
    os.mkfifo(fifo)
    long_name = "p" * 5000 + ".pol"
    spec = str(root / "specs/cartpole/pole_follow.yaml")
    expected = {
        str(fifo): f"{fifo}: not a regular file, cannot be a policy file (hint: pass a file, not a pipe or a device)",
        "/dev/zero": "/dev/zero: not a regular file, cannot be a policy file (hint: pass a file, not a pipe or a device)",
        str(tmp_path): f"{tmp_path}: is a directory, not a policy file",
        long_name: f"{'p' * 77}[...]{'p' * 73}.pol: cannot read policy file: file name too long",
    }
    for path, message in expected.items():
        with pytest.raises(PolicyParseError) as info:
            load_policy(path)
        assert str(info.value) == message
        for argv in (["verify", path, "--spec", spec], ["eval", path, "--env", "CartPole-v1", "-n", "1"]):
            code, _, err = cli(*argv)
            assert code == 2, (argv, err)
            assert err.count("\n") == 1 and "Traceback" not in err
