"""What the real-TORCS tests share: the skip marker and a census of live TORCS children.

Imported by tests under tests/ (``sys.path`` gets this folder first, as for the other
test-support modules).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from saferl.envs.torcs.errors import TorcsNotInstalledError
from saferl.envs.torcs.launcher import find_installation

__all__ = ["needs_torcs", "torcs_installed", "live_torcs_children"]


def torcs_installed() -> bool:
    """Whether real TORCS and saferl's robot are installed here."""
    try:
        find_installation()
    except TorcsNotInstalledError:
        return False
    return True


needs_torcs = pytest.mark.skipif(not torcs_installed(), reason="real TORCS is not installed; run: bash torcs-robot/install.sh")


def live_torcs_children() -> set[int]:
    """TORCS processes this test process started that are still alive (zombies count as gone)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if name.startswith("torcs") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found
