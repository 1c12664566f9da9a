"""SARIF 2.1.0: one rule per property id; results point at the .pol line (and the spec line)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from saferl import __version__

_LEVEL = {"UNSAFE": "error", "UNKNOWN": "warning", "SAFE": "none"}
_KIND = {"UNSAFE": "fail", "UNKNOWN": "open", "SAFE": "pass"}


def _message(p: dict[str, Any]) -> str:
    text = f"{p['verdict']}: property {p['id']} ({p['kind']}): {p['message']}"
    cex = p.get("counterexample")
    if cex:
        parts = []
        for step in cex["steps"]:
            obs = ", ".join(f"{k}={v!r}" for k, v in step["observations"].items())
            acts = ", ".join(f"{k}={v!r}" for k, v in step["actions"].items())
            parts.append(f"[{step['label']}] {obs}" + (f" -> {acts}" if acts else ""))
        text += ". Counterexample: " + "; ".join(parts)
    return text


def render_sarif(records: Sequence[dict[str, Any]]) -> str:
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for rec in records:
        for p in rec["properties"]:
            rules.setdefault(
                p["id"],
                {
                    "id": p["id"],
                    "name": p["id"],
                    "shortDescription": {"text": p["description"] or f"{p['kind']} property {p['id']}"},
                    "properties": {"kind": p["kind"]},
                },
            )
            results.append(
                {
                    "ruleId": p["id"],
                    "level": _LEVEL[p["verdict"]],
                    "kind": _KIND[p["verdict"]],
                    "message": {"text": _message(p)},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": rec["policy"]},
                                "region": {"startLine": max(1, p["policy_line"])},
                            }
                        }
                    ],
                    "relatedLocations": [
                        {
                            "id": 1,
                            "message": {"text": "property definition"},
                            "physicalLocation": {
                                "artifactLocation": {"uri": rec["spec"]},
                                "region": {"startLine": max(1, p["spec_line"])},
                            },
                        }
                    ],
                    "properties": {
                        "verdict": p["verdict"],
                        "policyDigest": rec["policy_digest"],
                        "counterexample": p["counterexample"],
                    },
                }
            )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "saferl",
                        "version": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
