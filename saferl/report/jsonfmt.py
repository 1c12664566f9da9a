"""JSON: the records themselves, one object per policy × spec, in a list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from saferl import __version__


def render_json(records: Sequence[dict[str, Any]]) -> str:
    verdicts = [r["verdict"] for r in records]
    worst = "UNSAFE" if "UNSAFE" in verdicts else "UNKNOWN" if "UNKNOWN" in verdicts else "SAFE"
    doc = {"saferl": __version__, "verdict": worst, "results": list(records)}
    return json.dumps(doc, indent=2) + "\n"
