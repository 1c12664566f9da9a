"""Reports of a whole fleet (``saferl check``), from the same records as ``saferl verify``'s.

A fleet report adds three plain keys to each record — ``cached`` (the verdict came from
the cache), and with a baseline ``regression`` (the pair got worse) — and keeps the pairs
that could not be verified as error entries ``{"policy", "spec", "error"}``.

* :func:`render_fleet_text`: one line per pair, the failing properties under it, a summary table;
* :func:`render_fleet_json`: ``report.jsonfmt``'s document plus ``errors`` and ``summary``;
* :func:`render_fleet_sarif`: ``report.sarif``'s run, with artifact URIs relative to
  ``%SRCROOT%`` (as code scanning expects) and ``cached``/``baselineState`` per result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["summarize", "render_fleet_text", "render_fleet_json", "render_fleet_sarif", "first_step"]

VERDICTS = ("SAFE", "UNSAFE", "UNKNOWN", "ERROR")
SRCROOT = "%SRCROOT%"


def summarize(records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pair counts per verdict, how many came from the cache, and the worst verdict."""
    counts = {v: 0 for v in VERDICTS}
    cached = {v: 0 for v in VERDICTS}
    for rec in records:
        counts[rec["verdict"]] += 1
        cached[rec["verdict"]] += bool(rec.get("cached"))
    counts["ERROR"] = len(errors)
    worst = next((v for v in ("ERROR", "UNSAFE", "UNKNOWN") if counts[v]), "SAFE")
    return {"pairs": len(records) + len(errors), "verdict": worst, "counts": counts, "cached": cached}


def first_step(p: dict[str, Any], labels: dict[str, dict[str, str]] | None = None) -> str:
    """A counterexample in one line: the observations and actions of its steps (discrete
    actions by label when the record's ``action_labels`` are given)."""
    from saferl.report.text import action_text

    cex = p.get("counterexample")
    if not cex:
        return ""
    parts = []
    for step in cex["steps"]:
        obs = ", ".join(f"{k}={_num(v)}" for k, v in step["observations"].items())
        acts = ", ".join(
            action_text(k, v, labels) if labels else f"{k}={_num(v)}" for k, v in step["actions"].items()
        )
        parts.append(f"[{step['label']}] {obs}" + (f" -> {acts}" if acts else ""))
    return "; ".join(parts)


def _num(v: Any) -> str:
    return f"{v:.9g}" if isinstance(v, float) else str(v)


def render_fleet_text(
    records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]] = (), *, wall_s: float | None = None
) -> str:
    """One line per pair (verdict, policy × spec, properties, time or ``cached``), then a table."""
    lines = []
    for rec in records:
        props = rec["properties"]
        when = "cached" if rec.get("cached") else f"{sum(p['solver_time_s'] for p in props):.3f} s"
        tag = ""
        if "regression" in rec and rec["verdict"] != "SAFE":
            tag = "  (new)" if rec["regression"] else "  (in baseline)"
        count = f"{len(props)} propert{'y' if len(props) == 1 else 'ies'}"
        lines.append(f"{rec['verdict']:<8} {rec['policy']} × {rec['spec']}  {count}  {when}{tag}")
        for p in props:
            if p["verdict"] == "SAFE":
                continue
            lines.append(f"         {p['id']}: {p['verdict']} at {rec['policy']}:{p['policy_line']}: {p['message']}")
            cex = first_step(p, rec.get("action_labels"))
            if cex:
                lines.append(f"           counterexample {cex}")
    for e in errors:
        lines.append(f"{'ERROR':<8} {e['policy']} × {e['spec']}: {e['error']}")
    s = summarize(records, errors)
    lines += ["", f"{'verdict':<8} {'pairs':>6} {'cached':>7}"]
    for v in VERDICTS:
        lines.append(f"{v:<8} {s['counts'][v]:>6} {s['cached'][v]:>7}")
    total_cached = sum(s["cached"].values())
    tail = f"  in {wall_s:.2f} s" if wall_s is not None else ""
    lines.append(f"{'total':<8} {s['pairs']:>6} {total_cached:>7}{tail}")
    lines.append(f"verdict: {s['verdict']}")
    return "\n".join(lines) + "\n"


def render_fleet_json(
    records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]] = (), *, wall_s: float | None = None
) -> str:
    """``saferl verify``'s json document with ``errors`` and ``summary`` added."""
    from saferl.report.jsonfmt import render_json

    doc = json.loads(render_json(records))
    summary = summarize(records, errors)
    doc["verdict"] = summary["verdict"]
    if wall_s is not None:
        summary["wall_s"] = round(wall_s, 3)
    doc["summary"] = summary
    doc["errors"] = list(errors)
    return json.dumps(doc, indent=2) + "\n"


def _relative(location: dict[str, Any]) -> None:
    artifact = location["physicalLocation"]["artifactLocation"]
    uri = artifact["uri"]
    if Path(uri).is_absolute():
        artifact["uri"] = Path(uri).as_uri()
    else:
        artifact["uriBaseId"] = SRCROOT


def render_fleet_sarif(records: Sequence[dict[str, Any]], root: Path) -> str:
    """``report.sarif``'s SARIF 2.1.0 with relative URIs based at ``%SRCROOT%`` (= ``root``)."""
    from saferl.report.sarif import render_sarif

    doc = json.loads(render_sarif(records))
    run = doc["runs"][0]
    run["originalUriBaseIds"] = {SRCROOT: {"uri": root.resolve().as_uri() + "/"}}
    flat = [(rec, p) for rec in records for p in rec["properties"]]
    for result, (rec, _p) in zip(run["results"], flat, strict=True):
        for loc in result["locations"] + result.get("relatedLocations", []):
            _relative(loc)
        result["properties"]["cached"] = bool(rec.get("cached"))
        if "regression" in rec:
            result["baselineState"] = "new" if rec["regression"] else "unchanged"
    return json.dumps(doc, indent=2) + "\n"
