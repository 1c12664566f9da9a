"""Renderers of verification records: text, json, sarif, junit — all from one plain record.

Each renderer takes ``VerifyResult.to_record()`` dicts (plain data) and returns a string,
so every format says the same thing.  Only ``text`` uses rich, imported on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "json", "sarif", "junit")


def render(records: Sequence[dict[str, Any]], fmt: str, *, allow_unknown: bool = False, color: bool = False) -> str:
    """Render verification records in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        from saferl.report.jsonfmt import render_json

        return render_json(records)
    if fmt == "sarif":
        from saferl.report.sarif import render_sarif

        return render_sarif(records)
    if fmt == "junit":
        from saferl.report.junit import render_junit

        return render_junit(records, allow_unknown=allow_unknown)
    if fmt == "text":
        from saferl.report.text import render_text

        return render_text(records, color=color)
    raise ValueError(f"unknown format {fmt!r}")
