"""Encode a spec property over a program: the negation of the property as one formula.

A property becomes a *frame*: the steps it talks about (``t`` for one observation;
``t-W … t`` for a history window; ``a`` and ``b`` for two runs), a free observation symbol
per step and observation, the PID state entering the oldest executed step (free within the
spec's declared ranges), and the program's actions at each executed step.  The formula is
``domains ∧ gaps ∧ when ∧ ¬require``: unsat means the property holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pysmt.fnode import FNode
from pysmt.shortcuts import FALSE, GE, LE, TRUE, And, Minus, Not, Or, Plus, Times

from saferl.smt.encode import (
    MIRROR,
    ProgramEncoder,
    compare,
    real,
    snap_compare,
    term_abs,
    term_max,
    term_min,
)
from saferl.smt.floats import f32_down, f32_succ, f32_up
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

__all__ = ["Frame", "encode_property", "step_label"]


def step_label(lag: int, copy: int, mode: str) -> str:
    """The name of a step: ``t``, ``t-3``, or ``a``/``b`` for two runs."""
    if mode == "two-run":
        return "ab"[copy]
    return "t" if lag == 0 else f"t-{lag}"


@dataclass
class Frame:
    """The symbols and terms of one property's encoding, for decoding and replay."""

    mode: str
    exec_labels: list[str]  # steps the program runs at, oldest first
    obs_labels: list[str]  # steps with observations, oldest first
    obs: dict[str, dict[str, FNode]] = field(default_factory=dict)
    state_in: dict[str, tuple[FNode, ...]] = field(default_factory=dict)
    actions: dict[str, dict[str, FNode]] = field(default_factory=dict)
    initial_state: tuple[FNode, ...] = ()
    initial_state_label: str = ""

    def free_symbols(self) -> list[FNode]:
        syms = [s for lbl in self.obs_labels for s in self.obs[lbl].values()]
        return syms + list(self.initial_state)


def _max_lag(prop: Property, binding: Binding, kinds: tuple[str, ...]) -> int:
    exprs = [e for e in (prop.when, prop.require) if e is not None]
    lags = [v.lag for e in exprs for v in variables(e) if binding.kind_of(v.name) in kinds]
    return max(lags, default=0)


def encode_property(
    prop: Property, spec: Spec, binding: Binding, encoder: ProgramEncoder
) -> tuple[FNode, Frame]:
    """The formula whose models are violations of ``prop``, and its frame."""
    program = binding.program
    mode = prop.mode if prop.kind == "smoothness" else "single"
    if mode == "two-run":
        exec_labels = ["a", "b"]
        obs_labels = ["a", "b"]
    else:
        # The program runs at every step of the window, from a free state at its oldest
        # step: PID state then links the steps as it does at run time (and the free start
        # state over-approximates every reachable one).
        window = max(prop.window, _max_lag(prop, binding, ("obs", "action", "state")))
        obs_labels = [step_label(k, 0, mode) for k in range(window, -1, -1)]
        exec_labels = list(obs_labels)
    frame = Frame(mode, exec_labels, obs_labels)
    constraints: list[FNode] = []
    for lbl in obs_labels:
        frame.obs[lbl] = {}
        for decl in program.observations:
            x = ProgramEncoder.obs_symbol(decl.name, lbl)
            frame.obs[lbl][decl.name] = x
            if decl.name in spec.domains:
                lo, hi = spec.domains[decl.name]
                if decl.dtype == "float32":
                    lo, hi = f32_up(lo), f32_down(hi)
                if lo > hi:
                    constraints.append(FALSE())
                else:
                    constraints += [GE(x, real(lo)), LE(x, real(hi))]
    init_label = "s" if mode == "two-run" else exec_labels[0]
    init = ProgramEncoder.state_symbols(program, init_label)
    frame.initial_state = init
    frame.initial_state_label = init_label
    for name, sym in zip(program.state_names, init, strict=True):
        if name in spec.state:
            lo, hi = spec.state[name]
            constraints += [GE(sym, real(lo)), LE(sym, real(hi))]
    state = init
    for lbl in exec_labels:
        frame.state_in[lbl] = init if mode == "two-run" else state
        acts, nxt = encoder.step(frame.obs[lbl], frame.state_in[lbl])
        frame.actions[lbl] = acts
        if mode != "two-run":
            state = nxt
    when, require = property_condition(prop, binding)
    gaps: set[tuple[FNode, float]] = set()
    enc = _SpecEncoder(frame, binding, gaps, mode)
    w, r = enc.cond(when), enc.cond(require)
    gap_terms = encoder.gap_constraints() + [
        Or(LE(x, real(d)), GE(x, real(f32_succ(d)))) for x, d in sorted(gaps, key=str)
    ]
    formula = And([*constraints, *gap_terms, w, Not(r)])
    return formula, frame


class _SpecEncoder:
    def __init__(self, frame: Frame, binding: Binding, gaps: set[tuple[FNode, float]], mode: str):
        self.frame = frame
        self.binding = binding
        self.gaps = gaps
        self.mode = mode
        self.f32 = {o.name: o.dtype == "float32" for o in binding.program.observations}

    def var(self, v: SVar) -> FNode:
        kind = self.binding.kind_of(v.name)
        if kind == "label":
            return real(self.binding.labels[v.name])
        lbl = step_label(v.lag, v.copy, self.mode)
        if kind == "obs":
            return self.frame.obs[lbl][v.name]
        if kind == "action":
            return self.frame.actions[lbl][v.name]
        idx = self.binding.program.state_names.index(v.name)
        return self.frame.state_in[lbl][idx]

    def expr(self, e: SExpr) -> FNode:
        if isinstance(e, SNum):
            return real(e.value)
        if isinstance(e, SVar):
            return self.var(e)
        if isinstance(e, SNeg):
            return Minus(real(0), self.expr(e.operand))
        if isinstance(e, SBin):
            a = self.expr(e.left)
            if e.op == "/":
                if not isinstance(e.right, SNum):
                    raise TypeError("division by a non-constant")
                from fractions import Fraction

                return Times(a, real(1 / Fraction(e.right.value)))
            b = self.expr(e.right)
            return Plus(a, b) if e.op == "+" else Minus(a, b) if e.op == "-" else Times(a, b)
        if isinstance(e, SCall):
            args = [self.expr(a) for a in e.args]
            if e.func == "abs":
                return term_abs(args[0])
            acc = args[0]
            for a in args[1:]:
                acc = term_min(acc, a) if e.func == "min" else term_max(acc, a)
            return acc
        raise TypeError(f"not an arithmetic expression: {e!r}")

    def cond(self, e: SExpr) -> FNode:
        if isinstance(e, SCmp):
            left, right, op = e.left, e.right, e.op
            if isinstance(left, SNum) and isinstance(right, SVar):
                left, right, op = right, left, MIRROR[op]
            if (
                isinstance(left, SVar)
                and isinstance(right, SNum)
                and self.binding.kind_of(left.name) == "obs"
                and self.f32[left.name]
            ):
                return snap_compare(op, self.var(left), right.value, self.gaps)
            if isinstance(right, SNum) and right.value in (float("inf"), float("-inf")):
                inf_ok = (op in ("<", "<=", "!=")) == (right.value > 0)
                return TRUE() if inf_ok else FALSE()
            return compare(op, self.expr(left), self.expr(right))
        if isinstance(e, SBool):
            parts = [self.cond(o) for o in e.operands]
            return And(parts) if e.op == "and" else Or(parts)
        if isinstance(e, SNot):
            return Not(self.cond(e.operand))
        if isinstance(e, SConst):
            return TRUE() if e.value else FALSE()
        raise TypeError(f"not a condition: {e!r}")
