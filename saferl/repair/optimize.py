"""The repair problem: minimal weighted change subject to every counterexample point.

Built with pySMT terms (the encoder's), solved with z3's ``Optimize`` (deterministic
seed, a time limit; ``unknown`` is never read as an answer).  The objective is
``Σ weight·|Δparam| + Σ flip cost·[discrete leaf changed] + behaviour``, where the
behaviour term counts how much the actions change on visited states.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from pysmt.fnode import FNode
from pysmt.shortcuts import Equals, Or

from saferl.repair.candidates import BudgetExhausted, PointChecker
from saferl.repair.points import FreshZ3, Point, PointConstraints, _z3_fraction, gap_terms
from saferl.repair.space import ParamSpace
from saferl.smt.encode import real
from saferl.smt.work import RLIMIT_PER_S, bound, used

__all__ = ["OptOutcome", "RepairProblem", "optimise", "conflict_core", "holds_all", "prettify", "off_boundary"]



@dataclass
class OptOutcome:
    """``status`` sat (``values`` set), unsat, or unknown (``reason``)."""

    status: str
    values: dict[int, float] = field(default_factory=dict)
    cost: float = 0.0
    reason: str = ""
    optimal: bool = True


def _domain(space: ParamSpace, syms: Mapping[int, FNode]) -> list[FNode]:
    out = []
    for k, vals in space.discrete.items():
        if k in syms:
            out.append(Or([Equals(syms[k], real(v)) for v in vals]))
    return out


class RepairProblem:
    """The repair problem of one shape, kept across CEGIS rounds: each round adds the new
    points' constraints to the same z3 optimiser and solver (incremental solving), and the
    optimum found so far is a lower bound for the next round (points only ever get added)."""

    def __init__(self, space: ParamSpace, pc: PointConstraints, behaviour: Sequence[FNode] = ()):
        import z3

        self.space = space
        self.pc = pc
        self.conv = FreshZ3()  # the same problem gets the same optimum, run to run
        ctx = self.conv.ctx
        self.opt = z3.Optimize(ctx=ctx)
        self.solver = z3.Solver(ctx=ctx)
        self.added = 0
        self.lower = Fraction(0)
        syms = pc.param_symbols
        base: list[Any] = [self.conv(d) for d in _domain(space, syms)]
        base += [self.conv(g) for g in gap_terms(*behaviour)] if behaviour else []
        terms = []
        for k in space.symbolic:
            x = self.conv(syms[k])
            ref = z3.RealVal(str(Fraction(space.base[k])), ctx)
            w = z3.RealVal(str(Fraction(space.weights[k]).limit_denominator(10**12)), ctx)
            if k in space.discrete:
                terms.append(z3.If(x == ref, z3.RealVal(0, ctx), w, ctx))
            else:
                d = z3.Real(f"dev{k}", ctx)
                base += [d >= x - ref, d >= ref - x]
                if k in space.bounds:
                    lo, hi = space.bounds[k]
                    base += [x >= z3.RealVal(str(Fraction(lo)), ctx), x <= z3.RealVal(str(Fraction(hi)), ctx)]
                terms.append(w * d)
        terms += [self.conv(b) for b in behaviour]
        self.cost = z3.Sum(terms) if terms else z3.RealVal(0, ctx)
        for c in base:
            self.opt.add(c)
            self.solver.add(c)
        self.opt.minimize(self.cost)

    def _add_points(self, points: Sequence[Point]) -> None:
        for p in points[self.added:]:
            c = self.pc.holds_at(p)
            for f in (c, *gap_terms(c)):
                zf = self.conv(f)
                self.opt.add(zf)
                self.solver.add(zf)
        self.added = len(points)

    def solve(self, points: Sequence[Point], timeout_s: float, deadline: float | None = None) -> OptOutcome:
        """Minimise the weighted change so the property holds at every point, with
        ``timeout_s`` nominal seconds of solver work (:mod:`saferl.smt.work`: the same
        answer on every machine) and the wall clock cut at ``deadline``."""
        import z3

        self._add_points(points)
        bound(self.opt, timeout_s * OPTIMIZE_SHARE, deadline)
        res = self.opt.check()
        if res == z3.unsat:
            return OptOutcome("unsat")
        optimal = res == z3.sat
        if optimal:
            m = self.opt.model()
        else:
            # z3's optimiser is slow on many disjunctive constraints (clipped PID terms):
            # find the minimum by bisection on the cost with the plain solver instead
            reason = f"z3 optimize: {self.opt.reason_unknown() or 'unknown'}"
            try:  # the optimiser's best model so far bounds the search from above
                start = self.opt.model()
            except z3.Z3Exception:
                start = None
            found = _bisect(self.solver, self.cost, self.lower, timeout_s * (1 - OPTIMIZE_SHARE), start, deadline)
            if found is None:
                return OptOutcome("unknown", reason=reason)
            m, optimal, lower = found
            self.lower = max(self.lower, lower)
        values: dict[int, float] = {}
        for k in self.space.symbolic:
            q = _z3_fraction(m.eval(self.conv(self.pc.param_symbols[k]), model_completion=True))
            values[k] = float(int(round(q))) if k in self.space.discrete else float(q)
        total = _z3_fraction(m.eval(self.cost, model_completion=True))
        if optimal:
            self.lower = max(self.lower, total)
        return OptOutcome("sat", values, float(total), optimal=optimal)


def optimise(
    space: ParamSpace, pc: PointConstraints, points: Sequence[Point],
    behaviour: Sequence[FNode] = (), timeout_s: float = 5.0,
) -> OptOutcome:
    """Minimise the weighted change of ``space`` so the property holds at every point
    (a one-shot :class:`RepairProblem`)."""
    return RepairProblem(space, pc, behaviour).solve(points, timeout_s)


OPTIMIZE_SHARE = 0.3
BISECT_TOLERANCE = 0.01


def _bisect(
    solver: Any, cost: Any, lower: Fraction, timeout_s: float, start: Any = None, deadline: float | None = None,
) -> tuple[Any, bool, Fraction] | None:
    """(model, converged, proved lower bound) minimising ``cost`` by bisection, or None.

    ``start``, a model already known to satisfy the constraints, is checked and used as the
    first upper bound; otherwise the solver finds one.  All checks together get
    ``timeout_s`` nominal seconds of solver work (counted in z3's resource units, so the
    bisection stops at the same step on every machine) and end at ``deadline``."""
    import z3

    total = max(1, int(timeout_s * RLIMIT_PER_S))
    best = None
    if start is not None and len(start) > 0:
        solver.push()
        hi0 = _z3_fraction(start.eval(cost, model_completion=True))
        solver.add(cost <= z3.RealVal(str(hi0), cost.ctx))
        bound(solver, timeout_s, deadline, units=total)
        if solver.check() == z3.sat:
            best = solver.model()
        solver.pop()
    if best is None:  # the plain problem can be easier than the one bounded by the start
        bound(solver, timeout_s, deadline, units=total)
        if solver.check() != z3.sat:
            return None
        best = solver.model()
    first = used(solver)  # the bisection's steps share one more such budget

    def units_left() -> int:
        return total - (used(solver) - first)

    hi = _z3_fraction(best.eval(cost, model_completion=True))
    lo = min(lower, hi)
    while hi - lo > BISECT_TOLERANCE * max(hi, Fraction(1, 10**6)):
        left = units_left()
        if left < RLIMIT_PER_S // 20 or (deadline is not None and deadline - time.perf_counter() <= 0.05):
            return best, False, lo
        mid = (lo + hi) / 2
        solver.push()
        bound(solver, timeout_s, deadline, units=left)
        solver.add(cost <= z3.RealVal(str(mid), cost.ctx))
        res = solver.check()
        if res == z3.sat:
            best = solver.model()
            hi = _z3_fraction(best.eval(cost, model_completion=True))
        elif res == z3.unsat:
            lo = mid
        solver.pop()
        if res not in (z3.sat, z3.unsat):
            return best, False, lo
    return best, True, lo


def conflict_core(
    space: ParamSpace, pc: PointConstraints, points: Sequence[Point], timeout_s: float = 5.0,
    deadline: float | None = None,
) -> list[Point] | None:
    """A subset of ``points`` no parameter values can satisfy together (exact, no gaps);
    None when the points are jointly satisfiable or z3 cannot tell."""
    import z3

    conv = FreshZ3()
    s = z3.Solver(ctx=conv.ctx)
    bound(s, timeout_s, deadline)
    for d in _domain(space, pc.param_symbols):
        s.add(conv(d))
    tags = {}
    for i, p in enumerate(points):
        t = z3.Bool(f"point{i}", conv.ctx)
        tags[str(t)] = p
        s.assert_and_track(conv(pc.holds_at(p)), t)
    if s.check() != z3.unsat:
        return None
    return [tags[str(t)] for t in s.unsat_core()]


def holds_all(
    pc: PointConstraints, points: Sequence[Point], values: Mapping[int, float], deadline: float | None = None,
) -> bool:
    """Do the parameter ``values`` make the property hold at every point (exactly)?

    Evaluated concretely where that is exact (see :mod:`saferl.repair.candidates`);
    raises :class:`~saferl.repair.candidates.BudgetExhausted` past ``deadline``."""
    return PointChecker(pc, deadline).holds_all(points, values)


def _simple_candidates(v: float, lo: float, hi: float) -> list[float]:
    """Numbers in [lo, hi] with the fewest significant decimals, simplest first, and among
    equally simple ones the closest to ``v`` first."""
    out: list[float] = []
    width = hi - lo
    if not width > 0 or not math.isfinite(width):
        return out
    top = math.floor(math.log10(width))
    for e in range(top, top - 12, -1):
        step = 10.0**e
        m_lo, m_hi = math.ceil(lo / step), math.floor(hi / step)
        if m_hi - m_lo > 40:
            continue
        cands = sorted((float(f"{m * step:.12g}") for m in range(m_lo, m_hi + 1)), key=lambda c: abs(c - v))
        for c in cands:
            if lo <= c <= hi and c not in out:
                out.append(c)
        if len(out) > 60:
            break
    return out


def prettify(
    space: ParamSpace, pc: PointConstraints, points: Sequence[Point], values: dict[int, float],
    tolerance: float = 0.02, deadline: float | None = None, checker: PointChecker | None = None,
    passes: int = 1,
) -> dict[int, float]:
    """Round each moved continuous parameter to the simplest number within ``tolerance``
    (relative to its scale) that still satisfies every point exactly.

    The solver's values are exact rationals read back as floats, so a parameter solved onto
    a constraint's boundary may miss it by an ulp; while it does, no other parameter can be
    rounded either (the check is of all values together).  Hence up to ``passes`` passes,
    each over the parameters still unrounded, until one changes nothing (more than one only
    for a candidate already proved: rounding more moves the search's later candidates).

    Past ``deadline`` the values rounded so far are returned (the rest stay as solved)."""
    chk = checker if checker is not None else PointChecker(pc, deadline)
    out = dict(values)
    todo = [k for k in space.symbolic
            if k not in space.discrete and (out[k] != space.base[k] or k in space.new)]
    for _ in range(passes):
        done: list[int] = []
        for k in todo:
            v = out[k]
            tol = tolerance * space.scales.get(k, 1.0)
            for c in _simple_candidates(v, v - tol, v + tol):
                trial = dict(out)
                trial[k] = c
                try:
                    ok = chk.holds_all(points, trial)
                except BudgetExhausted:
                    return out
                if ok:
                    out[k] = c
                    done.append(k)
                    break
        if not done:
            break
        todo = [k for k in todo if k not in done]
    return out


#: rounding passes of :func:`prettify` on a proved candidate (a parameter rounded late can
#: unblock earlier ones)
PRETTIFY_PASSES = 3


def off_boundary(space: ParamSpace, values: Mapping[int, float], margin: float) -> dict[int, float]:
    """``values`` with each solved constant moved off its boundary, in the safe direction.

    The solver puts a moved parameter exactly where a constraint binds; the original value
    lay on the unsafe side, so the safe side is further from it.  Each moved continuous
    parameter that is not already a short decimal (at most ``SHORT_DIGITS`` significant
    digits: 0, 0.2 and the like are where the solver stopped on purpose, not an accident of
    arithmetic) goes to the simplest number between ``margin`` and ten times ``margin``
    (relative to its scale) further from its original value, closest first.  Parameters an
    edit introduced (no original value, so no known safe side) stay.

    Example:
        >>> from saferl.policy import parse_policy
        >>> from saferl.spec import parse_spec
        >>> from saferl.repair.space import build_space
        >>> p = parse_policy("policy p\\nobs x: float32\\nact a: continuous [0, 1]\\na = clip(0.9 * x, 0, 1)\\n")
        >>> s = parse_spec("observations: {x: [0, 1]}\\nproperties:\\n"
        ...                "  - {id: cap, kind: invariant, require: a <= 0.3}\\n")
        >>> space = build_space(p, s)
        >>> off_boundary(space, {0: 0.3000000001}, 1e-3)  # the 0.9 solved down to the cap's edge
        {0: 0.299}
    """
    out = dict(values)
    for k in space.symbolic:
        if k in space.discrete or k in space.new or k not in out:
            continue
        v, ref = out[k], space.base[k]
        if v == ref or not math.isfinite(v) or float(f"{v:.{SHORT_DIGITS}g}") == v:
            continue
        step = margin * space.scales.get(k, 1.0)
        near, far = (v - step, v - 10 * step) if v < ref else (v + step, v + 10 * step)
        cands = _simple_candidates(near, min(near, far), max(near, far))
        if cands:
            c = cands[0]
            if k in space.bounds:
                lo, hi = space.bounds[k]
                if not lo <= c <= hi:
                    continue
            out[k] = c
    return out


#: a solved value with at most this many significant digits is left where it is
SHORT_DIGITS = 6
