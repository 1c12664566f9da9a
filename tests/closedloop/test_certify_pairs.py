"""The certificate's containment check lists every (cell, successor cell) pair: it agrees
with a plain loop over each cell's index box, in one chunk or in many."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from saferl.closedloop import certify


@pytest.mark.parametrize("chunk", [1, 7, 1 << 22])
@pytest.mark.parametrize("seed", range(6))
def test_successors_alive_matches_a_plain_loop(seed: int, chunk: int, monkeypatch) -> None:
    monkeypatch.setattr(certify, "_PAIRS_PER_CHUNK", chunk)
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(3, 9, size=int(rng.integers(1, 4))))
    alive = rng.random(shape) < 0.85
    n = 60
    first = np.stack([rng.integers(0, s, n) for s in shape], axis=1)
    last = np.minimum(first + rng.integers(0, 4, size=first.shape), np.array(shape) - 1)
    got = certify._successors_alive(alive, first, last)
    want = [all(alive[c] for c in itertools.product(*[range(a, b + 1) for a, b in zip(lo_, hi_, strict=True)]))
            for lo_, hi_ in zip(first.tolist(), last.tolist(), strict=True)]
    assert got.tolist() == want
