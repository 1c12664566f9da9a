"""The bit-precise encoding: IEEE float32/float64 semantics in the SMT floating-point theory.

The real encoding (:mod:`saferl.smt.props`) over-approximates float64 rounding; when its
counterexample does not replay, or it cannot model an input (non-finite constants), this
encoding decides the property exactly: observations are float32 or float64 variables
(finite, within their domains), every ``+ - * /`` rounds to nearest-even in float64, ``abs``,
``min``, ``max`` and ``clip`` follow Python's definitions (``min(a, b)`` is ``b if b < a
else a``), comparisons are IEEE comparisons (NaN compares false, ``!=`` true), overflow
gives ±inf and NaN as at run time.  Unsat is a proof for every float execution; a model is
an exact float point that is replayed like any other counterexample.

It is written once against the z3 Python API, which ``cvc5.pythonic`` mirrors, so the same
code runs on both solvers.

Example:
    >>> from saferl.policy import parse_policy
    >>> from saferl.spec import parse_spec
    >>> from saferl.spec.bind import bind_spec
    >>> p = parse_policy("policy p\\nobs x: float32\\nact a: continuous\\na = (x + 0.1) - 0.1\\n")
    >>> s = parse_spec("observations: {x: [0, 1]}\\nproperties:\\n  - {id: id, kind: invariant, require: a <= x}\\n")
    >>> out = solve_fp(s.properties[0], s, bind_spec(s, p), "z3", 10.0)
    >>> out.status
    'sat'
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from types import ModuleType
from typing import Any

from saferl.policy.ast import (
    Assign,
    BinOp,
    BoolConst,
    BoolOp,
    Call,
    Compare,
    Cond,
    Expr,
    If,
    Label,
    Neg,
    Num,
    Obs,
    Pid,
    Program,
    Stmt,
)
from saferl.policy.ast import Not as PNot
from saferl.smt.floats import F32_MAX
from saferl.smt.props import frame_labels, step_label
from saferl.spec.bind import Binding, property_condition
from saferl.spec.expr import SBin, SBool, SCall, SCmp, SConst, SExpr, SNeg, SNot, SNum, SVar
from saferl.spec.load import Property, Spec

__all__ = ["FPOutcome", "solve_fp", "fp_module"]

Z3Expr = Any


@dataclass(frozen=True)
class FPOutcome:
    """``status`` sat / unsat / unknown; on sat, exact runtime values of the frame."""

    status: str
    solver: str
    time_s: float
    obs: dict[str, dict[str, float]] = field(default_factory=dict)
    initial_state: tuple[float, ...] = ()
    reason: str = ""


def fp_module(solver: str) -> ModuleType:
    """The z3-style API of ``solver``: ``z3`` itself or ``cvc5.pythonic``."""
    if solver == "z3":
        import z3

        return z3
    from cvc5 import pythonic

    return pythonic  # type: ignore[no-any-return]


class _Enc:
    """One visitor for programs and spec expressions over FP terms of one module ``Z``."""

    def __init__(self, Z: ModuleType):  # noqa: N803 - the module plays z3's role
        self.Z = Z
        self.F64 = Z.Float64()
        self.F32 = Z.Float32()
        self.rm = Z.RNE()

    def const(self, v: float) -> Z3Expr:
        return self.Z.FPVal(float(v), self.F64)

    # -- arithmetic, as Python floats compute it -----------------------------------------
    def binop(self, op: str, a: Z3Expr, b: Z3Expr) -> Z3Expr:
        Z = self.Z
        if op == "+":
            return Z.fpAdd(self.rm, a, b)
        if op == "-":
            return Z.fpSub(self.rm, a, b)
        if op == "*":
            return Z.fpMul(self.rm, a, b)
        return Z.fpDiv(self.rm, a, b)

    def call(self, func: str, args: list[Z3Expr]) -> Z3Expr:
        Z = self.Z
        if func == "abs":
            return Z.fpAbs(args[0])
        if func == "clip":
            return self._min(self._max(args[0], args[1]), args[2])
        acc = args[0]
        for a in args[1:]:
            acc = self._min(acc, a) if func == "min" else self._max(acc, a)
        return acc

    def _min(self, a: Z3Expr, b: Z3Expr) -> Z3Expr:  # Python: b if b < a else a
        return self.Z.If(self.Z.fpLT(b, a), b, a)

    def _max(self, a: Z3Expr, b: Z3Expr) -> Z3Expr:  # Python: b if b > a else a
        return self.Z.If(self.Z.fpGT(b, a), b, a)

    def compare(self, op: str, a: Z3Expr, b: Z3Expr) -> Z3Expr:
        Z = self.Z
        if op == "<":
            return Z.fpLT(a, b)
        if op == "<=":
            return Z.fpLEQ(a, b)
        if op == ">":
            return Z.fpGT(a, b)
        if op == ">=":
            return Z.fpGEQ(a, b)
        if op == "==":
            return Z.fpEQ(a, b)
        return Z.Not(Z.fpEQ(a, b))

    # -- programs -----------------------------------------------------------------------
    def step(
        self, program: Program, obs: dict[str, Z3Expr], state: list[Z3Expr], slots: tuple[int, ...] | None = None,
    ) -> tuple[dict[str, Z3Expr], list[Z3Expr]]:
        """Actions and next state of one step; ``slots``: where each pid's state starts
        (default: ``program``'s own; a path of a program passes the whole program's)."""
        self._slots = program.pid_slots if slots is None else slots
        self._obs = obs
        self._next = list(state)
        self._state = list(state)
        acts = self._block(program.body, self.Z.BoolVal(True))
        return acts, self._next

    def _block(self, body: tuple[Stmt, ...], path: Z3Expr) -> dict[str, Z3Expr]:
        Z = self.Z
        acts: dict[str, Z3Expr] = {}
        for stmt in body:
            if isinstance(stmt, Assign):
                acts[stmt.target] = self._expr(stmt.value, path)
                continue
            if not isinstance(stmt, If):
                raise TypeError(f"not a statement: {stmt!r}")
            conds = [self._cond(c) for c, _ in stmt.branches]
            branch_acts = []
            rest = path
            for k, (_, blk) in enumerate(stmt.branches):
                branch_acts.append(self._block(blk, Z.And(rest, conds[k])))
                rest = Z.And(rest, Z.Not(conds[k]))
            else_path = rest
            else_acts = self._block(stmt.orelse, else_path) if stmt.orelse else {}
            for name in branch_acts[0]:
                term = else_acts.get(name)
                for k in range(len(conds) - 1, -1, -1):
                    term = branch_acts[k][name] if term is None else Z.If(conds[k], branch_acts[k][name], term)
                if term is not None:
                    acts[name] = term
        return acts

    def cond_of(self, c: Cond) -> Z3Expr:
        """A condition of the program on the observations of the last :meth:`step`."""
        return self._cond(c)

    def _cond(self, c: Cond) -> Z3Expr:
        Z = self.Z
        if isinstance(c, Compare):
            return self.compare(c.op, self._expr(c.left, None), self._expr(c.right, None))
        if isinstance(c, BoolOp):
            parts = [self._cond(o) for o in c.operands]
            return Z.And(*parts) if c.op == "and" else Z.Or(*parts)
        if isinstance(c, PNot):
            return Z.Not(self._cond(c.operand))
        if isinstance(c, BoolConst):
            return Z.BoolVal(c.value)
        raise TypeError(f"not a condition: {c!r}")

    def _expr(self, e: Expr, path: Z3Expr) -> Z3Expr:
        Z = self.Z
        if isinstance(e, Num):
            return self.const(e.value)
        if isinstance(e, Label):
            return self.const(float(e.value))
        if isinstance(e, Obs):
            return self._obs[e.name]
        if isinstance(e, Neg):
            return Z.fpNeg(self._expr(e.operand, path))
        if isinstance(e, BinOp):
            return self.binop(e.op, self._expr(e.left, path), self._expr(e.right, path))
        if isinstance(e, Call):
            return self.call(e.func, [self._expr(a, path) for a in e.args])
        if isinstance(e, Pid):
            k = self._slots[e.site]
            err = self.binop("-", self.const(e.target.value), self._expr(e.signal, path))
            integral, deriv, nxt = e.update(err, self._state[k:k + e.state_size],
                                            lambda a, b: self.binop("+", a, b), lambda a, b: self.binop("-", a, b))
            for j, v in enumerate(nxt):
                self._next[k + j] = Z.If(path, v, self._state[k + j])
            out = self.binop(
                "+", self.binop("*", self.const(e.kp.value), err), self.binop("*", self.const(e.ki.value), integral)
            )
            return self.binop("+", out, self.binop("*", self.const(e.kd.value), deriv))
        raise TypeError(f"not an expression: {e!r}")

    # -- spec expressions ----------------------------------------------------------------
    def sexpr(self, e: SExpr, var: Any) -> Z3Expr:
        Z = self.Z
        if isinstance(e, SNum):
            return self.const(e.value)
        if isinstance(e, SVar):
            return var(e)
        if isinstance(e, SNeg):
            return Z.fpNeg(self.sexpr(e.operand, var))
        if isinstance(e, SBin):
            return self.binop(e.op, self.sexpr(e.left, var), self.sexpr(e.right, var))
        if isinstance(e, SCall):
            return self.call(e.func, [self.sexpr(a, var) for a in e.args])
        raise TypeError(f"not an arithmetic expression: {e!r}")

    def scond(self, e: SExpr, var: Any) -> Z3Expr:
        Z = self.Z
        if isinstance(e, SCmp):
            return self.compare(e.op, self.sexpr(e.left, var), self.sexpr(e.right, var))
        if isinstance(e, SBool):
            parts = [self.scond(o, var) for o in e.operands]
            return Z.And(*parts) if e.op == "and" else Z.Or(*parts)
        if isinstance(e, SNot):
            return Z.Not(self.scond(e.operand, var))
        if isinstance(e, SConst):
            return Z.BoolVal(e.value)
        raise TypeError(f"not a condition: {e!r}")


#: most paths the bit-precise stage checks one by one (else one query for the program)
MAX_PATHS = 64

Path = tuple[list[tuple[Cond, bool]], list[Assign]]


def program_paths(body: tuple[Stmt, ...], limit: int = MAX_PATHS) -> list[Path] | None:
    """Every path through ``body``: the branch conditions taken (with whether each holds)
    and the assignments executed, in order; None beyond ``limit`` paths."""
    paths: list[Path] = [([], [])]
    for stmt in body:
        if isinstance(stmt, Assign):
            paths = [(c, [*a, stmt]) for c, a in paths]
            continue
        if not isinstance(stmt, If):
            return None
        alternatives: list[Path] = []
        for k, (cond, blk) in enumerate(stmt.branches):
            before = [(c, False) for c, _ in stmt.branches[:k]] + [(cond, True)]
            inner = program_paths(blk, limit)
            if inner is None:
                return None
            alternatives += [(before + c, a) for c, a in inner]
        none_taken = [(c, False) for c, _ in stmt.branches]
        inner = program_paths(stmt.orelse, limit) if stmt.orelse else [([], [])]
        if inner is None:
            return None
        alternatives += [(none_taken + c, a) for c, a in inner]
        paths = [(c + c2, a + a2) for c, a in paths for c2, a2 in alternatives]
        if len(paths) > limit:
            return None
    return paths


def _finite_in(Z: ModuleType, enc: _Enc, x64: Z3Expr, lo: float, hi: float) -> list[Z3Expr]:
    out = [Z.Not(Z.fpIsNaN(x64)), Z.Not(Z.fpIsInf(x64))]
    if lo > -math.inf:
        out.append(Z.fpGEQ(x64, enc.const(lo)))
    if hi < math.inf:
        out.append(Z.fpLEQ(x64, enc.const(hi)))
    return out


def solve_fp(
    prop: Property, spec: Spec, binding: Binding, solver: str = "z3", timeout_s: float = 10.0
) -> FPOutcome:
    """Decide ``prop`` bit-precisely; on sat, the exact float values of the violation.

    The solver runs in a child process killed at the limit (neither solver checks its
    clock often enough in floating-point bit-blasting), so the limit holds."""
    from saferl.smt.solve import run_isolated

    start = time.perf_counter()
    doc = run_isolated(
        lambda: asdict(_solve_fp_here(prop, spec, binding, solver, timeout_s)), timeout_s, f"bit-precise {solver}"
    )
    if doc is None:
        return FPOutcome("unknown", solver, time.perf_counter() - start, reason=f"timeout after {timeout_s:.3g} s")
    return FPOutcome(**{**doc, "initial_state": tuple(doc["initial_state"]), "time_s": time.perf_counter() - start})


def _solve_fp_here(prop: Property, spec: Spec, binding: Binding, solver: str, timeout_s: float) -> FPOutcome:
    start = time.perf_counter()
    Z = fp_module(solver)
    enc = _Enc(Z)
    program = binding.program
    mode, exec_labels, obs_labels = frame_labels(prop, binding)
    constraints: list[Z3Expr] = []
    raw: dict[str, dict[str, Z3Expr]] = {}
    obs64: dict[str, dict[str, Z3Expr]] = {}
    for lbl in obs_labels:
        raw[lbl], obs64[lbl] = {}, {}
        for decl in program.observations:
            is32 = decl.dtype == "float32"
            x = Z.FP(f"{decl.name}@{lbl}", enc.F32 if is32 else enc.F64)
            x64 = Z.fpToFP(enc.rm, x, enc.F64) if is32 else x
            raw[lbl][decl.name], obs64[lbl][decl.name] = x, x64
            lo, hi = spec.domains.get(decl.name, (-math.inf, math.inf))
            if is32:
                lo, hi = max(lo, -F32_MAX), min(hi, F32_MAX)
            constraints += _finite_in(Z, enc, x64, lo, hi)
    init_label = "s" if mode == "two-run" else exec_labels[0]
    init = [Z.FP(f"{n}@{init_label}", enc.F64) for n in program.state_names]
    for name, s in zip(program.state_names, init, strict=True):
        constraints += _finite_in(Z, enc, s, *spec.state.get(name, (-math.inf, math.inf)))
    state = init
    state_in: dict[str, list[Z3Expr]] = {}
    actions: dict[str, dict[str, Z3Expr]] = {}
    for lbl in exec_labels:
        state_in[lbl] = init if mode == "two-run" else state
        actions[lbl], nxt = enc.step(program, obs64[lbl], state_in[lbl])
        if mode != "two-run":
            state = nxt

    def var(v: SVar) -> Z3Expr:
        kind = binding.kind_of(v.name)
        if kind == "label":
            return enc.const(binding.label_value(v.name, None, v.loc))
        lbl = step_label(v.lag, v.copy, mode)
        if kind == "obs":
            return obs64[lbl][v.name]
        if kind == "action":
            return actions[lbl][v.name]
        return state_in[lbl][program.state_names.index(v.name)]

    when, require = property_condition(prop, binding)
    stop = start + timeout_s

    def check(extra: list[Z3Expr]) -> tuple[str, Any]:
        s = Z.Solver()
        ms = max(1, int((stop - time.perf_counter()) * 1000))
        if solver == "z3":
            s.set("timeout", ms)
            s.set("random_seed", 0)
        else:
            s.set("tlimit-per", ms)
        s.add(*constraints, *extra)
        answer = str(s.check())
        return answer, s.model() if answer == "sat" else None

    # One query per path of the program when there are few: bit-blasting then builds only
    # the arithmetic of one path at a time (a float64 multiplier is large), and a proof
    # needs every path unsat.
    paths = program_paths(program.body) if mode == "single" and len(exec_labels) == 1 else None
    model = None
    undecided = False
    if paths is not None and len(paths) > 1:
        lbl = exec_labels[0]
        for conds, assigns in paths:
            if time.perf_counter() >= stop:
                undecided = True
                break
            actions[lbl], _ = enc.step(replace(program, body=tuple(assigns)), obs64[lbl], state_in[lbl], program.pid_slots)
            guard = [enc.cond_of(c) if holds else Z.Not(enc.cond_of(c)) for c, holds in conds]
            answer, model = check([*guard, enc.scond(when, var), Z.Not(enc.scond(require, var))])
            if answer == "sat":
                break
            undecided = undecided or answer != "unsat"
    else:
        answer, model = check([enc.scond(when, var), Z.Not(enc.scond(require, var))])
        undecided = answer != "unsat" and answer != "sat"
    elapsed = time.perf_counter() - start
    if model is None and not undecided:
        return FPOutcome("unsat", solver, elapsed)
    if model is None:
        reason = f"timeout after {timeout_s:g} s" if elapsed >= timeout_s * 0.95 else f"{solver} answered unknown"
        return FPOutcome("unknown", solver, elapsed, reason=reason)

    def value(x: Z3Expr) -> float:
        q = model.eval(Z.fpToReal(x), model_completion=True).as_fraction()
        return float(Fraction(q.numerator, q.denominator))

    obs = {lbl: {n: value(x) for n, x in raw[lbl].items()} for lbl in obs_labels}
    return FPOutcome("sat", solver, elapsed, obs, tuple(value(x) for x in init))
