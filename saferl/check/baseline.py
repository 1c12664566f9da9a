"""Regression gating: compare a run with an earlier json report and keep only what got worse.

A pair got worse when one of its properties has a worse verdict than in the baseline
(SAFE -> UNKNOWN, SAFE or UNKNOWN -> UNSAFE), or is new to the baseline and not SAFE.
Pairs are matched by their policy and spec paths as the reports print them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from saferl.errors import InputError, Location

__all__ = ["Baseline", "load_baseline"]

_RANK = {"UNSAFE": 0, "UNKNOWN": 1, "SAFE": 2}


class Baseline:
    """Verdicts per (policy, spec) pair and property id, from an earlier ``--format json`` report."""

    def __init__(self, verdicts: Mapping[tuple[str, str], Mapping[str, str]]):
        self.verdicts = {k: dict(v) for k, v in verdicts.items()}

    def got_worse(self, record: Mapping[str, Any]) -> bool:
        """Does ``record`` (a verification record) have a property worse than the baseline's?"""
        before = self.verdicts.get((record["policy"], record["spec"]), {})
        for p in record["properties"]:
            old = before.get(p["id"], "SAFE")
            if _RANK[p["verdict"]] < _RANK[old]:
                return True
        return False


def load_baseline(path: Path) -> Baseline:
    """Read a json report written by ``saferl check --format json`` (or ``saferl verify``)."""
    from saferl.userfile import read_user_text

    text = read_user_text(path, "baseline report")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", 0)
        raise InputError(f"baseline is not JSON: {getattr(exc, 'msg', exc)}", Location(str(path), line)) from None
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, list):
        raise InputError("baseline is not a saferl json report (no 'results' list)", Location(str(path)))
    verdicts: dict[tuple[str, str], dict[str, str]] = {}
    for rec in results:
        try:
            pair = (str(rec["policy"]), str(rec["spec"]))
            props = {str(p["id"]): str(p["verdict"]) for p in rec["properties"]}
        except (KeyError, TypeError):
            raise InputError("baseline is not a saferl json report (a result lacks policy, spec or properties)",
                             Location(str(path))) from None
        if any(v not in _RANK for v in props.values()):
            raise InputError("baseline holds a verdict other than SAFE, UNSAFE or UNKNOWN", Location(str(path)))
        verdicts[pair] = props
    return Baseline(verdicts)
