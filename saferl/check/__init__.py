"""``saferl check``: a fleet of policy × spec pairs, a content-hash cache, a baseline, backends.

The pieces, each with one owner:

* :mod:`saferl.check.config` — ``[tool.saferl]`` (pyproject.toml or saferl.toml);
* :mod:`saferl.check.fleet` — pairs, and checking them cache first;
* :mod:`saferl.check.cache` — the content-hash result cache;
* :mod:`saferl.check.baseline` — regression gating against an earlier json report;
* :mod:`saferl.check.backends` — in-process, a local process pool, or Ray (optional extra);
* :mod:`saferl.check.task` — the unit of work a backend runs.

Nothing here imports a solver, typer, rich or ray until a pair is actually verified.
"""

from __future__ import annotations

from saferl.check.config import CheckConfig, Group, GroupOptions, find_config, load_config
from saferl.check.fleet import Pair, PairReport, check_pairs, pairs_from_config, pairs_from_paths

__all__ = [
    "CheckConfig",
    "Group",
    "GroupOptions",
    "Pair",
    "PairReport",
    "check_pairs",
    "find_config",
    "load_config",
    "pairs_from_config",
    "pairs_from_paths",
]
