"""The text report: written directly where it fits, through rich otherwise, the same text either way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.report.text import render_text, render_text_rich

ROOT = Path(__file__).resolve().parents[2]
VERDICTS = ("SAFE", "UNSAFE", "UNKNOWN")

# printable ASCII with the characters rich treats specially (markup brackets, emoji colons,
# runs of spaces), some wide or combining characters and a tab (rich's path)
_ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=16)
_WORDS = st.lists(st.sampled_from(["proved", "[bold]", ":smile:", "a", "x" * 30, "y" * 75, "  ", "timeout"]), max_size=6).map(" ".join)
_ODD = st.one_of(st.text(max_size=12), st.sampled_from(["", "é", "東京", "a\tb", "e\u0301", "x" * 60]))
_TEXT = st.one_of(_ASCII, _ASCII, _ASCII, _WORDS, _ODD)
_NAME = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)


@st.composite
def _records(draw: st.DrawFn) -> list[dict[str, object]]:
    # half the reports are short printable ASCII (written directly), the others anything
    text = _ASCII if draw(st.booleans()) else _TEXT
    records = []
    for _ in range(draw(st.integers(1, 2))):
        props = []
        for _ in range(draw(st.integers(0, 4))):
            verdict = draw(st.sampled_from(VERDICTS))
            cex = None
            if verdict == "UNSAFE":
                obs = draw(st.dictionaries(_NAME | st.just("z" * 130), st.floats(allow_nan=False, width=32) | st.integers(-9, 9), max_size=draw(st.sampled_from([2, 3, 12]))))
                cex = {"steps": [{
                    "label": draw(st.sampled_from(["t", "a", "b"])), "observations": obs,
                    "state": draw(st.dictionaries(_NAME, st.floats(-1, 1), max_size=2)),
                    "actions": {"push": draw(st.sampled_from([0, 1, 0.5]))},
                }]}
            props.append({
                "id": draw(text), "kind": draw(st.sampled_from(["invariant", "bounds", "smoothness"])),
                "verdict": verdict, "solver_time_s": draw(st.floats(0, 1e4)), "policy_line": draw(st.integers(1, 10**6)),
                "message": draw(text), "counterexample": cex,
            })
        records.append({
            "policy": draw(st.sampled_from(["p.pol", "policies/cartpole/worst.pol", "a [b]/c d.pol", "x" * 90 + ".pol", "d/" + "x " * 70 + "/p.pol"])),
            "policy_name": draw(text), "policy_digest": "sha256:" + "ab12" * 16, "spec": draw(text),
            "spec_name": draw(text), "verdict": draw(st.sampled_from(VERDICTS)), "properties": props,
            "action_labels": {"push": {"0": "left", "1": "right"}},
        })
    return records


@settings(max_examples=200, deadline=None)
@given(_records(), st.sampled_from([110, 110, 110, 80, 200, 20]))
def test_plain_text_is_riches_layout(records: list[dict[str, object]], width: int) -> None:
    assert render_text(records, width=width) == render_text_rich(records, width=width)


def test_strings_are_literal() -> None:
    record = {
        "policy": "a[bold]b:smile:.pol", "policy_name": "n", "policy_digest": "sha256:00", "spec": "s.yaml",
        "spec_name": "[red]x[/]", "verdict": "SAFE", "properties": [{
            "id": "p[1]", "kind": "invariant", "verdict": "SAFE", "solver_time_s": 0.0, "policy_line": 3,
            "message": "proved", "counterexample": None,
        }],
    }
    for render in (render_text, render_text_rich):
        text = render([record])
        assert "policy a[bold]b:smile:.pol (n, sha256:00)" in text and "spec   s.yaml ([red]x[/])" in text
        assert "│ p[1]     │" in text


def test_plain_verify_report_does_not_import_rich(tmp_path: Path) -> None:
    code = (
        "import sys, io\nfrom saferl.cli import run\nout = io.StringIO()\n"
        "code = run(['verify', 'policies/cartpole/near_optimal.pol', '--spec', 'specs/cartpole/pole_follow.yaml'], out, sys.stderr)\n"
        "assert code == 0 and 'verdict: SAFE' in out.getvalue(), code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'typer', 'torch', 'z3', 'pysmt')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_lines_and_tables_at_the_width() -> None:
    for extra in range(-2, 3):  # the table and the counterexample line about exactly 110 columns wide
        prop = {
            "id": "follow", "kind": "invariant", "verdict": "UNSAFE", "solver_time_s": 0.5, "policy_line": 7,
            "message": "m" * (49 + extra) + " end", "counterexample": {"steps": [{
                "label": "t", "observations": {"x": 1.5, "y" * (90 + extra): 2}, "state": {}, "actions": {"push": 1},
            }]},
        }
        record = {
            "policy": "p.pol", "policy_name": "p", "policy_digest": "sha256:00", "spec": "s" * (99 + extra),
            "spec_name": "s", "verdict": "UNSAFE", "properties": [prop], "action_labels": {"push": {"1": "right"}},
        }
        text = render_text([record])
        assert text == render_text_rich([record])
        assert max(len(line) for line in text.splitlines()) <= 110
