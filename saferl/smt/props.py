"""Encode a spec property over a program: the negation of the property as one formula.

A property becomes a *frame*: the steps it talks about (``t`` for one observation;
``t-W … t`` for a history window; ``a`` and ``b`` for two runs), a free observation symbol
per step and observation, the PID state entering the oldest executed step (free within the
spec's declared ranges), and the program's actions at each executed step.  The formula is
``domains ∧ gaps ∧ roundings ∧ ((when ∧ ¬require) ∨ some operation overflows)``: unsat
means the property holds for every float64 execution (see :mod:`saferl.smt.rounding`).

Observations and state the spec gives no range are still finite: a float32 observation
lies within ±3.4028234663852886e+38 and a float64 one (or a PID state) within ±DBL_MAX.
"""

from __future__ import annotations

from dataclasses import dataclass

from pysmt.fnode import FNode
from pysmt.shortcuts import FALSE, GE, LE, TRUE, And, Not, Or

from saferl.policy.ast import Program
from saferl.smt.encode import (
    ProgramEncoder,
    call_value,
    gap_term,
    negate,
    real,
    value_compare,
)
from saferl.smt.floats import snapped_range
from saferl.smt.frame import Frame, frame_labels, step_label
from saferl.smt.rounding import DBL_MAX, Arith, Value
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
)
from saferl.spec.load import Property, Spec

__all__ = [
    "Frame", "ProgramFrame", "encode_conditions", "encode_program_frame", "encode_property", "frame_domains",
    "frame_labels", "step_label",
]


@dataclass
class ProgramFrame:
    """The program's part of a frame, encoded once and shared by every property that has
    the same frame (same mode and steps): symbols, domain constraints, actions per step."""

    frame: Frame
    encoder: ProgramEncoder
    constraints: list[FNode]
    program_overflows: int


def frame_domains(
    mode: str, exec_labels: list[str], obs_labels: list[str], spec: Spec, program: Program,
    encoder: ProgramEncoder,
) -> tuple[Frame, list[FNode], dict[FNode, tuple[float, float]]]:
    """The symbols of one frame and their domain constraints, the program not yet encoded:
    (frame, constraints, the closed range of each constrained symbol — float32
    observations' ranges snapped to float32)."""
    frame = Frame(mode, list(exec_labels), list(obs_labels))
    constraints: list[FNode] = []
    ranges: dict[FNode, tuple[float, float]] = {}
    for lbl in obs_labels:
        frame.obs[lbl] = {}
        for decl in program.observations:
            x = ProgramEncoder.obs_symbol(decl.name, lbl)
            frame.obs[lbl][decl.name] = x
            if decl.name not in spec.domains and not encoder.rounding:
                continue  # repair's search (plain reals) leaves undeclared observations free
            lo, hi = snapped_range(*spec.domains.get(decl.name, (-DBL_MAX, DBL_MAX)), decl.dtype)
            ranges[x] = (lo, hi)
            if lo > hi:
                constraints.append(FALSE())
            else:
                constraints += [GE(x, real(lo)), LE(x, real(hi))]
                encoder.arith.bound(x, lo, hi)
    init_label = "s" if mode == "two-run" else exec_labels[0]
    init = ProgramEncoder.state_symbols(program, init_label)
    frame.initial_state = init
    frame.initial_state_label = init_label
    for name, sym in zip(program.state_names, init, strict=True):
        if name not in spec.state and not encoder.rounding:
            continue
        lo, hi = spec.state.get(name, (-DBL_MAX, DBL_MAX))
        lo, hi = max(lo, -DBL_MAX), min(hi, DBL_MAX)
        constraints += [GE(sym, real(lo)), LE(sym, real(hi))]
        encoder.arith.bound(sym, lo, hi)
        ranges[sym] = (lo, hi)
    return frame, constraints, ranges


def encode_program_frame(
    mode: str, exec_labels: list[str], obs_labels: list[str], spec: Spec, program: Program,
    encoder: ProgramEncoder,
) -> ProgramFrame:
    """Symbols, domains and the program's steps for one frame (no property yet)."""
    frame, constraints, _ = frame_domains(mode, exec_labels, obs_labels, spec, program, encoder)
    init = frame.initial_state
    state: tuple[Value, ...] = init
    for lbl in exec_labels:
        frame.state_in[lbl] = init if mode == "two-run" else state  # type: ignore[assignment]
        acts, nxt = encoder.step_values(frame.obs[lbl], frame.state_in[lbl])
        frame.actions[lbl] = acts  # type: ignore[assignment]
        if mode != "two-run":
            state = nxt
    return ProgramFrame(frame, encoder, constraints, len(encoder.arith.overflows))


def encode_property(
    prop: Property, spec: Spec, binding: Binding, encoder: ProgramEncoder,
    frames: dict[tuple[str, tuple[str, ...]], ProgramFrame] | None = None, *,
    overflow: bool = True,
) -> tuple[FNode, Frame]:
    """The formula whose models are violations of ``prop``, and its frame.

    With ``frames`` (a dict the caller keeps across the properties of one spec and one
    program), the program is encoded once per frame and shared; ``encoder`` is then used
    only for the first property of each frame.  ``overflow=False`` leaves out the ways
    to fail by overflow (its unsat then proves nothing on its own; verify uses it to look
    for a finite counterexample)."""
    program = binding.program
    mode, exec_labels, obs_labels = frame_labels(prop, binding)
    key = (mode, tuple(exec_labels))
    shared = frames.get(key) if frames is not None else None
    if shared is None:
        shared = encode_program_frame(mode, exec_labels, obs_labels, spec, program, encoder)
        if frames is not None:
            frames[key] = shared
    frame, arith = shared.frame, shared.encoder.arith
    gaps: set[tuple[FNode, float]] = set()
    first_spec_overflow = len(arith.overflows)
    w, r = encode_conditions(prop, binding, frame, arith, gaps)
    spec_gaps = (gap_term(x, d) for x, d in sorted(gaps, key=lambda g: (g[0].symbol_name(), g[1])))
    gap_terms = shared.encoder.gap_constraints() + [g for g in spec_gaps if g is not None]
    overflows = arith.overflows[: shared.program_overflows] + arith.overflows[first_spec_overflow:]
    bad = Or([And(w, Not(r)), *(overflows if overflow else [])])
    formula = And([*shared.constraints, *gap_terms, *arith.side_constraints(bad), bad])
    return formula, frame


def encode_conditions(
    prop: Property, binding: Binding, frame: Frame, arith: Arith, gaps: set[tuple[FNode, float]]
) -> tuple[FNode, FNode]:
    """The terms of ``prop``'s ``when`` and ``require`` over ``frame`` (its observations and
    the action values in ``frame.actions``); float32 thresholds are snapped and their gaps
    added to ``gaps``, roundings and overflows go to ``arith``."""
    when, require = property_condition(prop, binding)
    enc = _SpecEncoder(frame, binding, gaps, frame.mode, arith)
    return enc.cond(when), enc.cond(require)


class _SpecEncoder:
    def __init__(self, frame: Frame, binding: Binding, gaps: set[tuple[FNode, float]], mode: str, arith: Arith):
        self.frame = frame
        self.binding = binding
        self.gaps = gaps
        self.mode = mode
        self.arith = arith
        f32 = {o.name for o in binding.program.observations if o.dtype == "float32"}
        self.f32_syms = {sym for obs in frame.obs.values() for n, sym in obs.items() if n in f32}

    def var(self, v: SVar) -> Value:
        kind = self.binding.kind_of(v.name)
        if kind == "label":
            return real(self.binding.label_value(v.name, None, v.loc))
        lbl = step_label(v.lag, v.copy, self.mode)
        if kind == "obs":
            return self.frame.obs[lbl][v.name]
        if kind == "action":
            return self.frame.actions[lbl][v.name]
        idx = self.binding.program.state_names.index(v.name)
        return self.frame.state_in[lbl][idx]

    def expr(self, e: SExpr) -> Value:
        if isinstance(e, SNum):
            return float(e.value)
        if isinstance(e, SVar):
            if self.binding.kind_of(e.name) == "label":
                return self.binding.label_value(e.name, None, e.loc)
            return self.var(e)
        if isinstance(e, SNeg):
            return negate(self.expr(e.operand), self.arith)
        if isinstance(e, SBin):
            a = self.expr(e.left)
            if e.op == "/" and not isinstance(e.right, SNum):
                raise TypeError("division by a non-constant")
            return self.arith.binop(e.op, a, self.expr(e.right))
        if isinstance(e, SCall):
            return call_value(e.func, [self.expr(a) for a in e.args], self.arith)
        raise TypeError(f"not an arithmetic expression: {e!r}")

    def cond(self, e: SExpr) -> FNode:
        if isinstance(e, SCmp):
            m = self.arith.materialize
            return value_compare(e.op, m(self.expr(e.left)), m(self.expr(e.right)), self.f32_syms, self.gaps)
        if isinstance(e, SBool):
            parts = [self.cond(o) for o in e.operands]
            return And(parts) if e.op == "and" else Or(parts)
        if isinstance(e, SNot):
            return Not(self.cond(e.operand))
        if isinstance(e, SConst):
            return TRUE() if e.value else FALSE()
        raise TypeError(f"not a condition: {e!r}")
