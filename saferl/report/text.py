"""Text for people: a table of verdicts, then each counterexample.

A record may carry ``action_labels`` (``{action: {"0": "left", ...}}``, see
:func:`action_labels`); discrete actions in counterexamples are then named by label, as the
policy names them, rather than by number.

The layout is rich's (a heavy-headed table, lines wrapped at ``width`` columns).  A plain
report of printable ASCII whose table fits the width is written directly, without
importing rich (``saferl verify`` in CI: rich was a fifth of its start-up); colour, a table
that must wrap and other characters go through rich (:func:`render_text_rich`), which lays
out the same text.  Either way every string is literal: a ``[`` or ``:name:`` in a path,
id or message is printed as written, not read as markup or an emoji.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

__all__ = ["action_labels", "action_text", "render_text", "render_text_rich"]

_STYLE = {"SAFE": "bold green", "UNSAFE": "bold red", "UNKNOWN": "bold yellow"}
_HEADERS = ("property", "kind", "verdict", "time", "where", "detail")
#: the columns justified right
_RIGHT = frozenset({3})
#: rich's heavy-headed box: top, header row, header rule, body rows, bottom
_TOP, _HEAD, _RULE, _ROW, _BOTTOM = "┏━┳┓", "┃ ┃┃", "┡━╇┩", "│ ││", "└─┴┘"

#: a word as rich wraps them: leading blanks, the word, trailing blanks
_WORD = re.compile(r"\s*\S+\s*")

#: a line of (text, style) pieces
_Line = list[tuple[str, str]]
#: a table: rows of cells, and the style of each row's verdict
_Table = tuple[list[tuple[str, ...]], list[str]]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.9g}"
    return str(v)


def action_labels(program: Any) -> dict[str, dict[str, str]]:
    r"""Labels of a program's discrete actions by value, as plain data for a record.

    Example:
        >>> from saferl.policy import parse_policy
        >>> action_labels(parse_policy("policy p\nobs x: float32\nact a: discrete {l = 0, r = 1}\na = l\n"))
        {'a': {'0': 'l', '1': 'r'}}
    """
    return {
        a.name: {str(value): label for label, value in a.labels}
        for a in getattr(program, "actions", ())
        if a.kind == "discrete" and a.labels
    }


def action_text(name: str, value: Any, labels: dict[str, dict[str, str]]) -> str:
    """``name=label`` for a discrete action's value (``labels`` from :func:`action_labels`), else ``name=value``."""
    names = labels.get(name)
    if names and isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        label = names.get(str(int(value)))
        if label is not None:
            return f"{name}={label}"
    return f"{name}={_fmt(value)}"


def _blocks(records: Sequence[dict[str, Any]]) -> list[_Line | _Table]:
    """The report as lines of styled text and tables, before any layout."""
    out: list[_Line | _Table] = []
    for rec in records:
        out.append([(f"policy {rec['policy']} ({rec['policy_name']}, {rec['policy_digest'][:19]})", "")])
        out.append([(f"spec   {rec['spec']} ({rec['spec_name']})", "")])
        rows: list[tuple[str, ...]] = [
            (p["id"], p["kind"], p["verdict"], f"{p['solver_time_s']:.3f} s",
             f"{PurePath(rec['policy']).name}:{p['policy_line']}", p["message"])
            for p in rec["properties"]
        ]
        out.append((rows, [_STYLE[p["verdict"]] for p in rec["properties"]]))
        labels = rec.get("action_labels") or {}
        for p in rec["properties"]:
            cex = p.get("counterexample")
            if not cex:
                continue
            out.append([(f"counterexample to {p['id']}", "bold"), (" (replayed on the concrete evaluator):", "")])
            for step in cex["steps"]:
                obs = ", ".join(f"{k}={_fmt(v)}" for k, v in step["observations"].items())
                out.append([(f"  [{step['label']}] obs: {obs}", "")])
                if step["state"]:
                    st = ", ".join(f"{k}={_fmt(v)}" for k, v in step["state"].items())
                    out.append([(f"       state: {st}", "")])
                if step["actions"]:
                    acts = ", ".join(action_text(k, v, labels) for k, v in step["actions"].items())
                    out.append([(f"       action: {acts}", "")])
        counts = {v: sum(1 for p in rec["properties"] if p["verdict"] == v) for v in ("SAFE", "UNSAFE", "UNKNOWN")}
        out.append([
            ("verdict: ", ""), (rec["verdict"], _STYLE[rec["verdict"]]),
            (f"  ({counts['SAFE']} safe, {counts['UNSAFE']} unsafe, {counts['UNKNOWN']} unknown)", ""),
        ])
    return out


def _plain(s: str) -> bool:
    """Printable ASCII: one character per column, nothing rich would expand or wrap on."""
    return s.isascii() and s.isprintable()


def _wrap(line: str, width: int) -> list[str]:
    """A line of printable ASCII wrapped as rich wraps a printed line: at the blanks before
    a word that does not fit, a word longer than the width folded; blanks past the width
    dropped."""
    cuts: list[int] = []
    used = 0
    for m in _WORD.finditer(line):
        start, word = m.start(), m.group()
        size = len(word.rstrip())
        if width - used >= size:
            used += len(word)
        elif size > width:  # folded: pieces of the width, the last one goes on
            pieces = [word[k : k + width] for k in range(0, len(word), width)]
            for piece in pieces[:-1]:
                if start:
                    cuts.append(start)
                start += len(piece)
            if start:
                cuts.append(start)
            used = len(pieces[-1])
        elif used and start:
            cuts.append(start)
            used = len(word)
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(line)]):
        piece = line[a:b]
        if len(piece) > width:
            blanks = len(piece) - len(piece.rstrip())
            piece = piece[: len(piece) - min(blanks, len(piece) - width)][:width]
        out.append(piece)
    return out


def _column_widths(rows: list[tuple[str, ...]]) -> list[int]:
    """Each column's width with its padding: its widest cell, plus one space either side."""
    return [max(len(c) for c in column) + 2 for column in zip(_HEADERS, *rows)]


def _render_plain(blocks: list[_Line | _Table], width: int) -> str | None:
    """The report without rich, or None where rich's layout would differ from the text as
    written (wrapping, wide or control characters, an empty table)."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, list):
            line = "".join(text for text, _ in block)
            if not _plain(line):
                return None
            out.extend(_wrap(line, width) if len(line) > width else (line,))
            continue
        rows = block[0]
        if not rows or not all(_plain(c) for row in rows for c in row):
            return None
        widths = _column_widths(rows)
        if sum(widths) + len(widths) + 1 > width:
            return None
        out.append(_TOP[0] + _TOP[2].join(_TOP[1] * w for w in widths) + _TOP[3])
        out.append(_cells(_HEADERS, widths, _HEAD))
        out.append(_RULE[0] + _RULE[2].join(_RULE[1] * w for w in widths) + _RULE[3])
        out.extend(_cells(row, widths, _ROW) for row in rows)
        out.append(_BOTTOM[0] + _BOTTOM[2].join(_BOTTOM[1] * w for w in widths) + _BOTTOM[3])
    return "".join(line + "\n" for line in out)


def _cells(row: tuple[str, ...], widths: list[int], box: str) -> str:
    # rich pads a left-justified cell as it is and strips a right-justified one first
    cells = [
        f" {c.rstrip().rjust(w - 2) if k in _RIGHT else c.ljust(w - 2)} " for k, (c, w) in enumerate(zip(row, widths))
    ]
    return box[0] + box[2].join(cells) + box[3]


def render_text(records: Sequence[dict[str, Any]], *, color: bool = False, width: int = 110) -> str:
    """The text report of verification records (``VerifyResult.to_record()``), ``width``
    columns wide; ANSI colours with ``color``."""
    blocks = _blocks(records)
    if not color:
        text = _render_plain(blocks, width)
        if text is not None:
            return text
    return _render_rich(blocks, color, width)


def render_text_rich(records: Sequence[dict[str, Any]], *, color: bool = False, width: int = 110) -> str:
    """:func:`render_text` laid out by rich in every case (the same text where both apply)."""
    return _render_rich(_blocks(records), color, width)


def _render_rich(blocks: list[_Line | _Table], color: bool, width: int) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color, highlight=False)
    for block in blocks:
        if isinstance(block, list):
            console.print(Text.assemble(*block))
            continue
        rows, styles = block
        table = Table(show_edge=True, header_style="bold")
        for k, name in enumerate(_HEADERS):
            table.add_column(name, justify="right" if k in _RIGHT else "left",
                             overflow="fold" if name == "detail" else "ellipsis")
        for row, style in zip(rows, styles):
            # the verdict's style spans the word only, not the cell's padding
            table.add_row(*(Text.assemble((c, style if k == 2 else "")) for k, c in enumerate(row)))
        console.print(table)
    return buf.getvalue()
