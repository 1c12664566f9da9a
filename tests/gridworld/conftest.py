"""Shared fixtures of the gridworld tests: the smol-strats corpus beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

#: the corpus is GPL data read at test time, never committed: shared/ sits beside the repo
SMOL = Path(__file__).resolve().parents[2] / ".." / "shared" / "gridworld" / "smol-strats"
SMOL_NAMES = sorted(p.name for p in SMOL.iterdir() if p.is_dir()) if SMOL.is_dir() else []


@pytest.fixture
def smol() -> Path:
    """The smol-strats folder; skips the test when it is missing."""
    if not SMOL.is_dir():
        pytest.skip(f"smol-strats corpus not found at {SMOL} (clone shared/ beside the repository)")
    return SMOL
