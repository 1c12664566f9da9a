"""The solver factory: exact models, irrational values, deadlines, isolation and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from pysmt.fnode import FNode
from pysmt.shortcuts import GE, GT, LE, LT, And, Equals, Plus, Real, Symbol, Times
from pysmt.typing import REAL

from saferl.errors import SolverError
from saferl.smt import solve as solve_module
from saferl.smt.solve import APPROX_DIGITS, SolveOutcome, run_isolated, solve

ROOT = Path(__file__).resolve().parents[2]
X = Symbol("x", REAL)
Y = Symbol("y", REAL)
LINEAR = And(GT(X, Real(1)), LT(X, Real(3)), GT(Y, Plus(X, Real(Fraction(1, 3)))), LT(Y, Real(5)))
SQRT2 = And(Equals(Times(X, X), Real(2)), GE(X, Real(0)))


def hard_formula() -> tuple[FNode, list[FNode]]:
    """(x*y - z*w) * (x*z + y*w) * (x*w - y*z) * u > 1e12 over a wide box: hard NRA."""
    x, y, z, w, u = (Symbol(f"h_{n}", REAL) for n in "xyzwu")
    box = [And(LE(Real(-1000), v), LE(v, Real(1000))) for v in (x, y, z)]
    box += [And(LE(Real(-10), v), LE(v, Real(10))) for v in (w, u)]
    minus = Real(-1)
    p = Times(
        Plus(Times(x, y), Times(minus, z, w)),
        Plus(Times(x, z), Times(y, w)),
        Plus(Times(x, w), Times(minus, y, z)),
        u,
    )
    return And(*box, GT(p, Real(10**12))), [x, y, z, w, u]


@pytest.mark.parametrize("isolate", [False, True])
@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_sat_model_is_exact_and_satisfies(solver: str, isolate: bool) -> None:
    out = solve(LINEAR, [X, Y], solver, 5.0, isolate=isolate)
    assert out.status == "sat"
    assert out.isolated is isolate
    assert not out.approximate
    assert set(out.model) == {X, Y}
    x, y = out.model[X], out.model[Y]
    assert all(type(v) is Fraction for v in (x, y))
    assert 1 < x < 3 and x + Fraction(1, 3) < y < 5


@pytest.mark.parametrize("isolate", [False, True])
@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_unsat(solver: str, isolate: bool) -> None:
    out = solve(And(GT(X, Real(1)), LT(X, Real(0))), [X], solver, 5.0, isolate=isolate)
    assert (out.status, out.model, out.reason) == ("unsat", {}, "")


@pytest.mark.parametrize("isolate", [False, True])
@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_irrational_value_is_approximated_not_an_error(solver: str, isolate: bool) -> None:
    out = solve(SQRT2, [X], solver, 5.0, isolate=isolate)
    assert out.status == "sat"
    assert out.approximate
    x = out.model[X]
    assert type(x) is Fraction
    # within 10**-40 of sqrt(2): |x^2 - 2| = |x - r| * (x + r) < 3 * 10**-40
    assert abs(x * x - 2) < Fraction(3, 10**APPROX_DIGITS)


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_rational_values_next_to_an_irrational_stay_exact(solver: str) -> None:
    formula = And(SQRT2, Equals(Y, Real(Fraction(7, 3))))
    out = solve(formula, [Y], solver, 5.0)
    assert out.model == {Y: Fraction(7, 3)}
    assert not out.approximate  # only the requested symbols count


def test_positional_call_and_defaults_are_backward_compatible() -> None:
    out = solve(LINEAR, [X], "z3", 5.0)
    assert isinstance(out, SolveOutcome)
    assert (out.status, out.solver, out.approximate, out.isolated) == ("sat", "z3", False, False)
    assert SolveOutcome("unsat", "z3", 0.1).approximate is False


def test_default_isolation() -> None:
    assert not solve(LINEAR, [X], "z3", 5.0).isolated  # the cheap path: in-process
    assert solve(LINEAR, [X], "cvc5", 5.0).isolated
    assert solve(SQRT2, [X], "z3", 5.0).isolated  # nonlinear z3 can overshoot its limit


def test_unknown_solver_is_a_solver_error() -> None:
    with pytest.raises(SolverError, match="unknown solver 'yices'"):
        solve(LINEAR, [X], "yices")


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_deadline_already_passed_is_budget_exhausted(solver: str) -> None:
    start = time.perf_counter()
    out = solve(LINEAR, [X], solver, 5.0, deadline=time.monotonic() - 0.5)
    assert (out.status, out.reason, out.model) == ("unknown", "budget exhausted", {})
    assert time.perf_counter() - start < 0.05


def test_a_far_deadline_changes_nothing() -> None:
    out = solve(LINEAR, [X], "z3", 5.0, deadline=time.monotonic() + 3600)
    assert out.status == "sat"


@pytest.mark.parametrize("solver", ["z3", "cvc5"])
def test_timeout_holds_on_a_hard_nonlinear_formula(solver: str) -> None:
    formula, symbols = hard_formula()
    start = time.perf_counter()
    out = solve(formula, symbols, solver, 0.5)
    wall = time.perf_counter() - start
    assert out.status == "unknown"
    assert out.reason == "timeout after 0.5 s"
    assert wall < 1.5  # cvc5 alone ran for minutes under tlimit-per here


def test_deadline_binds_before_the_timeout() -> None:
    formula, symbols = hard_formula()
    start = time.perf_counter()
    out = solve(formula, symbols, "cvc5", 60.0, deadline=time.monotonic() + 0.4)
    assert out.status == "unknown"
    assert out.reason.startswith("budget exhausted after")
    assert time.perf_counter() - start < 1.5


def test_an_exception_in_the_child_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(solve_module, "_check", broken)
    with pytest.raises(SolverError, match="cvc5 failed: RuntimeError: backend exploded"):
        solve(LINEAR, [X], "cvc5", 5.0)


def test_an_exception_in_process_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("backend exploded")

    monkeypatch.setattr(solve_module, "_check", broken)
    with pytest.raises(SolverError, match="z3 failed: backend exploded"):
        solve(LINEAR, [X], "z3", 5.0, isolate=False)


def test_a_child_killed_by_a_signal_is_a_crash_not_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def segfault(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(solve_module, "_check", segfault)
    with pytest.raises(SolverError, match=r"cvc5 crashed \(signal 9\)"):
        solve(LINEAR, [X], "cvc5", 5.0)


def test_the_child_does_not_flush_the_parents_buffers(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from pysmt.shortcuts import Symbol, GT, Real\n"
        "from pysmt.typing import REAL\n"
        "from saferl.smt.solve import solve\n"
        "sys.stdout.write('before|')\n"
        "x = Symbol('x', REAL)\n"
        "print(solve(GT(x, Real(1)), [x], 'cvc5', 5.0).status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "before|sat\n"


def test_run_isolated_returns_the_value() -> None:
    assert run_isolated(lambda: {"values": ["1/3"], "n": 2}, 5.0) == {"values": ["1/3"], "n": 2}


def test_run_isolated_kills_at_the_limit() -> None:
    start = time.perf_counter()
    assert run_isolated(lambda: time.sleep(30), 0.2) is None
    assert time.perf_counter() - start < 1.0


def test_run_isolated_reports_errors_by_name() -> None:
    with pytest.raises(SolverError, match="bit-precise z3 failed: ZeroDivisionError"):
        run_isolated(lambda: 1 // 0, 5.0, "bit-precise z3")


def _alive(pid: int) -> bool:
    """Running (a zombie left for a non-reaping init counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_child_whose_parent_died_stops_by_itself(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # the parent dies at 0.1 s, before its own kill at the 0.2 s limit: only the child's
    # CPU-time limit (ceil(0.2) + 1 = 2 s) can stop the orphan
    script = (
        "import os, threading\n"
        "from saferl.smt.solve import run_isolated\n"
        "def spin():\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    while True:\n"
        "        pass\n"
        "threading.Timer(0.1, lambda: os._exit(0)).start()\n"
        "run_isolated(spin, 0.2)\n"
    )
    subprocess.run([sys.executable, "-c", script], timeout=60, check=True)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    child = int(pid_file.read_text())
    give_up = time.monotonic() + 30
    while _alive(child) and time.monotonic() < give_up:
        time.sleep(0.1)
    if _alive(child):  # pragma: no cover - clean up before failing
        os.kill(child, signal.SIGKILL)
        pytest.fail("the orphaned child kept running past its CPU-time limit")


def test_a_failed_fork_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    with pytest.raises(SolverError, match="cvc5: cannot start a solver process"):
        solve(LINEAR, [X], "cvc5", 5.0)
