"""Counterexample-guided repair: parametric CEGIS first, structural edits when needed.

The loop, for one program shape::

    points := counterexamples of the original policy (plus their extreme points)
    repeat:
        values := argmin weighted change + behaviour   s.t. every property holds at every point
        (unsat: no values of this shape work; the conflicting points are the explanation)
        candidate := program with values;  check every property
        SAFE: done;  UNSAFE: add the new counterexamples and repeat

Shapes are tried smallest first: the original program, then single leaf edits (split or
guard), then the same split at every violating leaf (edits alone before edits together
with parameter changes).  Candidates that creep (each round fixes only the last
counterexample, as a two-run smoothness property does to a threshold or coefficient) are
followed by a line search along their drift; when that finds nothing the shape is set
aside for the structural edits and resumed with the time they leave.  The returned policy
is always re-verified with :func:`saferl.verify.verify_policy`: ``repaired`` means SAFE
with a proof.  A re-verification that is UNKNOWN (a solved constant on a float boundary) is
retried with the constants moved off their boundaries while time is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saferl.errors import InputError, SolverError
from saferl.policy import format_policy, parse_policy
from saferl.policy.ast import Assign, Program, walk
from saferl.repair.behaviour import (
    Visited,
    behaviour_terms,
    changed_fraction,
    make_env,
    mean_return,
    rollout_states,
    visited_states,
)
from saferl.repair.candidates import BudgetExhausted, PointChecker
from saferl.repair.edits import Candidate, candidate_edits, canonical
from saferl.repair.explain import _diff, _forcing_points, _output_text, _unrepairable
from saferl.repair.optimize import (
    PRETTIFY_PASSES,
    RepairProblem,
    conflict_core,
    off_boundary,
    prettify,
)
from saferl.repair.points import Point, PointConstraints, check_property
from saferl.repair.result import Attempt, RepairResult, Witness
from saferl.repair.shapes import _Outcome, _Shape
from saferl.repair.space import ParamSpace, build_space, threshold_obs
from saferl.results import Verdict, VerifyResult
from saferl.spec.bind import bind_spec
from saferl.spec.load import Spec
from saferl.verify import VerifyOptions, verify_policy

__all__ = ["RepairOptions", "repair_policy"]

Progress = Callable[[str, Mapping[str, Any]], None]

#: returns within this fraction of the best count as a tie (the smaller repair wins)
RETURN_TIE = 0.02
#: after this many UNSAFE candidates in a row, follow their drift with a verified line search
CREEP_ROUNDS = 3
LINE_BISECTIONS = 5
#: after this many line searches that found nothing, a shape whose candidates creep is set
#: aside (with structural edits on): each round would fix only its last counterexample
CREEP_SEARCHES = 2
#: the line search doubles its step this many times at most (2**10 times the drift: a
#: coefficient that must grow tenfold is reached when each round moved it by a hundredth)
LINE_DOUBLINGS = 10
#: the closing re-verification and rollouts get at most this share of the budget
FINAL_SHARE = 0.3
#: how many times longer the closing rollouts may take than the opening ones
ROLLOUT_GROWTH = 10.0
#: above this many movable parameters, a tree's repair first moves only those near the points
LOCAL_MIN_PARAMS = 24
#: an original whose return reaches this share of the env's reward threshold "performs"
PERFORMS_SHARE = 0.4
#: the closing (float64-sound) proof is assumed to cost this many times the search's last proof
FINAL_PROOF_FACTOR = 2.0
#: a closing proof that is UNKNOWN is tried again with the solved constants moved off their
#: boundaries by these margins (relative to each parameter's scale), in order
BOUNDARY_MARGINS = (1e-6, 1e-4, 1e-2)
#: a closing proof is not started with less time than this left
MIN_GATE_S = 1.0
#: with structural edits on, the parametric search gets at most this share of the time left
PARAMETRIC_SHARE = 0.5
#: each structural shape gets at least this share of the time left (or its fair share)
SHAPE_SHARE = 0.25


def _solver_failures() -> tuple[type[BaseException], ...]:
    import z3
    from pysmt.exceptions import PysmtException

    return (z3.Z3Exception, PysmtException)


SolverFailure = _solver_failures()


@dataclass(frozen=True)
class RepairOptions:
    """How to repair.

    ``timeout_s`` bounds the whole repair (the closing proof and rollouts included; with
    structural edits on, the parametric search gets half of it first), ``solver_timeout_s``
    each solver call's work in nominal seconds (z3 steps, :mod:`saferl.smt.work`),
    ``max_iters`` the CEGIS rounds per shape.  ``states`` (rows of observations) or
    ``env_id`` supply visited states for the behaviour term (weight ``behaviour_weight``);
    with ``env_id`` the returns before and after are measured over ``env_episodes``
    episodes from seed ``env_seed``.  ``select`` chooses among the verified repairs:
    ``change`` takes the smallest (parametric before structural, then least cost);
    ``return`` also tries single structural edits when a parametric repair exists, tunes
    the thresholds an edit introduced for return (on seeds from ``tune_seed``, within the
    region the proof allows) and keeps the repair with the best return; ``auto`` is
    ``return`` with an environment and ``change`` without.
    """

    max_iters: int = 25
    timeout_s: float = 60.0
    solver_timeout_s: float = 5.0
    structural: bool = True
    behaviour_weight: float = 1.0
    states: np.ndarray | None = None
    state_episodes: Sequence[int] | None = None
    env_id: str | None = None
    env_episodes: int = 100
    env_seed: int = 0
    visit_episodes: int = 20
    tune: bool = True
    tune_episodes: int = 20
    tune_rounds: int = 3
    tune_seed: int = 10_000
    max_behaviour_states: int = 48
    behaviour_timeout_s: float = 2.0
    behaviour_iters: int = 4
    margin: float = 0.01
    max_second_edits: int = 4
    select: str = "auto"
    progress: Progress | None = field(default=None, compare=False)


class _Repairer:
    def __init__(self, original: Program, spec: Spec, options: RepairOptions, start: float, source_text: str):
        self.user = original
        self.source_text = source_text
        self.p0 = canonical(original)
        self.spec = spec
        self.opts = options
        self.start = start
        self.deadline = start + options.timeout_s
        #: the hard end of the repair, and the time kept for the closing rollouts
        self.end = start + options.timeout_s
        self.reserve_s = 0.0
        #: the end of the current shape's share of the budget (None: the whole budget)
        self.shape_deadline: float | None = None
        self._checkers: dict[int, PointChecker] = {}
        self._score0: float | None = None
        self.points: list[Point] = []
        self._seen: set[Point] = set()
        self.visited: Visited | None = None
        self.env: Any = None
        self.iterations = 0
        self._exact: PointConstraints | None = None
        self.conflict: tuple[Witness, tuple[str, ...]] | None = None
        canon_leaves = [n.span.line for n in walk(self.p0.body) if isinstance(n, Assign)]
        user_leaves = [n.span.line for n in walk(original.body) if isinstance(n, Assign)]
        self.user_line = dict(zip(canon_leaves, user_leaves, strict=False))
        self.attempts: list[Attempt] = []
        self.base = {p.id: p.value for p in self.p0.parameters()}

    # -- helpers ---------------------------------------------------------------------
    def emit(self, event: str, **info: Any) -> None:
        if self.opts.progress is not None:
            self.opts.progress(event, info)

    @property
    def by_return(self) -> bool:
        return self.env is not None and self.opts.select in ("auto", "return")

    def left(self) -> float:
        """Seconds left to the current shape (its share of the budget)."""
        end = self.deadline if self.shape_deadline is None else min(self.deadline, self.shape_deadline)
        return end - time.perf_counter()

    def shape_end(self) -> float:
        """When the current shape's share of the budget ends (``time.perf_counter()``)."""
        return self.deadline if self.shape_deadline is None else min(self.deadline, self.shape_deadline)

    def total_left(self) -> float:
        """Seconds left to the whole repair's search."""
        return self.deadline - time.perf_counter()

    def budget_cut(self) -> bool:
        """Did the whole search's budget end?"""
        return self.total_left() <= 0

    def checker(self, pc: PointConstraints) -> PointChecker:
        """The (cached) candidate checker of ``pc``, bound to the repair's deadline."""
        chk = self._checkers.get(id(pc))
        if chk is None or chk.pc is not pc:
            chk = self._checkers[id(pc)] = PointChecker(pc, self.deadline)
        return chk

    def holds(self, pc: PointConstraints, values: Mapping[int, float]) -> bool:
        """Do ``values`` satisfy every point (False once the budget is over)?"""
        try:
            return self.checker(pc).holds_all(self.points, values)
        except BudgetExhausted:
            return False

    def solver_timeout(self) -> float:
        return max(0.05, min(self.opts.solver_timeout_s, self.left()))

    def add_points(self, pts: Sequence[Point]) -> int:
        n = 0
        for p in pts:
            if p not in self._seen:
                self._seen.add(p)
                self.points.append(p)
                n += 1
        return n

    def check_all(self, program: Program) -> tuple[list[str], list[str], list[Point]]:
        """(unsafe ids, unknown ids, new points) of every property on ``program``.

        When every property is proved, the time it took tells what the closing
        re-verification will cost: the search's deadline moves to leave room for it."""
        t0 = time.perf_counter()
        out = self._check_all(program)
        if not out[0] and not out[1]:
            proof_s = time.perf_counter() - t0
            self.deadline = min(self.deadline, self.end - FINAL_PROOF_FACTOR * proof_s - self.reserve_s)
        return out

    def proves_all(self, program: Program) -> bool:
        """Is every property proved on ``program``?  A cheap yes/no (no extreme points; the
        solver's counterexample is kept): for searches that only need the answer."""
        binding = bind_spec(self.spec, program)
        for prop in self.spec.properties:
            if self.total_left() <= 0:
                return False
            res = check_property(program, prop, self.spec, binding, self.opts.solver_timeout_s, extremes=False,
                                 deadline=self.shape_end())
            self.add_points(res.points)
            if res.status != "safe":
                return False
        return True

    def _check_all(self, program: Program) -> tuple[list[str], list[str], list[Point]]:
        binding = bind_spec(self.spec, program)
        unsafe: list[str] = []
        unknown: list[str] = []
        pts: list[Point] = []
        for prop in self.spec.properties:
            if self.total_left() <= 0:
                unknown.append(prop.id)
                continue
            res = check_property(program, prop, self.spec, binding, self.opts.solver_timeout_s,
                                 deadline=self.shape_end())
            if res.status == "unsafe":
                unsafe.append(prop.id)
                pts += res.points
            elif res.status == "unknown":
                unknown.append(prop.id)
        return unsafe, unknown, pts

    # -- one shape -------------------------------------------------------------------
    def space_of(self, shape: _Shape) -> ParamSpace:
        base = {k: self.base[o] for k, o in shape.origin.items() if o is not None}
        new = [k for k, o in shape.origin.items() if o is None]
        return build_space(shape.program, self.spec, base, new=new, fixed=shape.fixed)

    def cegis(self, shape: _Shape) -> _Outcome:
        """Parametric CEGIS on one shape.  On a large tree only the parameters on the
        counterexamples' paths move at first (a small problem); when that is not enough
        (unsat or stuck, with time left), every movable parameter does."""
        space = self.space_of(shape)
        if len(space.symbolic) > LOCAL_MIN_PARAMS and self.points:
            binding = bind_spec(self.spec, shape.program)
            chk = PointChecker(PointConstraints(shape.program, self.spec, binding, ()), self.deadline)
            if chk.concrete:
                near = chk.path_params(self.points)
                far = tuple(k for k in space.symbolic if k not in near)
                if far and near & set(space.symbolic):
                    local = _Shape(shape.program, shape.origin, shape.shape, shape.kind, shape.size, shape.leaf_line,
                                   tuple(sorted(set(shape.fixed) | set(far))), shape.leaves)
                    out = self._cegis(local, self.space_of(local))
                    if out.status == "safe" or self.left() <= 0:
                        return out
                    self.emit("widen", shape=shape.shape, movable=len(space.symbolic))
        return self._cegis(shape, space)

    def _cegis(self, shape: _Shape, space: ParamSpace) -> _Outcome:
        """Minimal change first, then (with visited states) the same problem with the
        behaviour term, which falls back to the first on a timeout."""
        binding = bind_spec(self.spec, shape.program)
        pc = PointConstraints(shape.program, self.spec, binding, space.symbolic)
        self._exact = pc
        if self.opts.margin > 0:
            pc = PointConstraints(shape.program, self.spec, binding, space.symbolic, margin=self.opts.margin)
        # edits are many and cheap to reject; the shape the user wrote gets the full budget
        cap = None if shape.kind == "parametric" else max(3, self.opts.max_iters // 3)
        out = self._loop(shape, space, pc, (), 0, cap)
        if out.status != "safe" or self.visited is None or not len(self.visited) or self.left() <= 1.0:
            return out
        if shape.kind != "parametric" and self.by_return:
            return out  # the thresholds of the edit are tuned for return instead
        beh = behaviour_terms(shape.program, space.symbolic, self.visited, self.opts.behaviour_weight)
        if not beh:
            return out
        with_beh = self._loop(shape, space, pc, beh, out.iterations, out.iterations + self.opts.behaviour_iters)
        return with_beh if with_beh.status == "safe" else out

    def _loop(
        self, shape: _Shape, space: ParamSpace, pc: PointConstraints, beh: Sequence[Any], its: int,
        max_its: int | None = None,
    ) -> _Outcome:
        timeout_cap = self.opts.behaviour_timeout_s if beh else self.opts.solver_timeout_s
        limit = self.opts.max_iters if max_its is None else min(max_its, self.opts.max_iters)
        problem = RepairProblem(space, pc, beh)
        history: list[dict[int, float]] = []
        creeping = 0
        while its < limit:
            if self.left() <= 0:
                return self._out_of_time(shape, its, space, pc)
            its += 1
            self.iterations += 1
            # solver work in nominal seconds (the same answer on every machine); the wall
            # clock only ends it with the shape's share of the budget
            opt = problem.solve(self.points, timeout_cap, self.shape_end())
            if opt.status == "unsat" and pc.margin > 0 and self._exact is not None:
                pc = self._exact  # the margin is a convenience, never a reason to give up
                problem = RepairProblem(space, pc, beh)
                opt = problem.solve(self.points, timeout_cap, self.shape_end())
            if opt.status == "unsat":
                core = conflict_core(space, pc, self.points, self.opts.solver_timeout_s, self.shape_end()) or []
                detail = (
                    f"no values of the {len(space.symbolic)} movable parameters satisfy "
                    f"{len(core) or len(self.points)} counterexample(s) together"
                )
                return _Outcome("unsat", shape, iterations=its, core=core, detail=detail, space=space, pc=pc)
            if opt.status != "sat":
                return _Outcome("unknown", shape, iterations=its, detail=opt.reason, space=space, pc=pc)
            if beh and not opt.optimal:  # the behaviour term is a refinement: never wait on it
                return _Outcome("unknown", shape, iterations=its, detail="behaviour solve timed out", space=space, pc=pc)
            values = prettify(space, pc, self.points, opt.values, deadline=self.deadline, checker=self.checker(pc))
            cand = shape.program.with_values(values)
            unsafe, unknown, pts = self.check_all(cand)
            added = self.add_points(pts)
            if unknown and self.left() <= 0:
                return self._out_of_time(shape, its, space, pc)
            self.emit("iteration", shape=shape.shape, iteration=its, points=len(self.points),
                      unsafe=unsafe, unknown=unknown, cost=opt.cost, behaviour=bool(beh))
            if not unsafe and not unknown:
                cand, values = self._rounder(shape, space, pc, cand, values)
                return _Outcome("safe", shape, cand, values, opt.cost, its, space=space, pc=pc)
            if not unsafe:
                return _Outcome("unknown", shape, iterations=its,
                                detail=f"could not prove {', '.join(unknown)} within the solver time limit",
                                space=space, pc=pc)
            if not added:
                return _Outcome("unknown", shape, iterations=its, detail="no new counterexample (stuck)", space=space, pc=pc)
            history.append(values)
            if not beh and len(history) >= CREEP_ROUNDS:
                found = self._line_search(shape, space, history)
                if found is not None:
                    return _Outcome("safe", shape, shape.program.with_values(found), found, opt.cost, its,
                                    detail="found by a verified line search along the repair's drift",
                                    space=space, pc=pc)
                creeping += 1
                if creeping >= CREEP_SEARCHES and self.opts.structural:
                    # set aside (as if its share ended): other shapes first, the parametric
                    # search resumes with the time they leave
                    return _Outcome("budget", shape, iterations=its, space=space, pc=pc,
                                    detail=f"set aside after {its} creeping iteration(s)")
        return _Outcome("budget", shape, iterations=its, detail=f"no SAFE candidate within {self.opts.max_iters} iterations",
                        space=space, pc=pc)

    def _rounder(self, shape: _Shape, space: ParamSpace, pc: PointConstraints, cand: Program,
                 values: dict[int, float]) -> tuple[Program, dict[int, float]]:
        """A proved candidate rounded further (more passes: a parameter left an ulp past its
        boundary no longer blocks the others), kept only if it is proved too; else as it was."""
        nicer = prettify(space, pc, self.points, values, deadline=self.deadline, checker=self.checker(pc),
                         passes=PRETTIFY_PASSES)
        if nicer == values or self.total_left() <= 0:
            return cand, values
        rounder = shape.program.with_values(nicer)
        # its counterexamples are not kept: a failed rounding must not steer the search
        unsafe, unknown, _ = self.check_all(rounder)
        if unsafe or unknown:
            return cand, values
        return rounder, nicer

    def _out_of_time(self, shape: _Shape, its: int, space: ParamSpace, pc: PointConstraints) -> _Outcome:
        detail = ("time budget exhausted" if self.budget_cut()
                  else f"the shape's share of the time budget ran out after {its} iteration(s)")
        return _Outcome("budget", shape, iterations=its, detail=detail, space=space, pc=pc)

    def share(self, fraction: float) -> None:
        """Give the next shape ``fraction`` of the time left (at most all of it)."""
        self.shape_deadline = time.perf_counter() + max(0.0, fraction) * max(0.0, self.total_left())

    def _line_search(self, shape: _Shape, space: ParamSpace, history: Sequence[Mapping[int, float]]) -> dict[int, float] | None:
        """When candidates creep (each round fixes only the last worst case, as with clipped
        PID terms), follow their drift: verify points further along it, doubling the step,
        and bisect back between the last UNSAFE and the first SAFE one.  Every value
        returned is SAFE by the verifier; it is minimal only along that line."""
        last, before = history[-1], history[-CREEP_ROUNDS]
        cont = [k for k in space.symbolic if k not in space.discrete]
        drift = {k: last[k] - before[k] for k in cont}
        if not any(drift.values()) or self.left() < 2.0:
            return None

        def at(t: float) -> dict[int, float]:
            out = dict(last)
            for k in cont:
                out[k] = float(f"{last[k] + t * drift[k]:.4g}")
            return out

        def safe(values: dict[int, float]) -> bool:
            return self.proves_all(shape.program.with_values(values))

        lo, hi = 0.0, None
        for step in (2.0**i for i in range(LINE_DOUBLINGS + 1)):
            if self.left() < 1.0:
                return None
            values = at(step)
            if not _within(space, values):
                return None  # the drift leaves the parameters' allowed ranges
            if safe(values):
                hi = step
                break
            lo = step
        if hi is None:
            return None
        for _ in range(LINE_BISECTIONS):
            if self.left() < 1.0:
                break
            mid = (lo + hi) / 2
            if safe(at(mid)):
                hi = mid
            else:
                lo = mid
        self.emit("line-search", shape=shape.shape, step=hi)
        return at(hi)

    # -- return tuning ---------------------------------------------------------------
    def _performs(self) -> bool:
        """Does the original policy reach half the environment's reward threshold?"""
        threshold = getattr(getattr(self.env, "spec", None), "reward_threshold", None)
        return threshold is not None and self.original_score() >= PERFORMS_SHARE * float(threshold)

    def original_score(self) -> float:
        """The original policy's return on the tuning seeds (measured once)."""
        if self._score0 is None:
            self._score0 = self.score(self.p0)
        return self._score0

    def score(self, program: Program) -> float:
        return mean_return(program, self.env, self.opts.env_id or "", self.opts.tune_episodes, self.opts.tune_seed)

    def _tune_range(self, space: ParamSpace, k: int) -> tuple[float, float] | None:
        """Where to search a parameter for return: its observation's spec domain (threshold)
        or its action's declared range (continuous leaf)."""
        p = space.params[k]
        if p.kind == "threshold":
            name = threshold_obs(space.program).get(k)
            lo, hi = self.spec.domains.get(name or "", (float("-inf"), float("inf")))
        else:
            decl = space.program.action(p.action) if p.action else None
            if decl is None or decl.low is None or decl.high is None:
                return None
            lo, hi = decl.low, decl.high
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            return None
        return float(lo), float(hi)

    def tune(self, out: _Outcome) -> tuple[_Outcome, float]:
        """Move the parameters a repair introduced or changed (thresholds, continuous leaves)
        within the region every known counterexample allows, for return; re-verified."""
        if out.space is None or out.pc is None or out.program is None:
            return out, float("-inf")
        space, pc = out.space, out.pc
        values = dict(out.values)
        best_score = self.score(out.program)
        tunable = [
            k for k in space.symbolic
            if k not in space.discrete and space.params[k].kind in ("threshold", "leaf")
            and (k in space.new or values.get(k) != space.base.get(k))
        ]
        for k in tunable:
            rng = self._tune_range(space, k)
            if rng is None:
                continue
            lo, hi = rng
            cur = values[k]
            grid = list(np.linspace(lo, hi, 9))
            for _round in range(self.opts.tune_rounds):
                trials = []
                for g in grid:
                    g = float(f"{g:.3g}") if abs(g) > 1e-12 else 0.0
                    trial = dict(values)
                    trial[k] = g
                    if g == values[k] or not self.holds(pc, trial):
                        continue
                    if self.left() < 1.0:
                        break
                    trials.append((self.score(space.program.with_values(trial)), g))
                if trials:
                    sc, g = max(trials)
                    if sc > best_score:
                        best_score, values[k] = sc, g
                step = (grid[1] - grid[0]) if len(grid) > 1 else 0.0
                grid = list(np.linspace(values[k] - step, values[k] + step, 9))
            self.emit("tune", shape=out.shape.shape, param=k, old=cur, new=values[k], score=best_score)
        if values == out.values:
            return out, best_score
        for _ in range(3):  # re-check the tuned candidate; a failure adds points and falls back
            cand = space.program.with_values(values)
            unsafe, unknown, pts = self.check_all(cand)
            if not unsafe and not unknown:
                return _Outcome("safe", out.shape, cand, values, out.cost, out.iterations, space=space, pc=pc), best_score
            self.add_points(pts)
            if not self.holds(pc, values):
                break
        return out, self.score(out.program)

    # -- the whole repair ------------------------------------------------------------
    def run(self) -> tuple[_Outcome | None, list[_Outcome], float | None]:
        ident = {p.id: p.id for p in self.p0.parameters()}
        # thresholds, leaves and gains first; other constants (clip bounds, coefficients)
        # only when those cannot do it
        consts = tuple(p.id for p in self.p0.parameters() if p.kind == "constant")
        first = _Shape(self.p0, dict(ident), "parameters", fixed=consts)
        if self.opts.structural:  # leave time for the structural edits, whatever happens here
            self.share(PARAMETRIC_SHARE / 2 if consts else PARAMETRIC_SHARE)
        out = self.cegis(first)
        self.attempts.append(Attempt(first.shape, out.status, out.iterations, out.detail))
        if out.status != "safe" and consts and self.total_left() > 0:
            # coefficients and other constants move too (a linear condition's coefficient,
            # bounded like every constant): when the thresholds and leaves cannot do it, or
            # could not within their share
            wider = _Shape(self.p0, dict(ident), "parameters and constants")
            if self.opts.structural:
                self.share(PARAMETRIC_SHARE / (2 - PARAMETRIC_SHARE))
            self.shape_deadline = None if not self.opts.structural else self.shape_deadline
            out2 = self.cegis(wider)
            self.attempts.append(Attempt(wider.shape, out2.status, out2.iterations, out2.detail))
            if out2.status in ("safe", "unsat", "budget") or out.status != "unsat":
                out = out2
        self.shape_deadline = None
        by_return = self.by_return
        if out.status == "safe" and not by_return:
            return out, [out], None
        if out.status == "safe" and out.program is not None and self.total_left() > 0 and self._performs():
            # the original performs, and a parametric repair that keeps its return leaves
            # little to gain: the smallest repair within noise of the best return wins anyway
            sc, ref = self.score(out.program), self.original_score()
            if sc >= ref - max(1.0, RETURN_TIE * abs(ref)):
                self.emit("score", shape=out.shape.shape, score=sc)
                return out, [out], sc
        failures = [] if out.status == "safe" else [out]
        param_ok = out if out.status == "safe" else None
        if not self.opts.structural or self.left() <= 0:
            return param_ok, failures, None
        if param_ok is None and out.status == "unsat":
            from saferl.repair.conflict import spec_conflict

            self.conflict = spec_conflict(self.p0, self.spec, self.opts.solver_timeout_s, self.shape_end())
            if self.conflict is not None:
                return None, failures, None  # no shape can help: the spec contradicts itself
        violated = sorted({p.property_id for p in self.points})
        edits = [self._shape_of(c) for c in candidate_edits(self.p0, self.spec, self.points, violated)]
        if self.total_left() > 0:
            edits += self._split_all(violated)
        # pure edits first (the original parameters stay as they are), then, if no
        # parameter change alone worked, each edit together with parameter changes
        shapes = [self._pure(e) for e in edits]
        if param_ok is None:
            shapes += [_Shape(e.program, e.origin, e.shape + " + parameters", e.kind, e.size + 1, e.leaf_line, e.fixed,
                              e.leaves)
                       for e in edits]
        # pure edits (small problems, quick to refute) before edits with parameter changes
        shapes.sort(key=lambda e: (e.shape.endswith(" + parameters"), e.size))
        successes: list[_Outcome] = []
        for i, shape in enumerate(shapes):
            if successes and shape.size > min(s.shape.size for s in successes):
                break
            if successes and shape.shape.endswith(" + parameters"):
                break  # an edit alone repaired it: edits that also move parameters are only a fallback
            if param_ok is not None and shape.size > 2:
                break  # with a parametric repair in hand, only the smallest edits are explored
            if self.total_left() <= 0:
                break
            self.emit("shape", shape=shape.shape, size=shape.size)
            self.share(max(SHAPE_SHARE, 1.0 / (len(shapes) - i)))
            res = self.cegis(shape)
            self.shape_deadline = None
            self.attempts.append(Attempt(shape.shape, res.status, res.iterations, res.detail))
            if res.status == "safe":
                successes.append(res)
            else:
                failures.append(res)
        if param_ok is None and out.status == "budget" and not self.budget_cut():
            # the parametric search stopped at its share: resume it with the time left
            again = _Shape(out.shape.program, out.shape.origin, out.shape.shape, out.shape.kind, out.shape.size,
                           fixed=out.shape.fixed)
            if successes:  # a structural repair is in hand: a smaller one gets a share, not the rest
                self.share(SHAPE_SHARE)
            res = self.cegis(again)
            self.shape_deadline = None
            self.attempts.append(Attempt(again.shape + " (resumed)", res.status, res.iterations, res.detail))
            if res.status == "safe":
                param_ok = res
                failures = [f for f in failures if f is not out]
                if not by_return:
                    return res, failures, None
        if not successes and param_ok is None:
            successes = self._second_edits(edits, failures)
        if not successes:
            if param_ok is not None and by_return:
                if self.opts.tune:
                    tuned, sc = self.tune(param_ok)
                    return tuned, failures, sc
                return param_ok, failures, self.score(param_ok.program) if param_ok.program else None
            return param_ok, failures, None
        successes.sort(key=lambda o: o.cost)
        if not by_return:
            return successes[0], failures, None
        scored = []
        if param_ok is not None and param_ok.program is not None:
            scored.append(self.tune(param_ok)[::-1] if self.opts.tune else (self.score(param_ok.program), param_ok))
        for s in successes[:2]:
            if self.left() < 1.0 or not self.opts.tune:
                scored.append((self.score(s.program), s) if s.program is not None else (float("-inf"), s))
                continue
            tuned, sc = self.tune(s)
            scored.append((sc, tuned))
        for sc, o in scored:
            self.emit("score", shape=o.shape.shape, score=sc)
        # the smallest repair whose return is within noise of the best one wins
        top = max(sc for sc, _ in scored)
        slack = max(1.0, RETURN_TIE * abs(top))
        best = next(t for t in scored if t[0] >= top - slack)
        return best[1], failures, best[0]

    def _second_edits(self, firsts: Sequence[_Shape], failures: list[_Outcome]) -> list[_Outcome]:
        """One more edit on top of each single edit (for example a range that needs a split at
        each end), every parameter movable; the first that verifies wins."""
        import re

        for first in firsts[: self.opts.max_second_edits]:
            violated = sorted({p.property_id for p in self.points})
            made = {p.span.line for p in first.program.parameters() if first.origin.get(p.id) is None}
            new_leaves = {n.span.line for n in walk(first.program.body) if isinstance(n, Assign)} & (
                set(range(min(made, default=0), max(made, default=-1) + 4))
            )
            for c in candidate_edits(first.program, self.spec, self.points, violated):
                if self.total_left() <= 0:
                    return []
                origin = {k: (first.origin.get(o) if o is not None else None) for k, o in c.origin.items()}
                second = re.sub(r"line \d+", "a leaf it made" if c.leaf_line in new_leaves else "a leaf", c.shape)
                shape = _Shape(c.program, origin, f"{first.shape}, then {second}", c.kind,
                               first.size + c.size + 1, first.leaf_line, (), first.leaves)
                self.emit("shape", shape=shape.shape, size=shape.size)
                self.share(SHAPE_SHARE)
                res = self.cegis(shape)
                self.shape_deadline = None
                self.attempts.append(Attempt(shape.shape, res.status, res.iterations, res.detail))
                if res.status == "safe":
                    return [res]
                failures.append(res)
        return []

    def _shape_of(self, c: Candidate) -> _Shape:
        fixed: tuple[int, ...] = ()
        if c.kind == "guard":
            params = c.program.parameters()
            fixed = tuple(k for k, o in c.origin.items() if o is None and params[k].kind == "threshold")
        return _Shape(c.program, c.origin, self._user_lines(c.shape), c.kind, c.size, c.leaf_line, fixed,
                      (c.leaf_line,))

    def _user_lines(self, name: str) -> str:
        """A shape's name with the canonical leaf lines replaced by the user's file's lines."""
        import re

        def one(m: re.Match[str]) -> str:
            return str(self.user_line.get(int(m.group(0)), int(m.group(0))))

        return re.sub(r"(?<=line )\d+|(?<=lines )[\d, ]+", lambda m: re.sub(r"\d+", one, m.group(0)), name)

    def _pure(self, e: _Shape) -> _Shape:
        """The edit alone: the original parameters stay, except the value of each leaf the
        edit split or guarded (a split's two sides both get solved actions, whichever side
        the old leaf was printed on)."""
        replaced = {p.id for p in self.p0.parameters() if p.kind == "leaf" and p.span.line in e.leaves}
        old = tuple(k for k, o in e.origin.items() if o is not None and o not in replaced)
        return _Shape(e.program, e.origin, e.shape, e.kind, e.size, e.leaf_line, tuple(sorted(set(e.fixed) | set(old))),
                      e.leaves)

    def _split_all(self, violated: Sequence[str]) -> list[_Shape]:
        """Split every violating leaf on the same observation (several leaves at once)."""
        out: list[_Shape] = []
        cands = list(candidate_edits(self.p0, self.spec, self.points, violated))
        leaves = sorted({c.leaf_line for c in cands})
        if len(leaves) < 2:
            return out
        for name in self.p0.obs_names:
            prog = self.p0
            origin: dict[int, int | None] = {p.id: p.id for p in self.p0.parameters()}
            ok = True
            if self.total_left() <= 0:
                break
            for ln in sorted(leaves, reverse=True):  # bottom-up keeps earlier line numbers valid
                step = [c for c in candidate_edits(prog, self.spec, self.points, violated)
                        if c.kind == "split-leaf" and c.shape == f"split line {ln} on {name}"]
                if not step:
                    ok = False
                    break
                c = step[0]
                origin = {k: (origin.get(o) if o is not None else None) for k, o in c.origin.items()}
                prog = c.program
            if ok:
                out.append(_Shape(prog, origin, self._user_lines(f"split lines {', '.join(map(str, leaves))} on {name}"),
                                  "split-leaf", 2 * len(leaves), leaves[0], (), tuple(leaves)))
        return out


def _gate(text: str, spec: Spec, end: float) -> VerifyResult:
    """The closing proof: the exact text handed back, parsed again, proved like ``saferl
    verify`` would (its time limits), within the time left to ``end``."""
    budget = max(1.0, end - time.perf_counter())
    return verify_policy(parse_policy(text, "<repaired>"), spec, VerifyOptions(budget_s=budget),
                         policy_path="<repaired>")


def _closing_gate(r: _Repairer, best: _Outcome, spec: Spec, end: float) -> tuple[_Outcome, str, Program, VerifyResult, str]:
    """(repair, its text, its program, the closing proof, why it failed) for ``best``.

    A closing proof that is UNKNOWN (not UNSAFE) is usually a solved constant sitting on a
    constraint's boundary, where float rounding decides: the constants are moved off their
    boundaries by growing margins, in the safe direction (:func:`off_boundary`), and each
    candidate's exact text is proved again, while time is left before ``end``.  The gate
    itself never changes: only a SAFE proof of the text returned counts."""
    if best.program is None:
        raise ValueError("the closing gate needs a candidate program")
    out_text, out_prog = _output_text(r, best, canonical(best.program))
    final = _gate(out_text, spec, end)
    detail = f"re-verification of the repaired policy gave {final.verdict.value}"
    if final.verdict is not Verdict.UNKNOWN or best.space is None:
        return best, out_text, out_prog, final, detail
    tried = [best.values]
    for margin in BOUNDARY_MARGINS:
        if end - time.perf_counter() < MIN_GATE_S:
            detail += "; no time left to move its constants off their boundaries"
            break
        values = off_boundary(best.space, best.values, margin)
        if values in tried:
            continue
        tried.append(values)
        cand = best.shape.program.with_values(values)
        moved = _Outcome("safe", best.shape, cand, values, best.cost, best.iterations, detail=best.detail,
                         space=best.space, pc=best.pc)
        text, prog = _output_text(r, moved, canonical(cand))
        res = _gate(text, spec, end)
        r.emit("off-boundary", shape=best.shape.shape, margin=margin, verdict=res.verdict.value)
        if res.verdict is Verdict.SAFE:
            return moved, text, prog, res, ""
        detail += f"; moved off its boundaries by {margin:g}: {res.verdict.value}"
        if res.verdict is Verdict.UNSAFE:
            break  # the side taken was not the safe one: larger margins go further wrong
    return best, out_text, out_prog, final, detail


def _within(space: ParamSpace, values: Mapping[int, float]) -> bool:
    """Are the bounded parameters (constants) inside their ranges?"""
    return all(lo <= values[k] <= hi for k, (lo, hi) in space.bounds.items() if k in values)


def repair_policy(
    program: Program, spec: Spec, options: RepairOptions | None = None, *, policy_path: str = "<policy>",
    source_text: str | None = None,
) -> RepairResult:
    """Repair ``program`` until every property of ``spec`` is proved, with the smallest change.

    ``source_text`` is the policy file's text (for the old lines in the diff; defaults to the
    canonical text, whose lines match ``program``'s positions only if it was parsed from it).

    Example:
        >>> from saferl.policy import parse_policy
        >>> from saferl.spec import parse_spec
        >>> p = parse_policy("policy p\\nobs x: float32\\nact a: discrete {l = 0, r = 1}\\n"
        ...                  "if x <= 0.5 { a = l } else { a = r }\\n")
        >>> s = parse_spec("observations: {x: [-1, 1]}\\nproperties:\\n"
        ...                "  - {id: right, kind: invariant, when: x > 0.2, require: a == r}\\n")
        >>> r = repair_policy(p, s)
        >>> r.status, [(c.old, c.new) for c in r.changes]
        ('repaired', [(0.5, 0.2)])
    """
    from pysmt.environment import pop_env, push_env

    # a pySMT environment of its own: pySMT numbers formula nodes in creation order and its
    # simplifier orders arguments by those numbers, so formulas built by earlier work in
    # the process would change the order z3 sees, and with it the repair found
    push_env()
    try:
        return _repair(program, spec, options, policy_path, source_text)
    finally:
        pop_env()


def _repair(
    program: Program, spec: Spec, options: RepairOptions | None, policy_path: str, source_text: str | None,
) -> RepairResult:
    opts = options or RepairOptions()
    if opts.select not in ("auto", "change", "return"):
        raise InputError(f"select must be auto, change or return, got {opts.select!r}")
    if opts.max_iters < 1:
        raise InputError(f"max_iters must be at least 1, got {opts.max_iters}")
    if not opts.timeout_s > 0:
        raise InputError(f"timeout must be positive, got {opts.timeout_s}")
    start = time.perf_counter()
    # the same gate as `saferl verify` with its defaults (the spec's time limits, else 10 s)
    vopts = VerifyOptions()
    original = verify_policy(program, spec, vopts, policy_path=policy_path)
    verify_s = time.perf_counter() - start
    text0 = format_policy(program)
    if source_text is None:  # positions then refer to the canonical text, so use its parse
        program = parse_policy(text0, policy_path)
        source_text = text0
    r = _Repairer(program, spec, opts, start, source_text)
    returns: dict[str, float] = {}
    rollout_s = 0.0
    if opts.env_id is not None:
        r.env = make_env(opts.env_id)
        t0 = time.perf_counter()
        rows, eps, rets = rollout_states(r.p0, r.env, opts.env_id, opts.env_episodes, opts.env_seed)
        # the closing rollouts may last longer (a better policy survives longer): allow for it
        rollout_s = (time.perf_counter() - t0) * min(ROLLOUT_GROWTH, 500 * len(rets) / max(1, len(rows)))
        returns["before"] = float(np.mean(rets))
        keep = [i for i, e in enumerate(eps) if e < opts.visit_episodes]
        r.visited = visited_states(r.p0, rows[keep], opts.max_behaviour_states, [eps[i] for i in keep])
    elif opts.states is not None:
        r.visited = visited_states(r.p0, opts.states, opts.max_behaviour_states, opts.state_episodes)
    r.emit("verify", verdict=original.verdict.value,
           unsafe=[x.property_id for x in original.results if x.verdict is Verdict.UNSAFE])
    if original.verdict is Verdict.SAFE:
        if r.env is not None:
            returns["after"] = returns["before"]
        return RepairResult("already-safe", program.name, text0, original, returns=returns,
                            time_s=time.perf_counter() - start, original_verdict=original.verdict,
                            behaviour_states=len(r.visited) if r.visited else 0,
                            behaviour_changed=0.0 if r.visited else None, reason="every property is already proved")
    # the search stops early enough for the closing re-verification and rollouts
    r.reserve_s = rollout_s + 0.2
    r.deadline = start + opts.timeout_s - min(FINAL_SHARE * opts.timeout_s, 1.5 * verify_s + r.reserve_s)
    # the verifier's counterexamples, with their extreme points, seed the loop
    _, unknown0, pts = r.check_all(r.p0)
    r.add_points(pts)
    try:
        best, failures, _ = r.run()
    except SolverFailure as exc:  # a backend crash is a tool error, never a verdict
        raise SolverError(f"solver failed during repair: {' '.join(str(exc).split())}") from exc
    elapsed = time.perf_counter() - start
    behaviour_n = len(r.visited) if r.visited else 0
    if best is None or best.program is None:
        return _unrepairable(r, original, failures, returns, elapsed, unknown0)
    end = start + opts.timeout_s - rollout_s
    best, out_text, out_prog, final, detail = _closing_gate(r, best, spec, end)
    final_prog = canonical(best.program) if best.program is not None else out_prog
    if final.verdict is not Verdict.SAFE:
        fail = _Outcome("unknown", best.shape, detail=detail)
        return _unrepairable(r, original, [*failures, fail], returns, time.perf_counter() - start, unknown0)
    if r.env is not None:
        _, _, rets = rollout_states(out_prog, r.env, opts.env_id or "", opts.env_episodes, opts.env_seed)
        returns["after"] = float(np.mean(rets))
    changes, edits = _diff(r, best, out_prog, out_text)
    used = _forcing_points(r, best)
    return RepairResult(
        "repaired", program.name, out_text, final, tuple(changes), tuple(edits),
        tuple(p.witness(r.p0) for p in used), tuple(r.attempts), r.iterations, time.perf_counter() - start,
        reason=f"repaired by {best.shape.shape}", returns=returns, behaviour_states=behaviour_n,
        behaviour_changed=changed_fraction(final_prog, r.visited) if r.visited else None,
        original_verdict=original.verdict,
    )
