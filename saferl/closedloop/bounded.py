"""Bounded proofs: boxes of states propagated step by step under the policy.

Before each step a box is split exactly on the policy's tests of an observation that is
float32 of a state variable (the split point is the last float64 whose float32 passes the
test), so each piece runs one branch; other tests keep every branch (the union).  A box
wider than its dimension's limit is bisected.  When boxes run out of budget, the steps
proved so far are reported, never more.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from saferl.closedloop.condition import cond_boxes
from saferl.closedloop.policybox import guards, leaves_on_boxes
from saferl.dynamics.base import Model
from saferl.policy.ast import Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["BoundedOutcome", "propagate", "guard_split_point", "initial_boxes", "join_boxes"]


@dataclass
class BoundedOutcome:
    """``proved``: the property holds for steps 0..proved-1 (all of them when ``complete``)."""

    complete: bool
    proved: int
    boxes: int
    reason: str = ""
    tube: list[tuple[np.ndarray, np.ndarray]] | None = None


def guard_split_point(op: str, c: float) -> float:
    """The largest float64 s with float32(s) passing ``obs <= c`` (ops <=, >) or ``obs < c`` (<, >=)."""
    c32 = np.float32(c)
    strict = op in ("<", ">=")
    if (strict and float(c32) >= c) or (not strict and float(c32) > c):
        c32 = np.nextafter(c32, np.float32(-np.inf))
    if not np.isfinite(c32):
        return -math.inf
    nxt = np.nextafter(c32, np.float32(np.inf))
    mid = (float(c32) + float(nxt)) / 2
    return mid if np.float32(mid) == c32 else math.nextafter(mid, -math.inf)


def _split_on(lo: np.ndarray, hi: np.ndarray, d: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut every box along dimension ``d`` at each of the sorted ``points`` p with
    lo[d] <= p < hi[d]: pieces [lo, p1], [next(p1), p2], ..., [next(pk), hi] (in place of
    the box, in order), as splitting at each point in turn does."""
    first = np.searchsorted(points, lo[:, d], side="left")
    cuts = np.searchsorted(points, hi[:, d], side="left") - first
    if not cuts.any():
        return lo, hi
    rows = np.repeat(np.arange(lo.shape[0]), cuts + 1)
    starts = np.cumsum(cuts + 1) - (cuts + 1)
    j = np.arange(rows.size) - starts[rows]  # piece number within its box
    out_lo, out_hi = np.take(lo, rows, axis=0), np.take(hi, rows, axis=0)  # take: faster than lo[rows]
    k = first[rows] + j  # the cut above piece j (when j < cuts)
    above = j < cuts[rows]
    below = j > 0
    out_hi[above, d] = points[k[above]]
    out_lo[below, d] = np.nextafter(points[k[below] - 1], np.inf)
    return out_lo, out_hi


def _split_on_tests(lo: np.ndarray, hi: np.ndarray, tests: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Split on every (dimension, point) test: one pass per dimension."""
    for d in sorted({d for d, _ in tests}):
        pts = np.unique(np.array([p for e, p in tests if e == d and math.isfinite(p)], dtype=np.float64))
        if pts.size:
            lo, hi = _split_on(lo, hi, d, pts)
    return lo, hi


def _bisect_wide(lo: np.ndarray, hi: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    for d in range(lo.shape[1]):
        if not math.isfinite(limit[d]):
            continue
        wide = (hi[:, d] - lo[:, d]) > limit[d]
        if wide.any():
            rows = np.repeat(np.arange(lo.shape[0]), 1 + wide)
            second = np.zeros(rows.size, dtype=bool)
            second[1:] = rows[1:] == rows[:-1]
            first = np.zeros(rows.size, dtype=bool)
            first[:-1] = second[1:]
            mid = lo[rows, d] + (hi[rows, d] - lo[rows, d]) / 2
            lo, hi = np.take(lo, rows, axis=0), np.take(hi, rows, axis=0)
            hi[first, d] = mid[first]
            lo[second, d] = mid[second]
    return lo, hi


def initial_boxes(prop: ClosedLoopProperty, pieces: int, skip: tuple[int, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """The initial boxes cut into about ``pieces`` equal boxes each (over their wide
    dimensions, except those in ``skip``)."""
    los, his = [], []
    for box in prop.initial:
        wide = [d for d, (a, b) in enumerate(box) if b > a and d not in skip]
        k = max(1, round(pieces ** (1 / max(1, len(wide)))))
        axes = []
        for d, (a, b) in enumerate(box):
            if d in wide:
                e = np.linspace(a, b, k + 1)
                e[0], e[-1] = a, b
                axes.append((e[:-1], e[1:]))
            else:
                axes.append((np.array([a]), np.array([b])))
        grids_lo = np.meshgrid(*[ax[0] for ax in axes], indexing="ij")
        grids_hi = np.meshgrid(*[ax[1] for ax in axes], indexing="ij")
        los.append(np.stack([g.ravel() for g in grids_lo], axis=1))
        his.append(np.stack([g.ravel() for g in grids_hi], axis=1))
    return np.concatenate(los), np.concatenate(his)


def propagate(
    model: Model, program: Program, prop: ClosedLoopProperty, *, steps: int, deadline: float,
    pieces: int = 1024, width_limit: np.ndarray | None = None, max_boxes: int = 400_000, keep_tube: bool = False,
    merge_cell: np.ndarray | None = None, skip: tuple[int, ...] = (),
) -> BoundedOutcome:
    """Propagate the initial set ``steps`` steps (safety) or until the goal (reach).

    ``skip``: dimensions the initial set is not cut along (and boxes never bisected along)."""
    lo, hi = initial_boxes(prop, pieces, skip)
    names = model.state_names
    limit = np.full(model.n, np.inf) if width_limit is None else np.maximum(width_limit, 4 * (hi - lo).max(axis=0))
    limit[list(skip)] = np.inf
    tests = [(model.direct_obs[g.obs_index], guard_split_point(g.op, g.value)) for g in guards(program) if g.obs_index in model.direct_obs]
    explored = 0
    tube: list[tuple[np.ndarray, np.ndarray]] = []
    for t in range(steps + 1):
        explored += lo.shape[0]
        if keep_tube:
            tube.append((np.array([c.min() for c in lo.T]), np.array([c.max() for c in hi.T])))
        cols = {name: (lo[:, i], hi[:, i]) for i, name in enumerate(names)}
        if prop.kind == "safety":
            must, _ = cond_boxes(prop.always, cols)  # type: ignore[arg-type]
            if not np.all(must):
                return BoundedOutcome(False, t, explored, f"a set at step {t} may violate 'always'", tube)
            if t == steps:
                return BoundedOutcome(True, t + 1, explored, "", tube)
        else:
            goal, _ = cond_boxes(prop.eventually, cols)  # type: ignore[arg-type]
            goal = np.broadcast_to(goal, (lo.shape[0],))
            rest = ~goal
            if prop.avoid is not None:
                _, may_avoid = cond_boxes(prop.avoid, cols)
                if np.any(np.broadcast_to(may_avoid, rest.shape) & rest):
                    return BoundedOutcome(False, t, explored, f"a set at step {t} may enter 'avoid'", tube)
            lo, hi = lo[rest], hi[rest]
            if lo.shape[0] == 0:
                return BoundedOutcome(True, t, explored, "", tube)
            if t == steps:
                return BoundedOutcome(False, t, explored, f"{lo.shape[0]} sets have not reached the goal after {steps} steps", tube)
        if time.perf_counter() > deadline:
            return BoundedOutcome(False, t, explored, "out of time", tube)
        lo, hi = _split_on_tests(lo, hi, tests)
        lo, hi = _bisect_wide(lo, hi, limit)
        if lo.shape[0] > max_boxes:
            return BoundedOutcome(False, t, explored, f"more than {max_boxes} sets at step {t}", tube)
        olo, ohi = model.box_observe(lo, hi)
        new_lo, new_hi = [], []
        for leaf in leaves_on_boxes(program, olo, ohi):
            sel = np.flatnonzero(leaf.possible)
            a, b = model.box_step(np.take(lo, sel, axis=0), np.take(hi, sel, axis=0), leaf.low[sel], leaf.high[sel],
                                  fresh=(t == 0))
            new_lo.append(a)
            new_hi.append(b)
        lo, hi = np.concatenate(new_lo), np.concatenate(new_hi)
        if merge_cell is not None:
            lo, hi = join_boxes(lo, hi, merge_cell)
    return BoundedOutcome(True, steps + 1, explored, "", tube)  # pragma: no cover - loop returns


def join_boxes(lo: np.ndarray, hi: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes whose centres share a cell of size ``cell`` joined into their hull (a sound
    union): branches of a tree that switches every step meet again, and stay few.  Groups
    come out in the lexicographic order of their cells."""
    # column by column throughout: numpy's reductions and broadcasts over an (N, 4) array
    # are several times slower than over its columns
    cols = []
    for j in range(lo.shape[1]):
        with np.errstate(invalid="ignore", over="ignore"):
            k = np.floor(((lo[:, j] + hi[:, j]) / 2) / cell[j])
        finite = np.isfinite(k)
        if not finite.all():  # a centre at infinity (or 0/0): its own index past the others
            top = k[finite].max() if finite.any() else 0.0
            k = np.where(finite, k, top + 1.0)
        cols.append(k)
    kmin = [k.min() for k in cols]
    sizes = [k.max() - m + 1.0 for k, m in zip(cols, kmin, strict=True)]
    if float(np.prod(sizes)) < 2.0**62:  # one int64 per box (mixed radix, first column first)
        flat = np.zeros(lo.shape[0], dtype=np.int64)
        for k, m, size in zip(cols, kmin, sizes, strict=True):
            flat = flat * np.int64(size) + (k - m).astype(np.int64)
        # boxes arrive nearly in the previous join's order: a stable sort is fastest on runs
        order = np.argsort(flat, kind="stable")
        fs = flat[order]
    else:
        ikey = np.stack(cols, axis=1).astype(np.int64)
        order = np.lexsort(ikey.T[::-1])
        sk = ikey[order]
        fs = np.concatenate([[0], np.cumsum(np.any(sk[1:] != sk[:-1], axis=1))])
    starts = np.flatnonzero(np.concatenate([[True], fs[1:] != fs[:-1]]))
    lo_s, hi_s = np.take(lo, order, axis=0), np.take(hi, order, axis=0)  # take: faster than lo[order]
    return np.minimum.reduceat(lo_s, starts, axis=0), np.maximum.reduceat(hi_s, starts, axis=0)
