"""Which parameters a repair may move, what moving each one costs, and their domains.

Costs are per unit of change and scale-free: a threshold costs ``|Δ| / width`` of the
spec's domain of the observation it compares, a discrete leaf costs 1 when its label
changes, a gain costs its relative change, a continuous leaf or constant ``|Δ| / scale``.
Divisors never move, and where two parameters multiply each other (a pid's target and its
gains, ``c1 * c2 * x``) only one side moves, so every repair problem stays linear.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from saferl.policy.ast import Assign, BinOp, Compare, If, Label, Num, Obs, Param, Pid, Program, Stmt, walk
from saferl.spec.load import Spec

__all__ = ["ParamSpace", "build_space", "threshold_obs", "MOVABLE_KINDS"]

MOVABLE_KINDS = ("threshold", "leaf", "gain", "constant")
#: a constant (a coefficient, a clip bound) moves at most this many times its scale
CONSTANT_RANGE = 10.0
#: a new split's threshold stays this share of its range (the leaf's box) inside both ends
SPLIT_INSIDE = 2.0**-20


@dataclass
class ParamSpace:
    """The symbolic parameters of one program and the cost of moving each."""

    program: Program
    params: dict[int, Param]
    symbolic: tuple[int, ...]
    base: dict[int, float]
    weights: dict[int, float]
    discrete: dict[int, tuple[int, ...]] = field(default_factory=dict)
    scales: dict[int, float] = field(default_factory=dict)
    new: frozenset[int] = frozenset()
    #: closed ranges some parameters must stay in (constants: coefficients of linear terms)
    bounds: dict[int, tuple[float, float]] = field(default_factory=dict)


def threshold_obs(program: Program) -> dict[int, str]:
    """Parameter id -> the observation a threshold is compared with (``x <= c``)."""
    by_node = {id(p.node): p.id for p in program.parameters()}
    out: dict[int, str] = {}
    for node in walk(program.body):
        if isinstance(node, Compare):
            for a, b in ((node.left, node.right), (node.right, node.left)):
                if isinstance(a, Obs) and isinstance(b, Num) and id(b) in by_node:
                    out[by_node[id(b)]] = a.name
    return out


def _nonlinear_partners(program: Program) -> set[int]:
    """Parameters that must stay fixed so that no product of two parameters appears."""
    by_node = {id(p.node): p.id for p in program.parameters()}
    fixed: set[int] = set()

    def nums(e: object) -> list[int]:
        return [by_node[id(n)] for n in walk_expr(e) if isinstance(n, Num | Label) and id(n) in by_node]

    for node in walk(program.body):
        if isinstance(node, BinOp) and node.op == "*":
            left, right = nums(node.left), nums(node.right)
            if left and right:
                fixed.update(right)
        if isinstance(node, Pid):
            fixed.add(by_node[id(node.target)])
            if nums(node.signal):  # signal constants multiply the gains
                fixed.update(nums(node.signal))
    return fixed


def walk_expr(e: object) -> list[object]:
    from saferl.policy.ast import walk_node

    return list(walk_node(e))


def _scale_of_obs(program: Program, spec: Spec, name: str, value: float) -> float:
    if name in spec.domains:
        lo, hi = spec.domains[name]
        if hi > lo and hi - lo < float("inf"):
            return hi - lo
    decl = program.observation(name)
    if decl.low is not None and decl.high is not None and decl.high > decl.low:
        return decl.high - decl.low
    return max(abs(value), 1.0)


def _obs_domain(program: Program, spec: Spec, name: str) -> tuple[float, float] | None:
    """The finite range an observation is verified over (the spec's, else its declaration's)."""
    if name in spec.domains:
        lo, hi = spec.domains[name]
    else:
        decl = program.observation(name)
        if decl.low is None or decl.high is None:
            return None
        lo, hi = decl.low, decl.high
    if not (float("-inf") < lo < hi < float("inf")):
        return None
    return float(lo), float(hi)


Box = dict[str, tuple[float, float]]


def _narrow(box: Box, cond: object, holds: bool) -> Box:
    """``box`` cut by a simple comparison ``obs op constant`` (or its negation); other
    conditions leave it as it is (a box that is too large only weakens the bound)."""
    if not (isinstance(cond, Compare) and cond.op in ("<", "<=", ">", ">=")):
        return box
    if isinstance(cond.left, Obs) and isinstance(cond.right, Num):
        name, c, op = cond.left.name, float(cond.right.value), cond.op
    elif isinstance(cond.right, Obs) and isinstance(cond.left, Num):
        name, c = cond.right.name, float(cond.left.value)
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[cond.op]
    else:
        return box
    upper = (op in ("<", "<=")) == holds  # the condition (or its negation) bounds from above
    lo, hi = box.get(name, (float("-inf"), float("inf")))
    out = dict(box)
    out[name] = (lo, min(hi, c)) if upper else (max(lo, c), hi)
    return out


def _split_boxes(body: tuple[Stmt, ...], box: Box, out: dict[int, Box]) -> None:
    """For every comparison of an ``if``: the box of simple path conditions it is under."""
    for st in body:
        if isinstance(st, Assign) or not isinstance(st, If):
            continue
        here = box
        for cond, branch in st.branches:
            out[id(cond)] = here
            _split_boxes(branch, _narrow(here, cond, True), out)
            here = _narrow(here, cond, False)
        _split_boxes(st.orelse, here, out)


def _split_range(program: Program, spec: Spec, param: Param, name: str) -> tuple[float, float] | None:
    """Where a new split's threshold keeps both sides non-empty: inside the observation's
    verified domain, cut by the path conditions above the split."""
    dom = _obs_domain(program, spec, name)
    boxes: dict[int, Box] = {}
    _split_boxes(program.body, {}, boxes)
    for node in walk(program.body):
        if isinstance(node, Compare) and (node.left is param.node or node.right is param.node):
            lo, hi = boxes.get(id(node), {}).get(name, (float("-inf"), float("inf")))
            if dom is not None:
                lo, hi = max(lo, dom[0]), min(hi, dom[1])
            if float("-inf") < lo < hi < float("inf"):
                return lo, hi
            return None
    return None


def build_space(
    program: Program, spec: Spec, base: Mapping[int, float] | None = None,
    new: Collection[int] = (), kinds: Collection[str] = MOVABLE_KINDS,
    fixed: Collection[int] = (),
) -> ParamSpace:
    """The repair space of ``program``: movable parameters, reference values, costs.

    ``base`` overrides the reference values (the original program's, after an edit);
    ``new`` names parameters an edit introduced (cheap to set, no original value).
    """
    params = {p.id: p for p in program.parameters()}
    ref = {k: p.value for k, p in params.items()}
    if base:
        ref.update(base)
    locked = _nonlinear_partners(program) | set(fixed)
    thr_obs = threshold_obs(program)
    symbolic: list[int] = []
    weights: dict[int, float] = {}
    scales: dict[int, float] = {}
    discrete: dict[int, tuple[int, ...]] = {}
    bounds: dict[int, tuple[float, float]] = {}
    for k, p in params.items():
        if p.kind not in kinds or k in locked:
            continue
        v = ref[k]
        if p.kind == "threshold":
            if k not in thr_obs:
                scale = max(abs(v), 1.0)
            else:
                scale = _scale_of_obs(program, spec, thr_obs[k], v)
        elif p.kind == "leaf":
            decl = program.action(p.action) if p.action else None
            if decl is not None and decl.kind == "discrete":
                discrete[k] = tuple(val for _, val in decl.labels)
                scale = 1.0
            elif decl is not None and decl.low is not None and decl.high is not None and decl.high > decl.low:
                scale = decl.high - decl.low
            else:
                scale = max(abs(v), 1.0)
        elif p.kind == "gain":
            scale = max(abs(v), 1e-3)
        else:
            scale = max(abs(v), 1.0)
            bounds[k] = (v - CONSTANT_RANGE * scale, v + CONSTANT_RANGE * scale)
        scales[k] = scale
        weights[k] = 1.0 / scale
        if k in new and p.kind == "threshold":
            weights[k] = 1e-3 / scale  # no original value: only a tie-breaker
            rng = _split_range(program, spec, p, thr_obs[k]) if k in thr_obs else None
            if rng is not None:
                # a split keeps both sides inside the leaf's box on the verified domain: a
                # threshold at or past its end hands the whole leaf to the new one (a
                # replacement, not a split)
                lo, hi = rng
                bounds[k] = (lo + SPLIT_INSIDE * (hi - lo), hi - SPLIT_INSIDE * (hi - lo))
        symbolic.append(k)
    return ParamSpace(program, params, tuple(symbolic), ref, weights, discrete, scales, frozenset(new), bounds)
