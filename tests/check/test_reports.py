"""The fleet renderers on fixed records (golden files; SAFERL_UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from saferl.report.fleet import render_fleet_json, render_fleet_sarif, render_fleet_text
from saferl.report.github import render_github
from saferl.report.summary import render_summary

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _records() -> tuple[list[dict], list[dict]]:
    worst = json.loads((GOLDEN / "verify_worst.json").read_text())["results"][0]
    near = json.loads((GOLDEN / "verify_near_optimal.json").read_text())["results"][0]
    records = [dict(worst, cached=True, regression=False), dict(near, cached=False, regression=False)]
    errors = [{"policy": "policies/x.pol", "spec": "specs/y.yaml", "error": "observation 'v' is not declared, 50% sure"}]
    return records, errors


def _golden(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SAFERL_UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text()


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("check_fleet.txt", lambda r, e: render_fleet_text(r, e, wall_s=1.5)),
        ("check_fleet.github", render_github),
        ("check_fleet.md", lambda r, e: render_summary(r, e, wall_s=1.5)),
    ],
)
def test_golden(name: str, render) -> None:  # type: ignore[no-untyped-def]
    records, errors = _records()
    _golden(name, render(records, errors))


def test_github_escapes_what_the_runner_reads() -> None:
    records, errors = _records()
    lines = render_github(records, errors).splitlines()
    assert lines[-1] == "::error file=policies/x.pol,title=saferl error::specs/y.yaml: observation 'v' is not declared, 50%25 sure"
    assert all("\n" not in line for line in lines)


def test_json_and_sarif_keep_the_flags(tmp_path: Path) -> None:
    records, errors = _records()
    doc = json.loads(render_fleet_json(records, errors, wall_s=2.0))
    assert doc["verdict"] == "ERROR" and doc["errors"] == errors
    assert doc["summary"] == {
        "pairs": 3, "verdict": "ERROR", "wall_s": 2.0,
        "counts": {"SAFE": 1, "UNSAFE": 1, "UNKNOWN": 0, "ERROR": 1},
        "cached": {"SAFE": 0, "UNSAFE": 1, "UNKNOWN": 0, "ERROR": 0},
    }
    run = json.loads(render_fleet_sarif(records, tmp_path))["runs"][0]
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.resolve().as_uri() + "/"}}
    assert [r["properties"]["cached"] for r in run["results"]] == [True] * 3 + [False] * 3
    assert {r["baselineState"] for r in run["results"]} == {"unchanged"}
    absolute = dict(records[0], policy="/elsewhere/p.pol")
    loc = json.loads(render_fleet_sarif([absolute], tmp_path))["runs"][0]["results"][0]["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": "file:///elsewhere/p.pol"}
