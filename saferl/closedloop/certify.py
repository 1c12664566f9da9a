"""The independent check of an inductive invariant, before anyone calls it SAFE.

It re-derives every alive cell's one-step image with the *rigorous* arithmetic (outward
rounding, Taylor sin/cos with remainder — not the arithmetic that built the invariant) and
checks containment cell by cell by enumeration (not by the prefix sums of the fixpoint);
it re-checks ``always`` on every cell and the initial set.  A certificate that fails is a
tool error, never SAFE.
"""

from __future__ import annotations

import itertools

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
    span = last - first
    ok = np.ones(idx.size, dtype=bool)
    for offset in itertools.product(*[range(int(s) + 1) for s in span.max(axis=0)]):
        off = np.array(offset)
        inside = np.all(off[None, :] <= span, axis=1)
        cell = first + np.minimum(off[None, :], span)
        ok &= ~inside | alive[tuple(cell[:, j] for j in range(cell.shape[1]))]
    if not ok.all():
        return False, f"{int((~ok).sum())} cells have a successor outside the invariant"
    return initial_cells_alive(model, program, grid, prop, grid.alive, rigorous=True)
