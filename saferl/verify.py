"""Verify a policy against a spec: one :class:`~saferl.results.PropertyResult` per property.

Soundness rules kept here:

* SAFE only when the solver answered unsat — on the real encoding, which over-approximates
  every float64 rounding (:mod:`saferl.smt.rounding`), or on the bit-precise IEEE encoding
  (:mod:`saferl.smt.fp`); ``unknown`` and timeouts are UNKNOWN;
* with ``cross_check``, cvc5 must agree with z3 on SAFE/UNSAFE, else :class:`SolverError`;
* every counterexample is replayed on the concrete evaluator (float32 observations,
  float64 arithmetic) before it is reported.  A real-arithmetic counterexample that does
  not replay is refined by the bit-precise encoding (within the same time limit), never
  reported; a bit-precise one that does not replay is an :class:`InternalError`.

Example:
    >>> from saferl.policy import parse_policy
    >>> from saferl.spec import parse_spec
    >>> p = parse_policy("policy p\\nobs x: float32\\nact a: continuous\\na = 2 * x\\n")
    >>> s = parse_spec("properties:\\n  - {id: small, kind: bounds, action: a, range: [-1, 1]}\\nobservations: {x: [-0.5, 0.5]}\\n")
    >>> verify_policy(p, s).verdict
    <Verdict.SAFE: 'SAFE'>
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import field, replace
from typing import TYPE_CHECKING, Any

from saferl.errors import InternalError, SolverError, SpecError
from saferl.policy.ast import Assign, Program, walk
from saferl.policy.evaluate import interpret
from saferl.policy.printer import program_digest
from saferl.record import record
from saferl.results import Counterexample, PropertyResult, Step, Verdict, VerifyResult
from saferl.smt.floats import f32_pred, f32_succ, round_f32
from saferl.smt.frame import Frame, concrete_lookup, frame_labels
from saferl.spec.bind import Binding, bind_spec, property_condition
from saferl.spec.evaluate import eval_sexpr
from saferl.spec.expr import variables
from saferl.spec.load import Property, Spec

if TYPE_CHECKING:
    from fractions import Fraction

    from pysmt.fnode import FNode

    from saferl.smt.props import ProgramFrame

__all__ = ["verify_policy", "VerifyOptions", "replay", "decode", "Concrete"]

DEFAULT_TIMEOUT_S = 10.0


@record
class VerifyOptions:
    """How to verify: the time limit per property and solver, cvc5 cross-checking, and an
    overall budget for the whole call (properties not reached in it are UNKNOWN).

    ``decompose`` lets per-state properties of decision trees be decided leaf by leaf
    (:mod:`saferl.smt.tree`); off, every property is encoded whole (the same verdicts,
    slower on large trees).  A cross-check always encodes whole, so that both solvers
    answer the same formula."""

    timeout_s: float | None = None
    cross_check: bool = False
    solver: str = "z3"
    budget_s: float | None = None
    decompose: bool = True


@record(frozen=False)
class Concrete:
    """Concrete values of a frame: observations per step, initial state."""

    obs: dict[str, dict[str, float]]
    initial_state: tuple[float, ...]


def decode(frame: Frame, model: Mapping[FNode, Fraction], program: Program) -> Concrete:
    """Round a model to runtime values: float32 observations, float64 state."""
    from fractions import Fraction  # models come from a solver, which imported it already

    obs: dict[str, dict[str, float]] = {}
    for lbl in frame.obs_labels:
        obs[lbl] = {}
        for decl in program.observations:
            q = model.get(frame.obs[lbl][decl.name], Fraction(0))
            obs[lbl][decl.name] = round_f32(q) if decl.dtype == "float32" else float(q)
    state = tuple(float(model.get(s, Fraction(0))) for s in frame.initial_state)
    return Concrete(obs, state)


def replay(
    prop: Property, binding: Binding, frame: Frame, values: Concrete, spec: Spec
) -> tuple[bool, list[Step], dict[str, dict[str, int]]]:
    """Run the program concretely on ``values``; is the property violated there?

    Returns (violated, steps for the report, executed assignment lines per step).
    """
    program = binding.program
    for lbl in frame.obs_labels:  # domains hold for the rounded values too
        for name, (lo, hi) in spec.domains.items():
            if not lo <= values.obs[lbl][name] <= hi:
                return False, [], {}
    for name, (lo, hi) in spec.state.items():
        if not lo <= values.initial_state[program.state_names.index(name)] <= hi:
            return False, [], {}
    acts: dict[str, dict[str, int | float]] = {}
    state_in: dict[str, tuple[float, ...]] = {}
    lines: dict[str, dict[str, int]] = {}
    state = values.initial_state
    for lbl in frame.exec_labels:
        state_in[lbl] = values.initial_state if frame.mode == "two-run" else state
        a, nxt, trace = interpret(program, values.obs[lbl], state_in[lbl])
        acts[lbl] = a
        lines[lbl] = trace.lines
        if frame.mode != "two-run":
            state = nxt

    lookup = concrete_lookup(binding, frame.mode, values.obs, acts, state_in)
    when, require = property_condition(prop, binding)
    violated = bool(eval_sexpr(when, lookup)) and not bool(eval_sexpr(require, lookup))
    steps = []
    for lbl in frame.obs_labels:
        st = state_in.get(lbl, ())
        steps.append(
            Step(
                lbl,
                dict(values.obs[lbl]),
                dict(acts.get(lbl, {})),
                dict(zip(program.state_names, st, strict=False)) if st else {},
            )
        )
    return violated, steps, lines


def _nearby(values: Concrete, program: Program, seed: int) -> list[Concrete]:
    """Float32 neighbours of a point (a few ulps per coordinate), for replay retries."""
    import random  # only when a replay is retried

    rng = random.Random(seed)
    out: list[Concrete] = []
    keys = [(lbl, d.name) for lbl in values.obs for d in program.observations if d.dtype == "float32"]
    for (lbl, name), k in itertools.product(keys, (1, -1, 2, -2, 4, -4)):
        v = values.obs[lbl][name]
        for _ in range(abs(k)):
            v = f32_succ(v) if k > 0 else f32_pred(v)
        obs = {lb: dict(d) for lb, d in values.obs.items()}
        obs[lbl][name] = v
        out.append(Concrete(obs, values.initial_state))
        if len(out) > 400:
            break
    for _ in range(200):
        obs = {lb: dict(d) for lb, d in values.obs.items()}
        for lbl, name in keys:
            v = obs[lbl][name]
            for _ in range(rng.randint(0, 3)):
                v = f32_succ(v) if rng.random() < 0.5 else f32_pred(v)
            obs[lbl][name] = v
        out.append(Concrete(obs, values.initial_state))
    return out


def _policy_line(prop: Property, program: Program, lines: Mapping[str, Mapping[str, int]] | None) -> int:
    """The .pol line a result points at: the assignment of the action the property is about."""
    names = [prop.action] if prop.action else []
    for e in (prop.require, prop.when):
        if e is not None:
            names += [v.name for v in variables(e) if v.name in program.action_names]
    if not names:
        names = list(program.action_names)
    target = names[0]
    if lines:
        for lbl in ("t", "b", "a", *reversed(list(lines))):
            if lbl in lines and target in lines[lbl]:
                return lines[lbl][target]
    for node in walk(program.body):
        if isinstance(node, Assign) and node.target == target:
            return node.span.line
    return program.span.line or 1


@record(frozen=False)
class _Decision:
    """What one solver concluded about one property (before cross-checking)."""

    status: str  # safe, unsafe, unknown
    time_s: float
    message: str
    steps: list[Step] | None = None
    lines: dict[str, dict[str, int]] | None = None
    #: the solver's answer on the real encoding (sat / unsat / unknown / "" if not run)
    real_status: str = ""


def _replay_first(
    prop: Property, spec: Spec, binding: Binding, frame: Frame, candidates: list[Concrete]
) -> tuple[list[Step], dict[str, dict[str, int]]] | None:
    for cand in candidates:
        violated, steps, lines = replay(prop, binding, frame, cand, spec)
        if violated:
            return steps, lines
    return None


@record(frozen=False)
class _Shared:
    """What the properties of one verify call share: the program encoded once per frame,
    and z3's term conversion."""

    frames: dict[tuple[str, tuple[str, ...]], ProgramFrame] = field(default_factory=dict)
    converters: dict[str, Any] = field(default_factory=dict)
    #: the program compiled for the tree decomposition (built on first use)
    tree: Any = None


def _decide_tree(
    prop: Property, spec: Spec, binding: Binding, solver: str, timeout_s: float, stop: float,
    deadline: float | None, shared: _Shared,
) -> _Decision | None:
    """Per-state properties of a decision tree, leaf by leaf (:mod:`saferl.smt.tree`);
    None when the tree path does not apply or cannot conclude (the monolithic encoding
    then decides).  Its verdicts carry no real-encoding status: cross-checking compares
    SAFE/UNSAFE only."""
    from saferl.smt.tree import TreeDecomposition

    start = time.perf_counter()
    if shared.tree is None:
        shared.tree = TreeDecomposition(binding.program, spec)
    out = shared.tree.decide(prop, binding, stop)
    if out is None:
        return None
    if out.status == "safe":
        return _Decision("safe", time.perf_counter() - start, "proved")
    if out.status == "timeout":
        return _Decision("unknown", time.perf_counter() - start, f"undecided: timeout after {timeout_s:.3g} s")
    if out.status == "unsafe":
        found = _replay_first(prop, spec, binding, Frame("single", ["t"], ["t"]), [Concrete({"t": dict(out.point or {})}, ())])
        if found is None:  # exact by construction; the whole encoding decides instead
            return None
        return _Decision("unsafe", time.perf_counter() - start, "violated (counterexample replayed)", *found)
    if out.formula is None or out.frame is None:
        return None
    from saferl.smt.solve import solve

    left = stop - time.monotonic()
    outcome = solve(out.formula, out.frame.free_symbols(), solver, max(left, 0.001), deadline=deadline,
                    converters=shared.converters)
    if outcome.status == "unsat":
        return _Decision("safe", time.perf_counter() - start, "proved")
    if outcome.status == "sat":
        found = _replay_model(prop, spec, binding, out.frame, outcome.model)
        if found is not None:
            return _Decision("unsafe", time.perf_counter() - start, "violated (counterexample replayed)", *found)
        return None
    if outcome.reason.startswith(("timeout", "budget")) or stop - time.monotonic() <= 0.01:
        return _Decision("unknown", time.perf_counter() - start, outcome.reason)
    return None


def _decide(
    prop: Property, spec: Spec, binding: Binding, solver: str, timeout_s: float, deadline: float | None,
    shared: _Shared | None = None, *, tree: bool = True,
) -> _Decision:
    """A decision tree's per-state properties leaf by leaf first (``tree``); otherwise the
    real over-approximation (fast); its counterexample replayed; when it does not replay
    (a rounding the over-approximation allows but float64 never makes), or the input is
    outside the real encoding, the bit-precise encoding decides."""
    program = binding.program
    start = time.perf_counter()
    stop = time.monotonic() + timeout_s if deadline is None else min(time.monotonic() + timeout_s, deadline)

    def left() -> float:
        return stop - time.monotonic()

    if tree and shared is not None:
        by_leaves = _decide_tree(prop, spec, binding, solver, timeout_s, stop, deadline, shared)
        if by_leaves is not None:
            by_leaves.time_s = time.perf_counter() - start
            return by_leaves
    # the solvers are imported only when a property needs them (an axis-aligned tree's
    # leaf boxes do not): they are most of the start-up time of a small verify
    from saferl.smt.encode import ProgramEncoder
    from saferl.smt.fp import solve_fp
    from saferl.smt.props import encode_property
    from saferl.smt.rounding import NotModelled
    from saferl.smt.solve import solve

    why = ""
    real_status = ""
    frame: Frame | None = None
    try:
        formula, frame = encode_property(prop, spec, binding, ProgramEncoder(program), shared.frames if shared else None)
    except NotModelled as exc:
        why = f"{exc} is outside the real encoding"
    if frame is not None:
        converters = shared.converters if shared else None
        outcome = solve(formula, frame.free_symbols(), solver, max(left(), 0.001), deadline=deadline, converters=converters)
        real_status = outcome.status
        if outcome.status == "unsat":
            return _Decision("safe", time.perf_counter() - start, "proved", real_status=real_status)
        if outcome.status == "unknown" and (left() <= 0.01 or outcome.reason.startswith(("timeout", "budget"))):
            return _Decision("unknown", time.perf_counter() - start, outcome.reason, real_status=real_status)
        if outcome.status == "sat":
            found = _replay_model(prop, spec, binding, frame, outcome.model)
            if found is None:
                # the model may have used an overflow: look for a finite violation as well
                finite, _ = encode_property(
                    prop, spec, binding, ProgramEncoder(program), shared.frames if shared else None, overflow=False
                )
                if finite is not formula and left() > 0.01:
                    again = solve(
                        finite, frame.free_symbols(), solver, max(left(), 0.001), deadline=deadline, converters=converters
                    )
                    if again.status == "sat":
                        found = _replay_model(prop, spec, binding, frame, again.model)
            if found is None:
                # the model may sit on the requirement's boundary, where only the rounding
                # the real encoding allows (but float64 never makes) violates it: look for a
                # violation by a clear margin, which replays when it exists
                for deeper in _deeper_violations(formula):
                    if left() <= 0.01:
                        break
                    again = solve(
                        deeper, frame.free_symbols(), solver, max(left(), 0.001), deadline=deadline, converters=converters
                    )
                    if again.status == "sat":
                        found = _replay_model(prop, spec, binding, frame, again.model)
                    if found is not None or again.status == "unsat":
                        break
            if found is not None:
                return _Decision(
                    "unsafe", time.perf_counter() - start, "violated (counterexample replayed)", *found,
                    real_status=real_status,
                )
            why = "the real-arithmetic counterexample did not replay"
        else:
            why = outcome.reason
    if left() <= 0.01:
        return _Decision(
            "unknown", time.perf_counter() - start, f"undecided: {why}; no time left for the bit-precise check",
            real_status=real_status,
        )
    fp = solve_fp(prop, spec, binding, solver, left())
    elapsed = time.perf_counter() - start
    if fp.status == "unsat":
        return _Decision("safe", elapsed, "proved (bit-precise float semantics)", real_status=real_status)
    if fp.status == "unknown":
        return _Decision(
            "unknown", elapsed, f"undecided: {why}; bit-precise check: {fp.reason}", real_status=real_status
        )
    fp_frame = _frame_of(prop, spec, binding)
    found = _replay_first(prop, spec, binding, fp_frame, [Concrete(fp.obs, fp.initial_state)])
    if found is None:
        raise InternalError(
            f"the bit-precise counterexample to {prop.id!r} did not replay on the concrete evaluator; please report it"
        )
    return _Decision("unsafe", elapsed, "violated (counterexample replayed)", *found, real_status=real_status)


#: margins (relative to the bound, at least absolute) by which a deeper violation is sought
DEEPER_MARGINS = (10**-9, 10**-6, 10**-3)


def _deeper_violations(formula: FNode) -> list[FNode]:
    """The violation formula ``rest and not (a1 <= b1 and ...)`` with some ``a_i`` above
    ``b_i`` by each margin of :data:`DEEPER_MARGINS` (of ``max(1, |b_i|)`` for a constant
    ``b_i``), largest first; empty when the requirement is not made of such bounds.  Only a
    search for counterexamples: what it finds is replayed, and what it misses is left to
    the bit-precise check."""
    from fractions import Fraction

    from pysmt.shortcuts import GT, And, Or, Plus, Real

    conjuncts: list[FNode] = []
    stack = [formula]
    while stack:  # the conjunction flattened, in order
        node = stack.pop()
        if node.is_and():
            stack.extend(reversed(node.args()))
        else:
            conjuncts.append(node)
    negated = [c for c in conjuncts if c.is_not()]
    if len(negated) != 1:
        return []
    last = negated[0]
    rest = [c for c in conjuncts if c is not last]
    req = last.arg(0)
    parts = list(req.args()) if req.is_and() else [req]
    if not parts or not all(p.is_le() or p.is_lt() for p in parts):
        return []
    out = []
    for m in reversed(DEEPER_MARGINS):
        over = []
        for p in parts:
            a, b = p.arg(0), p.arg(1)
            scale = max(Fraction(1), abs(Fraction(b.constant_value()))) if b.is_constant() else Fraction(1)
            over.append(GT(a, Plus(b, Real(Fraction(m) * scale))))
        out.append(And([*rest, Or(over)]))
    return out


def _replay_model(
    prop: Property, spec: Spec, binding: Binding, frame: Frame, model: Mapping[FNode, Fraction]
) -> tuple[list[Step], dict[str, dict[str, int]]] | None:
    """Decode a real model to runtime values and replay it (and its float32 neighbours)."""
    try:
        values = decode(frame, model, binding.program)
    except (OverflowError, ValueError):
        return None
    return _replay_first(prop, spec, binding, frame, [values, *_nearby(values, binding.program, seed=len(prop.id))])


def _frame_of(prop: Property, spec: Spec, binding: Binding) -> Frame:
    mode, exec_labels, obs_labels = frame_labels(prop, binding)
    return Frame(mode, exec_labels, obs_labels)


def _check_property(
    prop: Property, spec: Spec, binding: Binding, options: VerifyOptions, deadline: float | None = None,
    shared: _Shared | None = None,
) -> PropertyResult:
    program = binding.program
    timeout = options.timeout_s or prop.timeout_s or spec.timeout_s or DEFAULT_TIMEOUT_S
    base = PropertyResult(
        property_id=prop.id, kind=prop.kind, verdict=Verdict.UNKNOWN, spec_line=prop.line,
        description=prop.description, solver=options.solver, cross_checked=options.cross_check,
        policy_line=_policy_line(prop, program, None),
    )
    if deadline is not None and time.monotonic() >= deadline:
        return replace(base, message="budget exhausted before this property")
    # a cross-check compares the two solvers on the same whole encoding
    main = _decide(
        prop, spec, binding, options.solver, timeout, deadline, shared,
        tree=options.decompose and not options.cross_check,
    )
    elapsed = main.time_s
    if options.cross_check:
        other_name = "cvc5" if options.solver == "z3" else "z3"
        other = _decide(prop, spec, binding, other_name, timeout, deadline, shared, tree=False)
        elapsed += other.time_s
        if {main.real_status, other.real_status} == {"sat", "unsat"}:
            raise SolverError(
                f"solvers disagree on property {prop.id!r}: {options.solver} says {main.real_status}, "
                f"{other_name} says {other.real_status}"
            )
        if {main.status, other.status} == {"safe", "unsafe"}:
            raise SolverError(
                f"solvers disagree on property {prop.id!r}: {options.solver} says {main.status.upper()}, "
                f"{other_name} says {other.status.upper()}"
            )
        if main.status == "unknown" and other.status != "unknown":
            main = other
        elif main.status == "safe" and other.status == "unknown":
            return replace(
                base, solver_time_s=elapsed,
                message=f"{options.solver} proved it but {other_name} could not confirm ({other.message})",
            )
    if main.status == "safe":
        return replace(base, verdict=Verdict.SAFE, solver_time_s=elapsed, message=main.message)
    if main.status == "unknown":
        return replace(base, solver_time_s=elapsed, message=main.message)
    steps = main.steps or []
    cex = Counterexample(prop.id, tuple(steps), replayed=True, detail=_detail(prop, steps))
    return replace(
        base, verdict=Verdict.UNSAFE, solver_time_s=elapsed, counterexample=cex,
        message=main.message, policy_line=_policy_line(prop, program, main.lines),
    )


def _detail(prop: Property, steps: list[Step]) -> str:
    last = steps[-1] if steps else None
    if last is None:
        return ""
    acts = ", ".join(f"{k}={v}" for k, v in last.actions.items())
    return f"at {last.label}: {acts}" if acts else ""


def verify_policy(
    program: Program, spec: Spec, options: VerifyOptions | None = None, *,
    policy_path: str = "<policy>",
) -> VerifyResult:
    """Check every property of ``spec`` on ``program``."""
    opts = options or VerifyOptions()
    binding = bind_spec(spec, program)
    deadline = time.monotonic() + opts.budget_s if opts.budget_s is not None else None
    shared = _Shared()
    results = tuple(_check_property(p, spec, binding, opts, deadline, shared) for p in spec.properties)
    if spec.closed_loop:
        # closed-loop properties (safety / reach over a dynamics model) take their own
        # engines; imported only for specs that have them, so the per-state path stays light
        from saferl.closedloop import ClosedLoopOptions, verify_closed_loop

        timeout = opts.timeout_s or spec.timeout_s
        if deadline is not None:
            left = max(0.001, deadline - time.monotonic())
            timeout = min(timeout, left) if timeout else left
        results += tuple(verify_closed_loop(program, spec, ClosedLoopOptions(timeout_s=timeout), policy_path=policy_path))
    if not results:
        raise SpecError(f"{spec.path}: the spec has no properties to verify", None)
    return VerifyResult(policy_path, spec.path, program.name, program_digest(program), spec.name, results)
