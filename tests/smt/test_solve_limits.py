"""``--timeout`` holds on every solver: a hard nonlinear property ends UNKNOWN (exit 3) in time."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from saferl.cli import run

DATA = Path(__file__).resolve().parent / "data"
HARD_POL = str(DATA / "hard_nonlinear.pol")
HARD_SPEC = str(DATA / "hard_nonlinear.yaml")


@pytest.mark.parametrize(
    "flags",
    [
        ["--solver", "cvc5"],
        ["--solver", "z3"],
        ["--cross-check"],
        ["--cross-check", "--solver", "cvc5"],
    ],
    ids=["cvc5", "z3", "cross-check", "cross-check-cvc5"],
)
def test_timeout_one_second_returns_unknown_within_three(flags: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    code = run(
        ["verify", HARD_POL, "--spec", HARD_SPEC, "--timeout", "1", "--format", "json", *flags],
        out,
        err,
    )
    wall = time.perf_counter() - start
    assert code == 3, err.getvalue()
    (policy,) = json.loads(out.getvalue())["results"]
    properties = policy["properties"]
    assert [p["verdict"] for p in properties] == ["UNKNOWN"]
    assert "timeout after" in properties[0]["message"]
    assert wall < 3.0 * len(properties)


def test_budget_bounds_the_whole_command() -> None:
    out, err = io.StringIO(), io.StringIO()
    budget_spec = str(DATA / "hard_nonlinear_budget.yaml")
    argv = ["verify", HARD_POL, "--spec", budget_spec, "--timeout", "1", "--budget", "1.5"]
    start = time.perf_counter()
    code = run([*argv, "--solver", "cvc5", "--format", "json"], out, err)
    wall = time.perf_counter() - start
    assert code == 3, err.getvalue()
    (policy,) = json.loads(out.getvalue())["results"]
    properties = policy["properties"]
    assert [p["verdict"] for p in properties] == ["UNKNOWN"] * 3
    assert "budget exhausted" in properties[-1]["message"]
    assert wall < 2.5


@pytest.mark.parametrize("value", ["0", "-1", "1e9"])
def test_bad_budget_is_bad_input(value: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["verify", HARD_POL, "--spec", HARD_SPEC, "--budget", value], out, err)
    assert code == 2
    assert f"--budget must be a positive number of seconds, got {float(value)}" in err.getvalue()
