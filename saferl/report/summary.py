"""A Markdown summary for ``$GITHUB_STEP_SUMMARY``: the verdict, counts, and what failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from saferl.report.fleet import VERDICTS, summarize

__all__ = ["render_summary"]

_ICON = {"SAFE": "✅", "UNSAFE": "❌", "UNKNOWN": "⚠️", "ERROR": "💥"}
MAX_ROWS = 100


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_summary(
    records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]] = (), *, wall_s: float | None = None
) -> str:
    """Markdown: a headline, a table of counts, then one row per failing property (at most 100)."""
    s = summarize(records, errors)
    total_cached = sum(s["cached"].values())
    took = f" in {wall_s:.2f} s" if wall_s is not None else ""
    out = [
        "## saferl check",
        "",
        f"{_ICON[s['verdict']]} **{s['verdict']}**: {s['pairs']} policy × spec pairs, "
        f"{total_cached} from the cache{took}.",
        "",
        "| verdict | pairs | cached |",
        "| --- | ---: | ---: |",
    ]
    out += [f"| {v} | {s['counts'][v]} | {s['cached'][v]} |" for v in VERDICTS]
    rows = []
    for rec in records:
        for p in rec["properties"]:
            if p["verdict"] != "SAFE":
                known = " (in baseline)" if rec.get("regression") is False else ""
                rows.append(
                    f"| {p['verdict']}{known} | `{_cell(rec['policy'])}:{p['policy_line']}` | "
                    f"`{_cell(rec['spec'])}` | {_cell(p['id'])} | {_cell(p['message'])} |"
                )
    rows += [f"| ERROR | `{_cell(e['policy'])}` | `{_cell(e['spec'])}` | | {_cell(e['error'])} |" for e in errors]
    if rows:
        out += ["", "| verdict | policy | spec | property | detail |", "| --- | --- | --- | --- | --- |"]
        out += rows[:MAX_ROWS]
        if len(rows) > MAX_ROWS:
            out.append(f"\n… and {len(rows) - MAX_ROWS} more; see the SARIF or json report.")
    return "\n".join(out) + "\n"
