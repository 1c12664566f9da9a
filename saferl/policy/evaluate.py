"""Concrete evaluation of .pol programs, faithful to what a deployed runtime computes.

Observations declared ``float32`` are rounded to float32 first (as the environment gives
them); every comparison then compares the exact float32 value with the float64 constant,
and arithmetic is float64.  This is the semantics the SMT encoder models.

Two evaluators share these semantics: :func:`interpret` walks the AST and records the
statements it executes (the reference, used to replay counterexamples), and
:func:`compile_program` generates a plain Python function (used at run time by
:class:`ProgramPolicy` and the shield).  Tests keep them equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any

from saferl.errors import InputError
from saferl.policy.ast import (
    Assign,
    BinOp,
    BoolConst,
    BoolOp,
    Call,
    Compare,
    Cond,
    Expr,
    Label,
    Neg,
    Not,
    Num,
    Obs,
    Pid,
    Program,
    Stmt,
)
from saferl.record import record
from saferl.smt.floats import to_f32

__all__ = ["interpret", "Trace", "compile_program", "ProgramPolicy", "cast_observations"]

State = tuple[float, ...]


def cast_observations(program: Program, values: Sequence[float]) -> list[float]:
    """Round each observation to its declared element type; return exact Python floats."""
    out: list[float] = []
    for decl, v in zip(program.observations, values, strict=True):
        out.append(to_f32(float(v)) if decl.dtype == "float32" else float(v))
    return out


@record(frozen=False)
class Trace:
    """What one interpreted step did: the assignment lines executed, per action."""

    lines: dict[str, int] = field(default_factory=dict)


def _cmp(op: str, a: float, b: float) -> bool:
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    return a != b


class _Interp:
    def __init__(self, program: Program, obs: Mapping[str, float], state: list[float]):
        self.program = program
        self.obs = obs
        self.state = state

    def expr(self, e: Expr) -> float:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Obs):
            return self.obs[e.name]
        if isinstance(e, Label):
            return float(e.value)
        if isinstance(e, Neg):
            return -self.expr(e.operand)
        if isinstance(e, BinOp):
            a, b = self.expr(e.left), self.expr(e.right)
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "*":
                return a * b
            return a / b
        if isinstance(e, Call):
            args = [self.expr(a) for a in e.args]
            if e.func == "abs":
                return abs(args[0])
            if e.func == "min":
                return _fold(min, args)
            if e.func == "max":
                return _fold(max, args)
            return min(max(args[0], args[1]), args[2])
        if isinstance(e, Pid):
            err = e.target.value - self.expr(e.signal)
            k = self.program.pid_slots[e.site]
            if e.window is None:
                self.state[k] = self.state[k] + err
                deriv = err - self.state[k + 1]
                self.state[k + 1] = err
                return e.kp.value * err + e.ki.value * self.state[k] + e.kd.value * deriv
            # window: the sum of the last w errors, oldest first; then shift the past errors
            past = self.state[k:k + e.window - 1]
            integral = err
            if past:
                integral = past[-1]
                for x in reversed(past[:-1]):
                    integral = integral + x
                integral = integral + err
            deriv = err - self.state[k]
            self.state[k:k + e.state_size] = [err, *past][:e.state_size]
            return e.kp.value * err + e.ki.value * integral + e.kd.value * deriv
        raise TypeError(f"not an expression: {e!r}")

    def cond(self, c: Cond) -> bool:
        if isinstance(c, Compare):
            return _cmp(c.op, self.expr(c.left), self.expr(c.right))
        if isinstance(c, BoolOp):
            if c.op == "and":
                return all(self.cond(o) for o in c.operands)
            return any(self.cond(o) for o in c.operands)
        if isinstance(c, Not):
            return not self.cond(c.operand)
        if isinstance(c, BoolConst):
            return c.value
        raise TypeError(f"not a condition: {c!r}")

    def block(self, body: tuple[Stmt, ...], out: dict[str, float], trace: Trace) -> None:
        for stmt in body:
            if isinstance(stmt, Assign):
                out[stmt.target] = self.expr(stmt.value)
                trace.lines[stmt.target] = stmt.span.line
                continue
            for cond, blk in stmt.branches:
                if self.cond(cond):
                    self.block(blk, out, trace)
                    break
            else:
                self.block(stmt.orelse, out, trace)


def _fold(fn: Callable[[float, float], float], args: list[float]) -> float:
    acc = args[0]
    for a in args[1:]:
        acc = fn(acc, a)
    return acc


def interpret(
    program: Program, obs: Mapping[str, float], state: Sequence[float] | None = None
) -> tuple[dict[str, int | float], State, Trace]:
    """Evaluate one step on already-cast observations; return (actions, new state, trace).

    Discrete actions come back as ints.  ``state`` defaults to the initial state (zeros).
    """
    st = list(state) if state is not None else [0.0] * len(program.state_names)
    interp = _Interp(program, obs, st)
    raw: dict[str, float] = {}
    trace = Trace()
    interp.block(program.body, raw, trace)
    actions: dict[str, int | float] = {}
    for a in program.actions:
        v = raw[a.name]
        actions[a.name] = int(v) if a.kind == "discrete" else v
    return actions, tuple(st), trace


# -- the compiler --------------------------------------------------------------------

def expr_source(e: Expr, index: Mapping[str, int], pid: Callable[[Pid], str] | None = None) -> str:
    """Python source of a .pol expression, observation ``i`` read from ``o{i}`` (float64
    arithmetic, ``clip`` as ``min(max(…))``, ``min`` / ``max`` folded left).  A ``pid`` call
    is handed to ``pid`` (its update is stateful); without one it is an error."""
    if isinstance(e, Num):
        return repr(e.value)
    if isinstance(e, Obs):
        return f"o{index[e.name]}"
    if isinstance(e, Label):
        return repr(float(e.value))
    if isinstance(e, Neg):
        return f"(-{expr_source(e.operand, index, pid)})"
    if isinstance(e, BinOp):
        return f"({expr_source(e.left, index, pid)} {e.op} {expr_source(e.right, index, pid)})"
    if isinstance(e, Call):
        args = [expr_source(a, index, pid) for a in e.args]
        if e.func == "abs":
            return f"abs({args[0]})"
        if e.func == "clip":
            return f"min(max({args[0]}, {args[1]}), {args[2]})"
        acc = args[0]
        for a in args[1:]:
            acc = f"{e.func}({acc}, {a})"
        return acc
    if isinstance(e, Pid) and pid is not None:
        return pid(e)
    raise TypeError(f"not a stateless expression: {e!r}" if isinstance(e, Pid) else f"not an expression: {e!r}")


class _Gen:
    """Generates the source of ``def step(o, s):`` from a checked AST."""

    def __init__(self, program: Program):
        self.index = {name: i for i, name in enumerate(program.obs_names)}
        self.slots = program.pid_slots
        self.lines: list[str] = []

    def expr(self, e: Expr, pre: list[str]) -> str:
        return expr_source(e, self.index, lambda p: self.pid(p, pre))

    def pid(self, e: Pid, pre: list[str]) -> str:
        """Lines updating ``e``'s state into ``pre``; the controller's output as source."""
        k = self.slots[e.site]
        n = e.site
        sig = self.expr(e.signal, pre)
        pre.append(f"e{n} = {e.target.value!r} - {sig}")
        if e.window is None:
            pre.append(f"s[{k}] = s[{k}] + e{n}")
            pre.append(f"d{n} = e{n} - s[{k + 1}]")
            pre.append(f"s[{k + 1}] = e{n}")
            return f"({e.kp.value!r} * e{n} + {e.ki.value!r} * s[{k}] + {e.kd.value!r} * d{n})"
        # the last w errors summed oldest first (as the interpreter does), then shifted
        terms = [f"s[{k + j}]" for j in range(e.window - 2, -1, -1)] + [f"e{n}"]
        total = terms[0]
        for t in terms[1:]:
            total = f"({total} + {t})"
        pre.append(f"i{n} = {total}")
        pre.append(f"d{n} = e{n} - s[{k}]")
        for j in range(e.state_size - 1, 0, -1):
            pre.append(f"s[{k + j}] = s[{k + j - 1}]")
        pre.append(f"s[{k}] = e{n}")
        return f"({e.kp.value!r} * e{n} + {e.ki.value!r} * i{n} + {e.kd.value!r} * d{n})"

    def cond(self, c: Cond, pre: list[str]) -> str:
        if isinstance(c, Compare):
            return f"({self.expr(c.left, pre)} {c.op} {self.expr(c.right, pre)})"
        if isinstance(c, BoolOp):
            return "(" + f" {c.op} ".join(self.cond(o, pre) for o in c.operands) + ")"
        if isinstance(c, Not):
            return f"(not {self.cond(c.operand, pre)})"
        if isinstance(c, BoolConst):
            return "True" if c.value else "False"
        raise TypeError(f"not a condition: {c!r}")

    def block(self, body: tuple[Stmt, ...], indent: int, slot: Mapping[str, int]) -> None:
        pad = "    " * indent
        for stmt in body:
            if isinstance(stmt, Assign):
                pre: list[str] = []
                value = self.expr(stmt.value, pre)
                self.lines += [pad + p for p in pre]
                self.lines.append(f"{pad}a{slot[stmt.target]} = {value}")
                continue
            for k, (cond, blk) in enumerate(stmt.branches):
                pre = []
                text = self.cond(cond, pre)
                if pre:  # conditions never contain pid (checked), kept for safety
                    raise TypeError("pid inside a condition")
                self.lines.append(f"{pad}{'if' if k == 0 else 'elif'} {text}:")
                self.block(blk, indent + 1, slot)
            if stmt.orelse:
                self.lines.append(f"{pad}else:")
                self.block(stmt.orelse, indent + 1, slot)


def compile_program(program: Program) -> Callable[..., tuple[Any, ...]]:
    """Compile to ``step(o0, …, on, s) -> (a0, …)``: cast observations in, state list ``s``
    updated in place, actions out (discrete ones as floats; callers convert)."""
    gen = _Gen(program)
    slot = {name: i for i, name in enumerate(program.action_names)}
    params = ", ".join([f"o{i}" for i in range(len(program.observations))] + ["s"])
    gen.block(program.body, 1, slot)
    outs = ", ".join(f"a{i}" for i in range(len(slot)))
    src = f"def step({params}):\n" + "\n".join(gen.lines or ["    pass"]) + f"\n    return ({outs},)\n"
    namespace: dict[str, Any] = {}
    exec(compile(src, f"<pol:{program.name}>", "exec"), {"__builtins__": {"min": min, "max": max, "abs": abs}}, namespace)
    fn: Callable[..., tuple[Any, ...]] = namespace["step"]
    fn.__doc__ = src
    return fn


class ProgramPolicy:
    """A compiled .pol program that acts like any other policy: ``act(obs) -> action``.

    Observations map to declarations by position (the environment's order).  With one
    action, ``act`` returns it as a scalar (an int for discrete); with several, a numpy
    array in declaration order.  PID state persists between calls until :meth:`reset`.
    """

    def __init__(self, program: Program):
        self.program = program
        self._step = compile_program(program)
        self._all_f32 = all(o.dtype == "float32" for o in program.observations)
        self._discrete = tuple(a.kind == "discrete" for a in program.actions)
        self._state = [0.0] * len(program.state_names)
        self.n_obs = len(program.observations)

    def reset(self) -> None:
        """Return the PID state to its initial value (zeros)."""
        self._state = [0.0] * len(self._state)

    @property
    def state(self) -> State:
        return tuple(self._state)

    def _cast(self, obs: Any) -> list[float]:
        import numpy as np  # imported on first use: the verify path never needs it

        arr = np.asarray(obs)
        if arr.shape != (self.n_obs,):
            raise InputError(
                f"policy {self.program.name!r} expects {self.n_obs} observations, got shape {arr.shape}"
            )
        if self._all_f32:
            return arr.astype(np.float32).tolist()  # type: ignore[no-any-return]
        return cast_observations(self.program, arr.tolist())

    def act_raw(self, obs: Any) -> tuple[float, ...]:
        """All actions as floats, in declaration order."""
        return self._step(*self._cast(obs), self._state)

    def act(self, obs: Any) -> Any:
        """The action for one observation vector (advances PID state)."""
        out = self._step(*self._cast(obs), self._state)
        if len(out) == 1:
            return int(out[0]) if self._discrete[0] else out[0]
        import numpy as np

        return np.array(out)

    def act_dict(self, obs: Mapping[str, float]) -> dict[str, int | float]:
        """Actions by name, for observations by name (missing names are an error)."""
        try:
            vec = [obs[name] for name in self.program.obs_names]
        except KeyError as exc:
            raise InputError(f"observation {exc.args[0]!r} is missing") from None
        out = self._step(*cast_observations(self.program, vec), self._state)
        return {
            a.name: (int(v) if a.kind == "discrete" else v)
            for a, v in zip(self.program.actions, out, strict=True)
        }
