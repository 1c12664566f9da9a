"""join_boxes: every box lies in the hull of its group, and groups are exactly the boxes
whose centres share a cell (checked against a plain dictionary grouping)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saferl.closedloop.bounded import join_boxes


def _reference(lo: np.ndarray, hi: np.ndarray, cell: np.ndarray) -> list[tuple[float, ...]]:
    groups: dict[tuple[float, ...], list[int]] = {}
    for i in range(lo.shape[0]):
        key = []
        for j in range(lo.shape[1]):
            with np.errstate(invalid="ignore", over="ignore"):
                k = math.floor(((lo[i, j] + hi[i, j]) / 2) / cell[j]) if math.isfinite((lo[i, j] + hi[i, j]) / 2 / cell[j]) else math.inf
            key.append(k)
        groups.setdefault(tuple(key), []).append(i)
    return sorted(tuple(np.concatenate([lo[g].min(axis=0), hi[g].max(axis=0)]).tolist()) for g in groups.values())


@pytest.mark.parametrize("seed", range(40))
def test_groups_match_a_plain_grouping(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 300)), int(rng.integers(1, 5))
    lo = rng.normal(size=(n, d))
    hi = lo + rng.uniform(0, 0.3, size=(n, d))
    if seed % 3 == 0:
        lo[rng.integers(n), rng.integers(d)] = -np.inf
    if seed % 5 == 0:
        hi[rng.integers(n), rng.integers(d)] = np.inf
    cell = rng.uniform(0.05, 1.0, size=d)
    if seed % 4 == 0:
        cell[0] = np.inf  # a dimension left out of the key
    glo, ghi = join_boxes(lo, hi, cell)
    got = sorted(tuple(np.concatenate([a, b]).tolist()) for a, b in zip(glo, ghi, strict=True))
    assert got == _reference(lo, hi, cell)
