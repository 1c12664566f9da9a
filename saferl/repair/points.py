"""Counterexample points and the constraints they put on a program's parameters.

A :class:`Point` is a concrete violation found by the verifier (observations per step and
the PID state entering the oldest step).  Every repair must make the property hold at
every point found so far, whatever the program's shape, so points outlive the candidate
that produced them.  :func:`find_points` returns the verifier's counterexample plus the
extreme points of the same violation (each coordinate pushed to its minimum and maximum),
which tighten the constraints far faster than one point per round.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pysmt.fnode import FNode
from pysmt.shortcuts import FALSE, TRUE, And, Not, Or, Plus

from saferl.policy.ast import Program
from saferl.repair.result import Witness
from saferl.smt.encode import ProgramEncoder, real
from saferl.smt.order import stable_order
from saferl.smt.props import Frame, encode_property
from saferl.smt.work import bound, wall_limit
from saferl.spec.bind import Binding
from saferl.spec.load import Property, Spec
from saferl.verify import Concrete, decode, replay

__all__ = ["Point", "PropertyCheck", "check_property", "PointConstraints", "relation_atoms", "gap_terms", "FreshZ3", "solve_fresh", "is_linear"]

#: the width of the gap excluded next to each strict comparison over parameters, so that
#: optima are attained (a tightening: any solution with gaps is a solution without them)
GAP = Fraction(1, 2**30)


@dataclass(frozen=True)
class Point:
    """A replayed violation of ``property_id``: observations per step, initial PID state."""

    property_id: str
    obs: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]
    initial_state: tuple[float, ...]

    @staticmethod
    def of(property_id: str, values: Concrete) -> Point:
        obs = tuple((lbl, tuple(d.items())) for lbl, d in values.obs.items())
        return Point(property_id, obs, tuple(values.initial_state))

    def concrete(self) -> Concrete:
        return Concrete({lbl: dict(d) for lbl, d in self.obs}, self.initial_state)

    def witness(self, program: Program) -> Witness:
        obs = {lbl: dict(d) for lbl, d in self.obs}
        state = dict(zip(program.state_names, self.initial_state, strict=False))
        return Witness(self.property_id, obs, state)


@dataclass(frozen=True)
class PropertyCheck:
    """The verdict of one property on one candidate: ``safe``, ``unsafe`` or ``unknown``."""

    property_id: str
    status: str
    points: tuple[Point, ...] = ()
    reason: str = ""


def _replayed(prop: Property, spec: Spec, binding: Binding, frame: Frame, values: Concrete) -> bool:
    violated, _, _ = replay(prop, binding, frame, values, spec)
    return violated


def check_property(
    program: Program, prop: Property, spec: Spec, binding: Binding, timeout_s: float,
    extremes: bool = True, deadline: float | None = None,
) -> PropertyCheck:
    """Is ``prop`` violated on ``program``?  If so, replayed counterexample points."""
    from saferl.smt.solve import solve

    encoder = ProgramEncoder(program, rounding=False)  # a search; its result is re-verified soundly
    formula, frame = encode_property(prop, spec, binding, encoder)
    symbols = frame.free_symbols()
    if is_linear(formula):  # in a context of its own: the same formula gets the same model
        status, model, reason = solve_fresh(formula, symbols, timeout_s, deadline)
    else:  # nonlinear: the guarded solver (a killable child process), on the wall clock
        outcome = solve(formula, symbols, "z3", wall_limit(timeout_s, deadline))
        status, model, reason = outcome.status, outcome.model, outcome.reason
    if status == "unsat":
        return PropertyCheck(prop.id, "safe")
    if status != "sat" or model is None:
        return PropertyCheck(prop.id, "unknown", reason=reason)
    found: list[Point] = []
    seen: set[Point] = set()

    def add(values: Concrete) -> None:
        if _replayed(prop, spec, binding, frame, values):
            pt = Point.of(prop.id, values)
            if pt not in seen:
                seen.add(pt)
                found.append(pt)

    first = decode(frame, model, program)
    add(first)
    if not found:  # float32 rounding corner: try the float32 neighbours, as the verifier does
        for cand in _neighbours(first, program):
            add(cand)
            if found:
                break
    if extremes:
        slacks = _require_slacks(formula)
        goals = [("min", sl) for sl in slacks]
        if not slacks or len(symbols) <= MAX_CORNER_DIMS:  # flat slacks still need the corners
            goals += _directions(symbols, spec, program)
        n_first = len(found)
        by_coord: dict[FNode, dict[str, dict[FNode, Fraction]]] = {}
        optimum = _Optima(formula, symbols)
        for sense, term in goals:
            if deadline is not None and deadline - time.perf_counter() < 0.01:
                break
            models = optimum(term, sense, min(timeout_s, 2.0), deadline)
            for model in models:
                add(decode(frame, model, program))
            if models:
                model = models[-1]
                if term.is_symbol():
                    by_coord.setdefault(term, {})[sense] = model
        # interior points between each coordinate's extremes: a violating region bounded by
        # the thresholds being repaired shrinks to a quarter per round instead of an ulp
        for ends in by_coord.values():
            if "min" in ends and "max" in ends:
                lo, hi = ends["min"], ends["max"]
                for t in INTERIOR:
                    mid = {s: lo[s] + t * (hi[s] - lo[s]) for s in symbols}
                    add(decode(frame, mid, program))
        if slacks and len(found) > n_first and len(symbols) > MAX_CORNER_DIMS:
            found = found[n_first:]  # the worst violation subsumes the solver's arbitrary one
    if not found:  # the solver's model did not replay: let the verifier decide later
        return PropertyCheck(prop.id, "unknown", reason="counterexample did not replay")
    return PropertyCheck(prop.id, "unsafe", tuple(found))


MAX_CORNER_DIMS = 4
#: how far inside a strict bound (relative, below a float32 ulp) an extreme point is sought
STRICT_STEP = Fraction(1, 2**30)
INTERIOR = (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))
MAX_COORD_DIMS = 16
RANDOM_DIRECTIONS = 16


def _directions(symbols: Sequence[FNode], spec: Spec, program: Program) -> list[tuple[str, FNode]]:
    """Objectives whose optima are the extreme points of a violation: each coordinate's
    minimum and maximum, and the corners (every sign pattern of the scaled coordinates; a
    fixed pseudo-random sample of them when there are many coordinates)."""
    import random

    from pysmt.shortcuts import Times

    n = len(symbols)
    out: list[tuple[str, FNode]] = []
    if n <= MAX_COORD_DIMS:
        out = [(sense, sym) for sym in symbols for sense in ("min", "max")]
    if n < 2:
        return out
    scaled = []
    for sym in symbols:
        name = sym.symbol_name().split("@")[0]
        lo, hi = spec.domains.get(name, spec.state.get(name, (float("-inf"), float("inf"))))
        width = hi - lo if hi > lo and hi - lo < float("inf") else 1.0
        scaled.append(Times(real(Fraction(1) / Fraction(width)), sym))
    if n <= MAX_CORNER_DIMS:
        patterns = [[(m >> i) & 1 for i in range(n)] for m in range(2**n)]
    else:
        rng = random.Random(n)
        patterns = [[rng.randint(0, 1) for _ in range(n)] for _ in range(RANDOM_DIRECTIONS)]
    for bits in patterns:
        terms = [t if b else Times(real(-1), t) for t, b in zip(scaled, bits, strict=True)]
        out.append(("max", Plus(terms)))
    return out


def _require_slacks(formula: FNode) -> list[FNode]:
    """``b - a`` for each ``a <= b`` (or ``<``) the property requires (one for an invariant
    ``a <= b``, two for a range): the most negative slack is the worst violation, whose point
    constrains a repair the most.  Empty when the requirement is not made of such bounds."""
    from pysmt.shortcuts import Minus

    if not formula.is_and():
        return []
    last = formula.args()[-1]
    if not last.is_not():
        return []
    req = last.arg(0)
    parts = list(req.args()) if req.is_and() else [req]
    if not parts or not all(p.is_le() or p.is_lt() for p in parts):
        return []
    return [Minus(p.arg(1), p.arg(0)) for p in parts]


def _with_margin(formula: FNode, margin: float) -> FNode:
    """The violation formula with a requirement ``a <= b`` tightened to ``a + margin·|b| <= b``
    (only when ``b`` is a constant): repairs keep a little distance from the worst case,
    which makes CEGIS converge in far fewer rounds on clipped, piecewise-linear programs."""
    from pysmt.shortcuts import LE, LT

    if not formula.is_and():
        return formula
    *rest, last = formula.args()
    if not last.is_not():
        return formula
    req = last.arg(0)
    if not (req.is_le() or req.is_lt()) or not req.arg(1).is_constant():
        return formula
    b = req.arg(1)
    m = real(Fraction(margin).limit_denominator(10**6) * abs(Fraction(b.constant_value())))
    tight = (LE if req.is_le() else LT)(Plus(req.arg(0), m), b)
    return And([*rest, Not(tight)])


class FreshZ3:
    """pySMT formulas converted into a z3 context of their own.

    z3 answers depend on the terms its context already holds (their ids order its
    choices), so a repair that shared the global context with earlier work in the same
    process could find other models; a fresh context per problem gives the same answer to
    the same input, run to run."""

    def __init__(self) -> None:
        import z3
        from pysmt.shortcuts import get_env

        self.ctx = z3.Context()
        self._conv = get_env().factory.Solver(name="z3").converter

    def __call__(self, f: FNode):  # type: ignore[no-untyped-def]
        """``f`` as a z3 term of this context."""
        return self._conv.convert(f).translate(self.ctx)


def is_linear(formula: FNode) -> bool:
    from pysmt.oracles import get_logic

    try:
        return bool(get_logic(formula).theory.linear)
    except Exception:  # let the guarded solver report what is wrong
        return False


def solve_fresh(
    formula: FNode, symbols: Sequence[FNode], timeout_s: float, deadline: float | None = None,
) -> tuple[str, dict[FNode, Fraction] | None, str]:
    """(status, model of ``symbols``, reason) of a linear formula, in a fresh context, with
    ``timeout_s`` nominal seconds of solver work (:mod:`saferl.smt.work`) and the wall
    clock cut at ``deadline``."""
    import z3

    conv = FreshZ3()
    s = z3.Solver(ctx=conv.ctx)
    bound(s, timeout_s, deadline)
    s.set("random_seed", 0)
    s.add(conv(formula))
    res = s.check()
    if res == z3.unsat:
        return "unsat", None, ""
    if res != z3.sat:
        return "unknown", None, f"z3: {s.reason_unknown() or 'unknown'}"
    m = s.model()
    return "sat", {sym: _z3_fraction(m.eval(conv(sym), model_completion=True)) for sym in symbols}, ""


class _Optima:
    """Models of one formula optimising one term after another: the formula is converted
    and asserted once, each objective lives in its own push/pop scope."""

    def __init__(self, formula: FNode, symbols: Sequence[FNode]):
        import z3

        self.conv = FreshZ3()
        self.symbols = symbols
        self.opt = z3.Optimize(ctx=self.conv.ctx)
        self.solver = z3.Solver(ctx=self.conv.ctx)
        zf = self.conv(formula)
        self.opt.add(zf)
        self.solver.add(zf)
        self.zsyms = [self.conv(s) for s in symbols]

    def _values(self, m: Any) -> dict[FNode, Fraction]:
        return {s: _z3_fraction(m.eval(z, model_completion=True)) for s, z in zip(self.symbols, self.zsyms, strict=True)}

    def __call__(self, term: FNode, sense: str, timeout_s: float, deadline: float | None = None) -> list[dict[FNode, Fraction]]:
        """Models minimising (or maximising) ``term``, the optimum last; empty if none.

        Where the bound is strict (no optimum, only an infimum ``c + ε``) z3's model may lie
        anywhere: it is kept, and a point just inside the bound follows it."""
        import z3

        self.opt.push()
        try:
            bound(self.opt, timeout_s, deadline)
            zt = self.conv(term)
            handle = self.opt.minimize(zt) if sense == "min" else self.opt.maximize(zt)
            if self.opt.check() != z3.sat:
                return []
            out = [self._values(self.opt.model())]
            inf, val, eps = (handle.lower_values() if sense == "min" else handle.upper_values())
            if _z3_fraction(inf) == 0 and _z3_fraction(eps) != 0:
                c = _z3_fraction(val)
                near = c + _z3_fraction(eps) * max(abs(c), Fraction(1)) * STRICT_STEP
                self.solver.push()
                bound(self.solver, timeout_s, deadline)
                self.solver.add(zt == z3.RealVal(str(near), self.conv.ctx))
                if self.solver.check() == z3.sat:
                    out.append(self._values(self.solver.model()))
                self.solver.pop()
            return out
        finally:
            self.opt.pop()


def _neighbours(values: Concrete, program: Program) -> list[Concrete]:
    """Float32 neighbours of a point (one coordinate moved by 1, 2 or 4 ulps)."""
    import numpy as np

    out: list[Concrete] = []
    f32 = {d.name for d in program.observations if d.dtype == "float32"}
    for lbl, obs in values.obs.items():
        for name in obs:
            if name not in f32:
                continue
            for k in (1, -1, 2, -2, 4, -4):
                v = np.float32(obs[name])
                for _ in range(abs(k)):
                    v = np.nextafter(v, np.float32(np.inf if k > 0 else -np.inf), dtype=np.float32)
                new = {lb: dict(d) for lb, d in values.obs.items()}
                new[lbl][name] = float(v)
                out.append(Concrete(new, values.initial_state))
    return out[:400]


def _z3_fraction(v) -> Fraction:  # type: ignore[no-untyped-def]
    import z3

    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    if z3.is_algebraic_value(v):
        return Fraction(v.approx(20).as_fraction())
    return Fraction(str(v))


def relation_atoms(*nodes: FNode) -> list[FNode]:
    """Every ``<``/``<=``/``=`` over reals in ``nodes``, including inside term if-then-elses."""
    out: list[FNode] = []
    seen: set[int] = set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if n.node_id() in seen:
            continue
        seen.add(n.node_id())
        if (n.is_le() or n.is_lt() or n.is_equals()) and not n.get_free_variables() == set():
            out.append(n)
        stack.extend(n.args())
    return out


def gap_terms(*nodes: FNode) -> list[FNode]:
    """For each comparison of one parameter with a constant (``θ <= c``, ``c < θ``), exclude
    the open gap of width :data:`GAP` on its open side, so the strict side becomes closed and
    optima are attained (thresholds sit at ``c`` or ``c - GAP``, never "just below ``c``")."""
    gaps = []
    g = real(GAP)
    for atom in relation_atoms(*nodes):
        a, b = atom.arg(0), atom.arg(1)
        if not ((a.is_symbol() and b.is_constant()) or (b.is_symbol() and a.is_constant())):
            continue
        if atom.is_le():  # complement a > b is open: require a <= b or a >= b + gap
            gaps.append(Or(atom, _ge(a, Plus(b, g))))
        elif atom.is_lt():  # atom open: a <= b - gap or a >= b
            gaps.append(Or(_ge(b, Plus(a, g)), _ge(a, b)))
    return gaps


def _ge(a: FNode, b: FNode) -> FNode:
    from pysmt.shortcuts import GE

    return GE(a, b)


class PointConstraints:
    """``property holds at point`` as formulas over one program's parameter symbols."""

    def __init__(
        self, program: Program, spec: Spec, binding: Binding, symbolic: Iterable[int], margin: float = 0.0
    ):
        self.margin = margin
        self.program = program
        self.spec = spec
        self.binding = binding
        self.encoder = ProgramEncoder(program, symbolic=tuple(symbolic))
        self._props = {p.id: p for p in spec.properties}
        self._encoded: dict[str, tuple[FNode, Frame]] = {}
        self._cache: dict[Point, FNode] = {}

    @property
    def param_symbols(self) -> dict[int, FNode]:
        return self.encoder.param_symbols

    def holds_at(self, point: Point) -> FNode:
        """A formula over the parameter symbols: the property of ``point`` holds there."""
        hit = self._cache.get(point)
        if hit is not None:
            return hit
        out = self._holds_at(point)
        self._cache[point] = out
        return out

    def encoded(self, pid: str) -> tuple[FNode, Frame]:
        """The violation formula of property ``pid`` over this program, and its frame."""
        if pid not in self._encoded:
            self._encoded[pid] = encode_property(self._props[pid], self.spec, self.binding, self.encoder)
        return self._encoded[pid]

    def margin_applies(self, pid: str) -> bool:
        """Does the margin tighten property ``pid``'s requirement?"""
        if self.margin <= 0:
            return False
        formula, _ = self.encoded(pid)
        return _with_margin(formula, self.margin) is not formula

    def _holds_at(self, point: Point) -> FNode:
        formula, frame = self.encoded(point.property_id)
        if self.margin > 0:
            formula = _with_margin(formula, self.margin)
        subs: dict[FNode, FNode] = {}
        values = dict(point.obs)
        for lbl in frame.obs_labels:
            for name, sym in frame.obs[lbl].items():
                subs[sym] = real(dict(values[lbl])[name])
        for sym, v in zip(frame.initial_state, point.initial_state, strict=True):
            subs[sym] = real(v)
        violated = formula.substitute(subs).simplify()
        if violated.is_false():
            return TRUE()
        if violated.is_true():
            return FALSE()
        # pySMT's simplifier orders arguments by node number (process history): the
        # solver gets them in an order of the formula's own
        return stable_order(Not(violated).simplify())

    def all_hold(self, points: Sequence[Point]) -> FNode:
        return And([self.holds_at(p) for p in points])
