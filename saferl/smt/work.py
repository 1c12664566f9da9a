"""Solver limits that give the same answer on every machine.

A search that stops each solver call after so many seconds takes a different path on a
slower or busier machine: an optimiser cut short returns another model, the next
candidate differs, and a repair that succeeds here runs out of its budget elsewhere.
z3's resource limit (``rlimit``) counts the solver's own steps instead, so a call bounded
by it returns the same answer wherever it runs.  Searches (repair, counterexample
extremes) state their solver work in *nominal seconds*, converted at
:data:`RLIMIT_PER_S` (z3's rate on the reference 2-core machine); the wall clock cuts a
call only when the caller's whole budget ends, or when a call runs :data:`WALL_SLACK`
times its nominal length (a machine that much slower, or a query whose units come slowly).

Verdicts never depend on this: a verifier's ``--timeout`` stays a wall-clock limit, and a
limit reached is ``unknown`` either way.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["RLIMIT_PER_S", "WALL_SLACK", "bound", "used", "wall_limit"]

#: z3 resource units per nominal second.  z3 counts 0.1-3 million units per CPU second on
#: this machine depending on the query (repair's bisection on clipped PID terms is the
#: slowest); 2 million keeps the TORCS programs' repairs as successful as a wall-clock
#: limit was here, deterministically
RLIMIT_PER_S = 2_000_000
#: how many times its nominal length a bounded call may run on the wall clock: a query
#: whose units come slowly is cut there (its answer then depends on the machine again,
#: which is the price of keeping a repair's running time bounded)
WALL_SLACK = 4.0


def bound(solver: Any, work_s: float, deadline: float | None = None, units: int | None = None) -> int:
    """Limit ``solver``'s next checks to ``work_s`` nominal seconds of work (or ``units``
    resource units), and on the wall clock to ``deadline`` (``time.perf_counter()``) or
    :data:`WALL_SLACK` × ``work_s``, whichever is first.  Returns the units granted."""
    n = max(1, int(work_s * RLIMIT_PER_S) if units is None else int(units))
    wall = max(work_s, n / RLIMIT_PER_S) * WALL_SLACK
    if deadline is not None:
        wall = min(wall, deadline - time.perf_counter())
    solver.set("rlimit", n)
    solver.set("timeout", max(1, int(wall * 1000)))
    return n


def used(solver: Any) -> int:
    """The resource units ``solver``'s context has counted so far (cumulative)."""
    try:
        return int(solver.statistics().get_key_value("rlimit count"))
    except Exception:  # a check that never ran has no statistics yet
        return 0


def wall_limit(work_s: float, deadline: float | None = None) -> float:
    """Seconds for a call that only a wall clock can bound (the guarded solver's child
    process): ``work_s``, cut at ``deadline`` (``time.perf_counter()``)."""
    if deadline is None:
        return work_s
    return max(0.05, min(work_s, deadline - time.perf_counter()))
