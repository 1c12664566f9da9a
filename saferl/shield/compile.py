"""Compile a spec (bound to a fallback program) into plain Python run-time checks.

No solver and no AST walking at run time: every property the shield can monitor becomes
one straight-line ``if when and not require: return k`` in a generated function, the
same approach as :func:`saferl.policy.evaluate.compile_program`.  Semantics match
:func:`saferl.spec.evaluate.eval_sexpr` as the verifier's replay uses it: observations are
the float32 values the environment gives (exact Python floats), constants are float64,
arithmetic is float64, discrete actions compare as numbers.

Names in the generated code: observation ``i`` at lag ``k`` is ``o{i}`` (k = 0) or
``o{i}_{k}``; likewise ``a{j}`` for actions and ``s{m}`` for the fallback program's state
variables (``pid0.integral`` …); labels become constants.  History entries are
``(observations, actions, state)`` tuples, newest last.

Which properties are monitored:

* ``invariant`` and ``bounds``: always (one observation, one action);
* ``smoothness`` with history (``x[t-k]``): from the step on which every referenced past
  step exists in the current episode (before that, the property has nothing to compare);
* ``smoothness`` over two runs (``x'``): not monitorable on one trajectory (it relates the
  policy's answers to two different inputs); listed in :attr:`CompiledChecks.unmonitored`.

For continuous actions the compiler also extracts, where a ``require`` is a conjunction
of comparisons linear in the action (``force <= 1``, ``abs(a[t] - a[t-1]) <= 0.63`` …),
the interval of values the property allows, so the shield can *project* a rejected
action into it (clamp).  Anything else is left to the fallback; a projection is always
re-checked against every property before it is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from saferl.policy.ast import (
    Assign,
    BoolConst,
    BoolOp,
    Compare,
    Cond,
    Expr,
    Label,
    Not,
    Program,
    Stmt,
)
from saferl.policy.evaluate import expr_source as policy_expr_source
from saferl.spec.bind import Binding, property_condition
from saferl.spec.expr import (
    SBin,
    SBool,
    SCall,
    SCmp,
    SConst,
    SExpr,
    SNeg,
    SNot,
    SNum,
    SVar,
    variables,
)
from saferl.spec.load import Property, Spec

__all__ = [
    "CompiledChecks", "MonitoredProperty", "compile_checks", "expr_source", "bound_lines", "inline_fallback",
    "program_expr_source",
]

HistoryEntry = tuple[Sequence[float], Sequence[float], Sequence[float]]
CheckFn = Callable[[Sequence[float], Sequence[float], Sequence[HistoryEntry], Sequence[float]], int]
IntervalFn = Callable[
    [Sequence[float], Sequence[float], Sequence[HistoryEntry], Sequence[float]], tuple[tuple[float, float], ...]
]

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class MonitoredProperty:
    """One property as the shield checks it: generated condition sources and its lag."""

    id: str
    kind: str
    lag: int
    when_src: str
    require_src: str
    uses_state: bool
    bounds: tuple[tuple[int, str, str, bool], ...] = ()
    """Projection bounds, ``(action index, "lo" | "hi", value source, strict)``, in the
    order the ``intervals`` function applies them (empty when none is extractable)."""


@dataclass(frozen=True)
class CompiledChecks:
    """The compiled run-time checks of a spec.

    ``check(o, a, h, s)`` returns 0 when the actions ``a`` satisfy every monitored
    property at observations ``o`` (history ``h``, fallback state ``s``), else 1 + the
    index of the first violated property.  ``intervals(o, a, h, s)`` gives, per action,
    the (low, high) interval the projectable properties allow (``None`` when no action is
    continuous).  ``source`` is the generated code, for review.
    """

    monitored: tuple[MonitoredProperty, ...]
    unmonitored: tuple[tuple[str, str], ...]
    window: int
    uses_state: bool
    check: CheckFn
    intervals: IntervalFn | None
    source: str

    @property
    def ids(self) -> tuple[str, ...]:
        """Ids of the monitored properties, in spec order."""
        return tuple(p.id for p in self.monitored)


class _Names:
    def __init__(self, binding: Binding):
        program = binding.program
        self.binding = binding
        self.obs = {n: i for i, n in enumerate(program.obs_names)}
        self.act = {n: i for i, n in enumerate(program.action_names)}
        self.state = {n: i for i, n in enumerate(program.state_names)}

    def code(self, v: SVar) -> str:
        kind = self.binding.kind_of(v.name)
        if kind == "label":
            return repr(float(self.binding.label_value(v.name, None, v.loc)))
        prefix, index = {
            "obs": ("o", self.obs),
            "action": ("a", self.act),
            "state": ("s", self.state),
        }[kind]
        base = f"{prefix}{index[v.name]}"
        return base if v.lag == 0 else f"{base}_{v.lag}"

    def preamble(self, names: set[str], pad: str) -> list[str]:
        """Lines binding the generated names used to the inputs."""
        lines = []
        for name in sorted(names):
            head, _, lag = name.partition("_")
            slot = {"o": 0, "a": 1, "s": 2}[head[0]]
            idx = head[1:]
            if not lag:
                lines.append(f"{pad}{name} = {'oas'[slot]}[{idx}]")
            else:
                lines.append(f"{pad}{name} = h[-{lag}][{slot}][{idx}]")
        return lines


def _num(value: float) -> str:
    if math.isnan(value):
        return "_NAN"
    if math.isinf(value):
        return "_INF" if value > 0 else "(-_INF)"
    return repr(float(value))


def expr_source(e: SExpr, name_of: Callable[[SVar], str]) -> str:
    """Python source of a spec expression (float64 arithmetic, as eval_sexpr does)."""
    if isinstance(e, SNum):
        return _num(e.value)
    if isinstance(e, SVar):
        return name_of(e)
    if isinstance(e, SNeg):
        return f"(-{expr_source(e.operand, name_of)})"
    if isinstance(e, SBin):
        return f"({expr_source(e.left, name_of)} {e.op} {expr_source(e.right, name_of)})"
    if isinstance(e, SCall):
        args = [expr_source(a, name_of) for a in e.args]
        if e.func == "abs":
            return f"abs({args[0]})"
        acc = args[0]
        for a in args[1:]:
            acc = f"{e.func}({acc}, {a})"
        return acc
    if isinstance(e, SCmp):
        return f"({expr_source(e.left, name_of)} {e.op} {expr_source(e.right, name_of)})"
    if isinstance(e, SBool):
        return "(" + f" {e.op} ".join(expr_source(o, name_of) for o in e.operands) + ")"
    if isinstance(e, SNot):
        return f"(not {expr_source(e.operand, name_of)})"
    if isinstance(e, SConst):
        return "True" if e.value else "False"
    raise TypeError(f"not a spec expression: {e!r}")


# -- projection: intervals of one continuous action -----------------------------------

def _is_target(e: SExpr, target: str) -> bool:
    return isinstance(e, SVar) and e.name == target and e.lag == 0 and e.copy == 0


def _mentions(e: SExpr, target: str) -> bool:
    return any(v.name == target and v.lag == 0 and v.copy == 0 for v in variables(e))


def _linear(e: SExpr, target: str) -> tuple[float, SExpr] | None:
    """``e`` as ``coef * target + rest`` (rest free of target), or None if not linear."""
    if not _mentions(e, target):
        return 0.0, e
    if _is_target(e, target):
        return 1.0, SNum(0.0)
    if isinstance(e, SNeg):
        inner = _linear(e.operand, target)
        return None if inner is None else (-inner[0], SNeg(inner[1]))
    if isinstance(e, SBin):
        left, right = _linear(e.left, target), _linear(e.right, target)
        if left is None or right is None:
            return None
        if e.op in "+-":
            coef = left[0] + right[0] if e.op == "+" else left[0] - right[0]
            return coef, SBin(e.op, left[1], right[1])
        if e.op == "*":
            if right[0] == 0 and isinstance(e.right, SNum):
                return left[0] * e.right.value, SBin("*", left[1], e.right)
            if left[0] == 0 and isinstance(e.left, SNum):
                return right[0] * e.left.value, SBin("*", e.left, right[1])
            return None
        if e.op == "/" and isinstance(e.right, SNum) and e.right.value != 0:
            return left[0] / e.right.value, SBin("/", left[1], e.right)
    return None


Bound = tuple[str, str, bool]  # ("lo" | "hi", expression source, strict)


def _conjuncts(e: SExpr) -> list[SExpr]:
    if isinstance(e, SBool) and e.op == "and":
        return [c for o in e.operands for c in _conjuncts(o)]
    return [e]


def _solve(coef: float, rest: SExpr, op: str, name_of: Callable[[SVar], str]) -> list[Bound]:
    """Bounds on T from ``coef * T + rest op 0``."""
    value = f"(-{expr_source(rest, name_of)})" if coef == 1.0 else f"((-{expr_source(rest, name_of)}) / {coef!r})"
    if coef < 0:
        op = _FLIP[op]
    if op == "==":
        return [("lo", value, False), ("hi", value, False)]
    if op in ("<", "<="):
        return [("hi", value, op == "<")]
    if op in (">", ">="):
        return [("lo", value, op == ">")]
    return []


def _bounds(require: SExpr, target: str, name_of: Callable[[SVar], str]) -> list[Bound] | None:
    """The interval constraints ``require`` puts on ``target``; None if not extractable."""
    out: list[Bound] = []
    for c in _conjuncts(require):
        if not _mentions(c, target):
            continue
        if not isinstance(c, SCmp):
            return None
        left, right, op = c.left, c.right, c.op
        if isinstance(right, SCall) and right.func == "abs" and not isinstance(left, SCall):
            left, right, op = right, left, _FLIP[op]
        if isinstance(left, SCall) and left.func == "abs":
            if op not in ("<", "<=") or _mentions(right, target):
                return None
            lin = _linear(left.args[0], target)
            if lin is None or lin[0] == 0:
                return None
            coef, rest = lin
            # -R <= coef*T + rest <= R
            out += _solve(coef, SBin("-", rest, right), op, name_of)
            out += _solve(-coef, SBin("-", SNeg(rest), right), op, name_of)
            continue
        lin = _linear(SBin("-", left, right), target)
        if lin is None:
            return None
        if lin[0] != 0:
            out += _solve(lin[0], lin[1], op, name_of)
    return out


# -- the compiler -------------------------------------------------------------------

def _property_lag(prop: Property) -> int:
    exprs = [e for e in (prop.when, prop.require) if e is not None]
    return max((v.lag for e in exprs for v in variables(e)), default=0)


def compile_checks(spec: Spec, binding: Binding, continuous: Sequence[bool] | None = None) -> CompiledChecks:
    """Compile every monitorable property of ``spec`` (bound to ``binding``).

    ``continuous`` says per action (declaration order) whether it is continuous; by
    default it follows the program's declarations.  Interval extraction is done for the
    continuous ones.
    """
    program = binding.program
    names = _Names(binding)
    kinds = continuous if continuous is not None else [a.kind == "continuous" for a in program.actions]
    monitored: list[MonitoredProperty] = []
    unmonitored: list[tuple[str, str]] = []
    conds: list[tuple[Property, SExpr, SExpr, int]] = []
    for prop in spec.properties:
        if prop.kind == "smoothness" and prop.mode == "two-run":
            unmonitored.append((prop.id, "two-run smoothness relates two different inputs; not checkable on one trajectory"))
            continue
        when, require = property_condition(prop, binding)
        lag = _property_lag(prop)
        uses_state = any(binding.kind_of(v.name) == "state" for e in (when, require) for v in variables(e))
        bounds: list[tuple[int, str, str, bool]] = []
        for j, action in enumerate(program.action_names):
            if kinds[j]:
                bounds += [(j, side, value, strict) for side, value, strict in _bounds(require, action, names.code) or ()]
        monitored.append(
            MonitoredProperty(prop.id, prop.kind, lag, expr_source(when, names.code), expr_source(require, names.code),
                              uses_state, tuple(bounds))
        )
        conds.append((prop, when, require, lag))

    lines = ["def check(o, a, h, s):", "    n = len(h)"]
    now: set[str] = set()
    blocks: list[list[str]] = []
    for k, (m, (_, when, require, lag)) in enumerate(zip(monitored, conds, strict=True)):
        used = {names.code(v) for e in (when, require) for v in variables(e) if binding.kind_of(v.name) != "label"}
        now |= {u for u in used if "_" not in u}
        past = {u for u in used if "_" in u}
        test = f"if {m.when_src} and not {m.require_src}:"
        if lag:
            block = [f"    if n >= {lag}:"] + names.preamble(past, "        ") + [f"        {test}", f"            return {k + 1}"]
        else:
            block = [f"    {test}", f"        return {k + 1}"]
        blocks.append(block)
    lines += names.preamble(now, "    ")
    for b in blocks:
        lines += b
    lines.append("    return 0")
    check_src = "\n".join(lines) + "\n"

    interval_src = ""
    if any(kinds):
        interval_src = _interval_source(conds, monitored, names, binding, kinds)
    source = check_src + ("\n" + interval_src if interval_src else "")
    namespace: dict[str, Any] = {}
    env = {"__builtins__": {"min": min, "max": max, "abs": abs, "len": len}, "_INF": math.inf, "_NAN": math.nan,
           "_below": lambda x: math.nextafter(x, -math.inf), "_above": lambda x: math.nextafter(x, math.inf)}
    exec(compile(source, f"<shield:{spec.name}>", "exec"), env, namespace)
    window = max((m.lag for m in monitored), default=0)
    return CompiledChecks(
        monitored=tuple(monitored),
        unmonitored=tuple(unmonitored),
        window=window,
        uses_state=any(m.uses_state for m in monitored),
        check=namespace["check"],
        intervals=namespace.get("intervals"),
        source=source,
    )


def _interval_source(
    conds: list[tuple[Property, SExpr, SExpr, int]],
    monitored: list[MonitoredProperty],
    names: _Names,
    binding: Binding,
    kinds: Sequence[bool],
) -> str:
    program = binding.program
    lines = ["def intervals(o, a, h, s):", "    n = len(h)"]
    body: list[str] = []
    now: set[str] = set()
    for j in range(len(program.action_names)):
        body.append(f"    lo{j} = -_INF")
        body.append(f"    hi{j} = _INF")
        if not kinds[j]:
            continue
        for (_, when, require, lag), m in zip(conds, monitored, strict=True):
            bounds = [(side, value, strict) for k, side, value, strict in m.bounds if k == j]
            if not bounds:
                continue
            used = {names.code(v) for e in (when, require) for v in variables(e) if binding.kind_of(v.name) != "label"}
            now |= {u for u in used if "_" not in u}
            past = {u for u in used if "_" in u}
            pad = "    "
            if lag:
                body.append(f"    if n >= {lag}:")
                pad = "        "
                body += names.preamble(past, pad)
            body.append(f"{pad}if {m.when_src}:")
            body += bound_lines(j, bounds, pad + "    ")
    lines += names.preamble(now, "    ")
    lines += body
    outs = ", ".join(f"(lo{j}, hi{j})" for j in range(len(program.action_names)))
    lines.append(f"    return ({outs},)")
    return "\n".join(lines) + "\n"


def bound_lines(j: int, bounds: Sequence[tuple[str, str, bool]], pad: str) -> list[str]:
    """Lines narrowing ``lo{j}`` / ``hi{j}`` by one property's projection bounds (a strict
    bound moves one float inward: ``_above`` / ``_below``)."""
    out = []
    for side, value, strict in bounds:
        if side == "lo":
            out.append(f"{pad}lo{j} = max(lo{j}, {'_above(' + value + ')' if strict else value})")
        else:
            out.append(f"{pad}hi{j} = min(hi{j}, {'_below(' + value + ')' if strict else value})")
    return out


# -- the fallback in line ------------------------------------------------------------

def program_expr_source(e: Expr, index: Mapping[str, int]) -> str:
    """Python source of a stateless .pol expression, observation ``i`` read from ``o{i}``:
    the text :func:`saferl.policy.evaluate.compile_program` generates for it."""
    return policy_expr_source(e, index)


def inline_fallback(program: Program, target: str, pad: str) -> list[str] | None:
    """Lines computing a stateless one-action discrete program into ``target`` (an int),
    reading observation ``i`` from ``o{i}``; None when the program has state or more than
    one action.  Same semantics as :func:`saferl.policy.evaluate.compile_program` (float64
    arithmetic on the cast observations); only used by the shield's fast path."""
    if program.state_names or len(program.actions) != 1 or program.actions[0].kind != "discrete":
        return None
    index = {name: i for i, name in enumerate(program.obs_names)}
    lines: list[str] = []

    def expr(e: Expr) -> str:
        return program_expr_source(e, index)

    def cond(c: Cond) -> str:
        if isinstance(c, Compare):
            return f"({expr(c.left)} {c.op} {expr(c.right)})"
        if isinstance(c, BoolOp):
            return "(" + f" {c.op} ".join(cond(o) for o in c.operands) + ")"
        if isinstance(c, Not):
            return f"(not {cond(c.operand)})"
        if isinstance(c, BoolConst):
            return "True" if c.value else "False"
        raise TypeError(f"not a condition: {c!r}")

    def block(body: tuple[Stmt, ...], depth: int) -> None:
        p = pad + "    " * depth
        for stmt in body:
            if isinstance(stmt, Assign):
                value = stmt.value
                # a label is an exact small int; anything else is truncated as ProgramPolicy does
                text = repr(value.value) if isinstance(value, Label) else f"int({expr(value)})"
                lines.append(f"{p}{target} = {text}")
                continue
            for k, (c, blk) in enumerate(stmt.branches):
                lines.append(f"{p}{'if' if k == 0 else 'elif'} {cond(c)}:")
                block(blk, depth + 1)
                if not blk:
                    lines.append(f"{p}    pass")
            if stmt.orelse:
                lines.append(f"{p}else:")
                block(stmt.orelse, depth + 1)

    block(program.body, 0)
    return lines
