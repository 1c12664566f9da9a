"""The shield's look-ahead: closed-loop ``safety`` properties of the spec, turned into tables.

Imported by :class:`~saferl.shield.Shield` only when its spec has closed-loop properties
(so a shield over per-state properties never imports the dynamics or closed-loop engines).
For each ``safety`` property the fallback program is proved with an inductive invariant
(``saferl.closedloop``, certificate re-checked) and the invariant becomes a
:class:`~saferl.closedloop.lookahead.LookaheadTable`; at run time a proposed action runs only
if every table allows it.  ``reach`` properties cannot be enforced by a one-step check and
are listed as unmonitored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from saferl.closedloop.engine import ClosedLoopOptions, check_property
from saferl.closedloop.lookahead import ALLOWED, OUTSIDE, VETOED, LookaheadTable, check_env_matches
from saferl.errors import InputError, UnsupportedError
from saferl.policy.ast import Program
from saferl.results import Verdict
from saferl.spec.load import Spec

if TYPE_CHECKING:
    from saferl.results import PropertyResult

__all__ = ["Lookahead", "build_lookahead", "ALLOWED", "VETOED", "OUTSIDE"]


class Lookahead:
    """The look-ahead check of a shield: one table per proved ``safety`` property."""

    def __init__(self, tables: Sequence[LookaheadTable], results: Sequence[PropertyResult]):
        self.tables = tuple(tables)
        self.results = tuple(results)
        self.ids = tuple(t.prop_id for t in self.tables)
        #: ``code(obs, action)``: 0 when every table allows the action (the first table's
        #: own check when there is one table: the shield's fast path calls it every step)
        self.code = self.tables[0].check if len(self.tables) == 1 else (lambda o, a: self.check(o, a)[0])

    def check(self, obs: Sequence[float], action: int) -> tuple[int, str | None]:
        """(:data:`ALLOWED`, None), or the first table's objection and its property id."""
        for t in self.tables:
            code = t.check(obs, action)
            if code != ALLOWED:
                return code, t.prop_id
        return ALLOWED, None


def build_lookahead(
    env: Any, spec: Spec, fallback: Program, *, timeout_s: float | None = None,
) -> tuple[Lookahead | None, list[tuple[str, str]], list[tuple[str, str]]]:
    """Prove every closed-loop ``safety`` property of ``spec`` for ``fallback`` and build
    the tables.  Returns the look-ahead (None without a table), (id, why) of the closed-loop
    properties it cannot enforce, and (id, why) of the ``safety`` properties the fallback
    is not proved for (no inductive invariant: the caller refuses or skips them).

    Raises InputError when a ``safety`` property's model is not the environment.
    """
    tables: list[LookaheadTable] = []
    results: list[PropertyResult] = []
    skipped: list[tuple[str, str]] = []
    unproved: list[tuple[str, str]] = []
    for prop in spec.closed_loop:
        if prop.kind != "safety":
            skipped.append((prop.id, f"a '{prop.kind}' property: a one-step look-ahead cannot enforce it"))
            continue
        check_env_matches(env, prop)
        out = check_property(fallback, prop, ClosedLoopOptions(timeout_s=timeout_s))
        if out.invariant is None or out.result.verdict is not Verdict.SAFE:
            unproved.append((prop.id, f"{out.result.verdict.value}: {out.result.message}"))
            continue
        try:
            tables.append(LookaheadTable.from_outcome(fallback, prop, out))
        except UnsupportedError as exc:
            raise InputError(f"property {prop.id!r}: {exc}") from None
        results.append(out.result)
    return (Lookahead(tables, results) if tables else None), skipped, unproved
