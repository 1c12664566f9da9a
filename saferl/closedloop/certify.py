"""The independent check of an inductive invariant, before anyone calls it SAFE.

It re-derives every alive cell's one-step image with the *rigorous* arithmetic (outward
rounding, Taylor sin/cos with remainder — not the arithmetic that built the invariant) and
checks containment cell by cell by enumeration (not by the prefix sums of the fixpoint);
it re-checks ``always`` on every cell and the initial set.  A certificate that fails is a
tool error, never SAFE.
"""

from __future__ import annotations

import numpy as np

from saferl.closedloop.invariant import (
    Grid,
    cell_images,
    initial_cells_alive,
    safe_cells,
    state_boxes,
)
from saferl.dynamics.base import Model
from saferl.policy.ast import Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["check_invariant"]


_PAIRS_PER_CHUNK = 1 << 22


def _successors_alive(alive: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per cell: is every grid cell of its image's index box [first, last] alive?  Every
    (cell, successor) pair is listed and looked up, in chunks of about _PAIRS_PER_CHUNK."""
    sizes = last - first + 1
    counts = np.prod(sizes, axis=1)
    ok = np.ones(first.shape[0], dtype=bool)
    ends = np.cumsum(counts)
    start = 0
    while start < first.shape[0]:
        # the cells whose pairs fit in this chunk (at least one cell)
        limit = (ends[start - 1] if start else 0) + _PAIRS_PER_CHUNK
        stop = max(start + 1, int(np.searchsorted(ends, limit, side="right")))
        cnt = counts[start:stop]
        rows = np.repeat(np.arange(start, stop), cnt)
        k = np.arange(rows.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)  # pair number within its cell
        cell = np.empty((rows.size, first.shape[1]), dtype=np.int64)
        for j in range(first.shape[1] - 1, -1, -1):
            size = sizes[rows, j]
            cell[:, j] = first[rows, j] + k % size
            k = k // size
        hit = alive[tuple(cell[:, j] for j in range(cell.shape[1]))]
        ok[np.unique(rows[~hit])] = False
        start = stop
    return ok


def check_invariant(model: Model, program: Program, prop: ClosedLoopProperty, grid: Grid) -> tuple[bool, str]:
    """(True, "") when the alive cells of ``grid`` form an inductive invariant inside
    ``always`` that contains the initial set; else (False, why)."""
    alive = grid.alive.reshape(grid.shape)
    lo, hi = grid.cell_bounds()
    idx = np.flatnonzero(grid.alive)
    if idx.size == 0:
        return False, "the invariant is empty"
    slo, shi = state_boxes(model, grid, lo[idx], hi[idx])
    if not safe_cells(prop, model, slo, shi, rigorous=True).all():
        return False, "a cell of the invariant violates 'always'"
    ilo, ihi = cell_images(model, program, slo, shi, rigorous=True)
    first, last, out = grid.index_ranges(ilo[:, grid.dims], ihi[:, grid.dims])
    if out.any():
        return False, "a cell's image leaves the grid"
    ok = _successors_alive(alive, first, last)
    if not ok.all():
        return False, f"{int((~ok).sum())} cells have a successor outside the invariant"
    return initial_cells_alive(model, program, grid, prop, grid.alive, rigorous=True)
