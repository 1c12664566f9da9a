"""Unbounded safety: a grid of cells over the state variables the property needs (closed
under the step), each cell's one-step image under the policy, and the greatest fixpoint of
"safe and every successor cell alive" — an inductive invariant when it holds the initial set.

Variables outside the grid are unconstrained (the policy may see any value of them), which
is sound because the grid's variables do not depend on them.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saferl.closedloop.condition import cond_boxes
from saferl.closedloop.policybox import leaves_on_boxes
from saferl.dynamics.base import Model
from saferl.policy.ast import Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["Grid", "cell_images", "greatest_fixpoint", "initial_cells_alive", "safe_cells", "state_boxes"]


@dataclass
class Grid:
    """Cells over ``dims`` (state indices): cell i of a dimension holds the floats in
    [edges[i], edges[i+1]) — every float of the grid's range is in exactly one cell, so a
    cell whose edges are a tree's split points runs one branch."""

    dims: list[int]
    edges: list[np.ndarray]
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def cells(self) -> int:
        return int(np.prod(self.shape))

    def cell_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(C, len(dims)) lower and upper bounds of every cell, in C order."""
        idx = np.indices(self.shape).reshape(len(self.dims), -1)
        lo = np.stack([self.edges[j][idx[j]] for j in range(len(self.dims))], axis=1)
        hi = np.stack([np.nextafter(self.edges[j][idx[j] + 1], -np.inf) for j in range(len(self.dims))], axis=1)
        return lo, hi

    def index_ranges(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per box (N, len(dims)): first and last cell index per dim, and 'leaves the grid'."""
        first = np.empty(lo.shape, dtype=np.int64)
        last = np.empty(lo.shape, dtype=np.int64)
        out = np.zeros(lo.shape[0], dtype=bool)
        for j, e in enumerate(self.edges):
            a, b = lo[:, j], hi[:, j]
            out |= ~(a >= e[0]) | ~((b < e[-1]) | (e[-1] == np.inf))  # an infinite last edge holds inf
            k = len(e) - 1
            first[:, j] = np.clip(np.searchsorted(e, a, side="right") - 1, 0, k - 1)
            last[:, j] = np.clip(np.searchsorted(e, b, side="right") - 1, 0, k - 1)
        return first, last, out


def state_boxes(model: Model, grid: Grid, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full state boxes for grid boxes: other variables unconstrained."""
    n = lo.shape[0]
    slo = np.full((n, model.n), -np.inf)
    shi = np.full((n, model.n), np.inf)
    slo[:, grid.dims] = lo
    shi[:, grid.dims] = hi
    return slo, shi


def cell_images(
    model: Model, program: Program, slo: np.ndarray, shi: np.ndarray, fresh: bool = False, rigorous: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Enclosure of the successors of each state box under the policy (union over the
    assignments the policy may execute on the box)."""
    olo, ohi = model.box_observe(slo, shi, rigorous=rigorous)
    img_lo = np.full(slo.shape, np.inf)
    img_hi = np.full(slo.shape, -np.inf)
    for leaf in leaves_on_boxes(program, olo, ohi):
        sel = np.flatnonzero(leaf.possible)
        lo, hi = model.box_step(slo[sel], shi[sel], leaf.low[sel], leaf.high[sel], fresh=fresh, rigorous=rigorous)
        img_lo[sel] = np.fmin(img_lo[sel], lo)
        img_hi[sel] = np.fmax(img_hi[sel], hi)
    img_lo = np.where(np.isnan(img_lo), -np.inf, img_lo)
    img_hi = np.where(np.isnan(img_hi), np.inf, img_hi)
    return img_lo, img_hi


def _box_count(prefix: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Sum of a grid over index boxes [first, last] from its zero-padded prefix sums."""
    total = np.zeros(first.shape[0], dtype=np.int64)
    d = first.shape[1]
    for bits in itertools.product((0, 1), repeat=d):
        idx = tuple(np.where(np.array(bits)[None, j] == 1, last[:, j] + 1, first[:, j]) for j in range(d))
        sign = (-1) ** (d - sum(bits))
        total += sign * prefix[idx]
    return total


def greatest_fixpoint(
    grid: Grid, safe: np.ndarray, first: np.ndarray, last: np.ndarray, out: np.ndarray, deadline: float = math.inf,
) -> tuple[np.ndarray, int]:
    """Cells that are safe and whose every successor cell is alive (flat C-order mask);
    past ``deadline``, no cell (an invariant is never guessed)."""
    alive = safe & ~out
    rounds = 0
    while True:
        rounds += 1
        if time.perf_counter() > deadline:
            return np.zeros_like(alive), rounds
        dead = (~alive).reshape(grid.shape).astype(np.int64)
        prefix = np.pad(dead, [(1, 0)] * dead.ndim)
        for ax in range(dead.ndim):
            prefix = np.cumsum(prefix, axis=ax)
        idx = np.flatnonzero(alive)
        bad = _box_count(prefix, first[idx], last[idx]) > 0
        if not bad.any():
            return alive, rounds
        alive[idx[bad]] = False


def initial_cells_alive(
    model: Model, program: Program, grid: Grid, prop: ClosedLoopProperty, alive: np.ndarray, rigorous: bool = False,
) -> tuple[bool, str]:
    """Every initial state lies in an alive cell, and so does its first (fresh) successor."""
    flat_alive = alive.reshape(grid.shape)
    for box in prop.initial:
        lo = np.array([[box[d][0] for d in grid.dims]])
        hi = np.array([[box[d][1] for d in grid.dims]])
        first, last, out = grid.index_ranges(lo, hi)
        if out[0]:
            return False, "the initial set leaves the grid"
        sl = tuple(slice(first[0, j], last[0, j] + 1) for j in range(len(grid.dims)))
        if not flat_alive[sl].all():
            return False, "the invariant does not contain the initial set"
        # the first step from a reset state (float64-typed) may differ: check its image
        sub = np.indices([s.stop - s.start for s in sl]).reshape(len(sl), -1).T + first[0]
        clo = np.stack([grid.edges[j][sub[:, j]] for j in range(len(sl))], axis=1)
        chi = np.stack([np.nextafter(grid.edges[j][sub[:, j] + 1], -np.inf) for j in range(len(sl))], axis=1)
        clo, chi = np.maximum(clo, lo), np.minimum(chi, hi)
        slo = np.array([[b[0] for b in box]] * len(clo))
        shi = np.array([[b[1] for b in box]] * len(clo))
        slo[:, grid.dims], shi[:, grid.dims] = clo, chi
        ilo, ihi = cell_images(model, program, slo, shi, fresh=True, rigorous=rigorous)
        f2, l2, o2 = grid.index_ranges(ilo[:, grid.dims], ihi[:, grid.dims])
        if o2.any():
            return False, "the first step from the initial set leaves the grid"
        for i in range(len(f2)):
            sl2 = tuple(slice(f2[i, j], l2[i, j] + 1) for j in range(len(sl)))
            if not flat_alive[sl2].all():
                return False, "the first step from the initial set leaves the invariant"
    return True, ""


def safe_cells(prop: ClosedLoopProperty, model: Model, slo: np.ndarray, shi: np.ndarray, rigorous: bool = False) -> Any:
    """Cells on which ``always`` certainly holds."""
    cols = {name: (slo[:, i], shi[:, i]) for i, name in enumerate(model.state_names)}
    must, _ = cond_boxes(prop.always, cols, rigorous=rigorous)  # type: ignore[arg-type]
    return np.broadcast_to(must, (slo.shape[0],)).copy()
