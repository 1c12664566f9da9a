"""GitHub Actions workflow commands: one annotation per failing property, on its .pol line.

UNSAFE is an ``::error``, UNKNOWN a ``::warning``; a pair that could not be verified is an
``::error`` on the policy file.  Values are escaped as the runner expects (``%``, CR, LF
everywhere; ``:`` and ``,`` in properties too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from saferl.report.fleet import first_step

__all__ = ["render_github"]

_LEVEL = {"UNSAFE": "error", "UNKNOWN": "warning"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]] = ()) -> str:
    """Workflow-command lines for every UNSAFE or UNKNOWN property and every error."""
    lines = []
    for rec in records:
        for p in rec["properties"]:
            level = _LEVEL.get(p["verdict"])
            if level is None:
                continue
            title = f"saferl {p['verdict']}: {p['id']}"
            message = f"{p['message']} (spec {rec['spec']}:{p['spec_line']})"
            cex = first_step(p, rec.get("action_labels"))
            if cex:
                message += f"\ncounterexample {cex}"
            if rec.get("cached"):
                message += "\n(cached verdict)"
            lines.append(
                f"::{level} file={_prop(rec['policy'])},line={max(1, p['policy_line'])},"
                f"title={_prop(title)}::{_data(message)}"
            )
    for e in errors:
        lines.append(f"::error file={_prop(e['policy'])},title=saferl error::{_data(e['spec'] + ': ' + e['error'])}")
    return "\n".join(lines) + ("\n" if lines else "")
