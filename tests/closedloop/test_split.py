"""Splitting boxes on a tree's tests in one pass per dimension, and bisecting wide boxes,
give exactly the boxes that cutting at one point at a time gives (a plain reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saferl.closedloop.bounded import _bisect_wide, _split_on_tests


def _cut_one_at_a_time(lo: np.ndarray, hi: np.ndarray, tests: list[tuple[int, float]]) -> list[tuple[float, ...]]:
    boxes = [(list(a), list(b)) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    for d, p in tests:
        if not math.isfinite(p):
            continue
        out = []
        for a, b in boxes:
            if a[d] <= p < b[d]:
                b1, a2 = list(b), list(a)
                b1[d], a2[d] = p, math.nextafter(p, math.inf)
                out += [(a, b1), (a2, b)]
            else:
                out.append((a, b))
        boxes = out
    return sorted(tuple(a + b) for a, b in boxes)


def _as_list(lo: np.ndarray, hi: np.ndarray) -> list[tuple[float, ...]]:
    return sorted(tuple(np.concatenate([a, b]).tolist()) for a, b in zip(lo, hi, strict=True))


@pytest.mark.parametrize("seed", range(30))
def test_split_on_tests_matches_cutting_one_point_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 80)), int(rng.integers(1, 5))
    lo = rng.normal(size=(n, d))
    hi = lo + rng.uniform(0, 1.5, size=(n, d))
    if seed % 4 == 0:
        hi[0] = lo[0]  # a point box
    tests = [(int(rng.integers(d)), float(rng.normal())) for _ in range(int(rng.integers(1, 8)))]
    if seed % 3 == 0:
        tests.append(tests[0])  # the same test twice (a tree testing one constant in two branches)
        tests.append((0, float(lo[0, 0])))  # a cut at a box's lower end
    if seed % 5 == 0:
        tests.append((0, -math.inf))
    got = _split_on_tests(lo, hi, tests)
    assert _as_list(*got) == _cut_one_at_a_time(lo, hi, sorted(tests))


@pytest.mark.parametrize("seed", range(10))
def test_bisect_wide_halves_exactly_the_wide_boxes(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n, d = int(rng.integers(1, 60)), int(rng.integers(1, 5))
    lo = rng.normal(size=(n, d))
    hi = lo + rng.uniform(0, 1.0, size=(n, d))
    limit = rng.uniform(0.3, 1.0, size=d)
    limit[0] = np.inf
    blo, bhi = _bisect_wide(lo, hi, limit)
    ref = [(list(a), list(b)) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)]
    for j in range(d):
        out = []
        for a, b in ref:
            if b[j] - a[j] > limit[j]:
                mid = a[j] + (b[j] - a[j]) / 2
                b1, a2 = list(b), list(a)
                b1[j], a2[j] = mid, mid
                out += [(a, b1), (a2, b)]
            else:
                out.append((a, b))
        ref = out
    assert _as_list(blo, bhi) == sorted(tuple(a + b) for a, b in ref)
