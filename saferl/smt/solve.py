"""The one solver factory: deterministic seeds, time limits that hold, ``unknown`` never read as an answer.

:func:`solve` checks one formula on z3 or cvc5 and, on sat, reads the requested symbols
back as exact :class:`~fractions.Fraction` values.

Time limits. A call is bounded by ``timeout_s`` and, when given, by an absolute
``deadline`` on the :func:`time.monotonic` clock (a caller with an overall budget passes
what is left of it): the limit is whichever comes first. Both solvers are told the limit
(z3's ``timeout``, cvc5's ``tlimit-per``), but both check it cooperatively, and neither
checks it everywhere: cvc5's nonlinear procedure (cylindrical algebraic coverings,
``nl-cov``) does not look at the clock at all during its polynomial computations, so a
hard NRA query ran past 300 s under ``tlimit-per=1000`` (issue 10; the fixture in
tests/smt/data still runs at 30 s, and honours the limit with ``nl-cov=false``); z3's
nlsat overshoots too (0.7 s under a 0.5 s limit on that fixture, and more in big-number
arithmetic). So a call that could overshoot runs in a forked child process that is
killed (SIGKILL) 50 ms after the limit, and the answer is then ``unknown`` with the
reason ``timeout after X s`` (or ``budget exhausted after X s`` when the deadline was
the binding limit). The child is forked, so the formula is never serialised; only the
status and the model values come back, as JSON text over a pipe (nothing is unpickled).
The child also carries a CPU-time rlimit of the limit plus one second, so it stops by
itself should its parent die first. The same guard is public as :func:`run_isolated` for
solver calls made outside :func:`solve` (the bit-precise check, for one).

Which calls run in a child (``isolate=None``, the default): every cvc5 call, and z3 calls
on nonlinear formulas. Linear z3 calls stay in-process — z3's simplex checks its limit
often, and forking would add a few milliseconds to the cheapest, most frequent calls
(small tree properties). ``isolate=True`` or ``False`` forces either way. Where the
platform has no ``os.fork``, every call runs in-process and the limit is cooperative.

Models. Values are exact rationals. A value that is an irrational algebraic number
(``x * x == 2``) is returned as a rational within ``10**-40`` of it and the outcome is
marked ``approximate=True`` (the caller replays counterexamples concretely anyway); that
is never an error. A solver crash (an exception, or a child killed by a signal before the
limit) is a :class:`~saferl.errors.SolverError`; a timeout never is.

Example:
    >>> from pysmt.shortcuts import Symbol, GT, LT, And, Real
    >>> from pysmt.typing import REAL
    >>> x = Symbol("x", REAL)
    >>> solve(And(GT(x, Real(1)), LT(x, Real(0))), [x]).status
    'unsat'
    >>> import time
    >>> solve(GT(x, Real(1)), [x], deadline=time.monotonic() - 1).reason
    'budget exhausted'
"""

from __future__ import annotations

import json
import math
import os
import select
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from pysmt.exceptions import SolverReturnedUnknownResultError
from pysmt.fnode import FNode
from pysmt.oracles import get_logic
from pysmt.shortcuts import get_env

from saferl.errors import SolverError

__all__ = ["SolveOutcome", "solve", "run_isolated", "SOLVERS", "APPROX_DIGITS"]

SOLVERS = ("z3", "cvc5")
SEED = 0
APPROX_DIGITS = 40
"""An irrational model value is returned within ``10**-APPROX_DIGITS`` of the exact one."""

# how long past the limit a child may take to hand back an answer it found just in time
_GRACE_S = 0.05
# below this, a call is not worth starting
_MIN_LIMIT_S = 0.001


@dataclass(frozen=True)
class SolveOutcome:
    """The answer of one solver call.

    ``status`` is sat, unsat or unknown; ``model`` maps the requested symbols to exact
    values when sat; ``reason`` says why the answer is unknown; ``approximate`` is true
    when some model value is a rational approximation of an irrational one (within
    ``10**-APPROX_DIGITS``); ``isolated`` says whether the call ran in a child process.
    """

    status: str
    solver: str
    time_s: float
    model: dict[FNode, Fraction] = field(default_factory=dict)
    reason: str = ""
    approximate: bool = False
    isolated: bool = False


@dataclass(frozen=True)
class _Answer:
    """What a backend call returns, in-process or from a child."""

    status: str
    values: tuple[Fraction, ...] = ()
    approximate: bool = False


def _options(name: str, timeout_s: float) -> dict[str, object]:
    ms = max(1, int(timeout_s * 1000))
    if name == "z3":
        return {"timeout": ms}
    return {"tlimit-per": ms}


def _make_solver(name: str, linear: bool, timeout_s: float) -> Any:
    """Instantiate one backend directly (pySMT's factory would import every installed
    solver, which costs ``saferl verify`` a tenth of a second at start-up)."""
    from pysmt import logics

    opts = {"random_seed": SEED, "solver_options": _options(name, timeout_s)}
    if name == "z3":
        from pysmt.solvers.z3 import Z3Solver

        # a logic z3.SolverFor does not specialise on: z3 picks its own tactics (a too
        # specific logic such as QF_RDL can make it answer unknown)
        return Z3Solver(
            environment=get_env(), logic=logics.QF_UFLIRA if linear else logics.QF_NIRA, **opts
        )
    from pysmt.solvers.cvcfive import CVC5Solver

    return CVC5Solver(
        environment=get_env(), logic=logics.QF_LRA if linear else logics.QF_NRA, **opts
    )


def _z3_value(backend: Any, sym: FNode) -> tuple[Fraction, bool]:
    import z3

    value = backend.z3.model().eval(backend.converter.convert(sym), model_completion=True)
    if z3.is_int_value(value):
        return Fraction(value.as_long()), False
    if z3.is_rational_value(value):
        return Fraction(value.numerator_as_long(), value.denominator_as_long()), False
    if z3.is_algebraic_value(value):
        return value.approx(APPROX_DIGITS).as_fraction(), True
    if z3.is_true(value) or z3.is_false(value):
        return Fraction(int(z3.is_true(value))), False
    raise SolverError(f"z3 gave {sym} the value {value}, which is not a number")


def _cvc5_algebraic(slv: Any, value: Any) -> tuple[Fraction, bool]:
    """Narrow cvc5's isolating interval of a real algebraic number by bisection."""
    var = slv.mkVar(slv.getRealSort(), "saferl_root")
    poly = value.getRealAlgebraicNumberDefiningPolynomial(var)
    lo = Fraction(value.getRealAlgebraicNumberLowerBound().getRealValue())
    hi = Fraction(value.getRealAlgebraicNumberUpperBound().getRealValue())

    def sign(q: Fraction) -> int:
        at = slv.simplify(poly.substitute(var, slv.mkReal(str(q.numerator), str(q.denominator))))
        v = Fraction(at.getRealValue())
        return (v > 0) - (v < 0)

    if lo == hi:
        return lo, False
    s_lo = sign(lo)
    if s_lo == 0:
        return lo, False
    s_hi = sign(hi)
    if s_hi == 0:
        return hi, False
    tolerance = Fraction(1, 10**APPROX_DIGITS)
    if s_lo != s_hi:
        while hi - lo > tolerance:
            mid = (lo + hi) / 2
            s_mid = sign(mid)
            if s_mid == 0:
                return mid, False
            if s_mid == s_lo:
                lo = mid
            else:
                hi = mid
    return (lo + hi) / 2, True


def _cvc5_value(backend: Any, sym: FNode) -> tuple[Fraction, bool]:
    slv = backend.cvc5
    value = slv.getValue(backend.converter.convert(sym))
    if value.isIntegerValue():
        return Fraction(value.getIntegerValue()), False
    if value.isRealValue():
        return Fraction(value.getRealValue()), False
    if value.isRealAlgebraicNumber():
        return _cvc5_algebraic(slv, value)
    if value.isBooleanValue():
        return Fraction(int(value.getBooleanValue())), False
    raise SolverError(f"cvc5 gave {sym} the value {value}, which is not a number")


def _check(
    name: str, formula: FNode, symbols: Sequence[FNode], linear: bool, limit_s: float,
    converters: dict[str, Any] | None = None,
) -> _Answer:
    """One backend call in this process; backend exceptions propagate.  ``converters``
    (kept by the caller across calls) shares z3's term conversion between solvers, so
    the parts of formulas that calls have in common are converted once."""
    with _make_solver(name, linear, limit_s) as backend:
        if converters is not None and name == "z3":
            shared = converters.get("z3")
            if shared is not None and shared.ctx is backend.converter.ctx:
                backend.converter = shared
            else:
                converters["z3"] = backend.converter
        backend.add_assertion(formula)
        try:
            sat = backend.solve()
        except SolverReturnedUnknownResultError:
            return _Answer("unknown")
        if not sat:
            return _Answer("unsat")
        read = _z3_value if name == "z3" else _cvc5_value
        pairs = [read(backend, sym) for sym in symbols]
    return _Answer("sat", tuple(v for v, _ in pairs), any(a for _, a in pairs))


def _answer_to_json(answer: _Answer) -> dict[str, Any]:
    values = [f"{v.numerator}/{v.denominator}" for v in answer.values]
    return {"status": answer.status, "values": values, "approximate": answer.approximate}


def _answer_from_json(doc: dict[str, Any]) -> _Answer:
    values = tuple(Fraction(v) for v in doc["values"])
    return _Answer(str(doc["status"]), values, bool(doc["approximate"]))


def _orphan_proof(limit_s: float) -> None:
    """In the child: a CPU-time limit the kernel enforces, so that a child whose parent died
    (and so cannot kill it) still stops; Ctrl-C is the parent's to handle (it kills us)."""
    import resource

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a single-threaded solver spends at most its wall-clock time in CPU, so this never
    # fires before the parent's kill
    cpu = math.ceil(limit_s) + 1
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard == resource.RLIM_INFINITY or hard > cpu + 1:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (OSError, ValueError):  # best effort: the parent's kill is the guarantee
        pass


def _child(work: Callable[[], Any], limit_s: float, out_fd: int) -> None:
    """Runs in the forked child: answer, write, and leave without any clean-up of the parent's."""
    code = 0
    try:
        try:
            _orphan_proof(limit_s)
            payload = json.dumps({"value": work()}).encode()
        except BaseException as exc:  # reported to the parent, which raises SolverError
            payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
        view = memoryview(payload)
        while view:
            view = view[os.write(out_fd, view) :]
        os.close(out_fd)
    except BaseException:
        code = 1
    finally:
        os._exit(code)  # never return into the parent's stack, never flush its buffers


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_isolated(work: Callable[[], Any], limit_s: float, name: str = "solver") -> Any | None:
    """Run ``work()`` in a forked child process that is killed once ``limit_s`` has passed.

    ``work`` runs in a copy of this process (so it may close over formulas, solvers, any
    state) and returns a JSON-serialisable value, which comes back over a pipe as text.
    Returns that value, or ``None`` when the child was killed at the limit. An exception
    in ``work``, or a child that dies without an answer (a signal, a crash of native code),
    is a :class:`~saferl.errors.SolverError` naming ``name``. Callers that need the hard
    limit for their own solver calls (e.g. a bit-precise encoding) use this directly;
    :func:`solve` uses it for the calls it isolates. Needs ``os.fork`` (POSIX).

    Example:
        >>> run_isolated(lambda: {"status": "sat"}, 5.0)
        {'status': 'sat'}
    """
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:  # out of processes or memory: a tool error, never a verdict
        os.close(read_fd)
        os.close(write_fd)
        raise SolverError(f"{name}: cannot start a solver process ({exc.strerror or exc})") from exc
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_fd)
        _child(work, limit_s, write_fd)
    os.close(write_fd)
    kill_at = time.monotonic() + limit_s + _GRACE_S
    chunks: list[bytes] = []
    finished = False
    try:
        poller = select.poll()
        poller.register(read_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            left = kill_at - time.monotonic()
            if left <= 0:
                break
            if not poller.poll(max(1, int(left * 1000))):
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                finished = True
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        if not finished:
            _kill(pid)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): no status to read
            status = 0
    if not finished:
        return None
    if not chunks:
        how = (
            f"signal {os.WTERMSIG(status)}"
            if os.WIFSIGNALED(status)
            else f"exit status {os.WEXITSTATUS(status)}"
        )
        raise SolverError(f"{name} crashed ({how}) without an answer")
    doc = json.loads(b"".join(chunks).decode())
    if "error" in doc:
        raise SolverError(f"{name} failed: {doc['error']}")
    return doc["value"]


def solve(
    formula: FNode,
    symbols: Sequence[FNode],
    solver: str = "z3",
    timeout_s: float = 10.0,
    *,
    deadline: float | None = None,
    isolate: bool | None = None,
    converters: dict[str, Any] | None = None,
) -> SolveOutcome:
    """Check ``formula``; on sat, read the values of ``symbols`` as exact rationals.

    The call returns within ``min(timeout_s, deadline - time.monotonic())`` seconds (plus
    a few milliseconds) with ``unknown`` if the solver has not answered by then.
    ``deadline`` is absolute, on the :func:`time.monotonic` clock; ``isolate`` forces the
    call into a child process (True) or keeps it in-process (False); by default cvc5 and
    nonlinear z3 calls are isolated (see the module docstring).  ``converters``, a dict the
    caller keeps across calls, lets in-process z3 calls share their term conversion.
    """
    if solver not in SOLVERS:
        raise SolverError(f"unknown solver {solver!r}; solvers: {', '.join(SOLVERS)}")
    start = time.perf_counter()
    limit = timeout_s
    budget_bound = False
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining < limit:
            limit, budget_bound = remaining, True
    if limit < _MIN_LIMIT_S:
        reason = "budget exhausted" if budget_bound else f"timeout after {timeout_s:.3g} s"
        return SolveOutcome("unknown", solver, 0.0, reason=reason)
    try:
        linear = get_logic(formula).theory.linear
    except Exception as exc:  # an ill-formed formula is a tool error, never a verdict
        raise SolverError(f"{solver} failed: {exc}") from exc
    if isolate is None:
        isolate = solver == "cvc5" or not linear
    isolate = isolate and hasattr(os, "fork")
    try:
        if isolate:
            doc = run_isolated(
                lambda: _answer_to_json(_check(solver, formula, symbols, linear, limit)),
                limit,
                solver,
            )
            answer = None if doc is None else _answer_from_json(doc)
        else:
            answer = _check(solver, formula, symbols, linear, limit, converters)
    except SolverError:
        raise
    except Exception as exc:  # a backend crash is a tool error, never a verdict
        raise SolverError(f"{solver} failed: {exc}") from exc
    elapsed = time.perf_counter() - start
    if answer is None or answer.status == "unknown":
        if answer is None or elapsed >= limit * 0.95:
            reason = (
                f"budget exhausted after {elapsed:.3g} s"
                if budget_bound
                else f"timeout after {timeout_s:.3g} s"
            )
        else:
            reason = f"{solver} answered unknown"
        return SolveOutcome("unknown", solver, elapsed, reason=reason, isolated=isolate)
    model = dict(zip(symbols, answer.values)) if answer.status == "sat" else {}
    return SolveOutcome(
        answer.status, solver, elapsed, model, approximate=answer.approximate, isolated=isolate
    )
