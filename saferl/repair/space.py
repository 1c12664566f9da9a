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

from saferl.policy.ast import BinOp, Compare, Label, Num, Obs, Param, Pid, Program, walk
from saferl.spec.load import Spec

__all__ = ["ParamSpace", "build_space", "threshold_obs", "MOVABLE_KINDS"]

MOVABLE_KINDS = ("threshold", "leaf", "gain", "constant")
#: a constant (a coefficient, a clip bound) moves at most this many times its scale
CONSTANT_RANGE = 10.0


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
        symbolic.append(k)
    return ParamSpace(program, params, tuple(symbolic), ref, weights, discrete, scales, frozenset(new), bounds)
