"""Text for people: a rich table of verdicts, then each counterexample.

A record may carry ``action_labels`` (``{action: {"0": "left", ...}}``, see
:func:`action_labels`); discrete actions in counterexamples are then named by label, as the
policy names them, rather than by number.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

_STYLE = {"SAFE": "bold green", "UNSAFE": "bold red", "UNKNOWN": "bold yellow"}


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


def render_text(records: Sequence[dict[str, Any]], *, color: bool = False, width: int = 110) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, no_color=not color, highlight=False)
    for rec in records:
        console.print(f"policy {rec['policy']} ({rec['policy_name']}, {rec['policy_digest'][:19]})")
        console.print(f"spec   {rec['spec']} ({rec['spec_name']})")
        table = Table(show_edge=True, header_style="bold")
        table.add_column("property")
        table.add_column("kind")
        table.add_column("verdict")
        table.add_column("time", justify="right")
        table.add_column("where")
        table.add_column("detail", overflow="fold")
        for p in rec["properties"]:
            style = _STYLE[p["verdict"]]
            table.add_row(
                p["id"], p["kind"], f"[{style}]{p['verdict']}[/]", f"{p['solver_time_s']:.3f} s",
                f"{PurePath(rec['policy']).name}:{p['policy_line']}", p["message"],
            )
        console.print(table)
        for p in rec["properties"]:
            cex = p.get("counterexample")
            if not cex:
                continue
            console.print(f"[bold]counterexample to {p['id']}[/] (replayed on the concrete evaluator):")
            for step in cex["steps"]:
                obs = ", ".join(f"{k}={_fmt(v)}" for k, v in step["observations"].items())
                console.print(f"  [{step['label']}] obs: {obs}", markup=False)
                if step["state"]:
                    st = ", ".join(f"{k}={_fmt(v)}" for k, v in step["state"].items())
                    console.print(f"       state: {st}", markup=False)
                if step["actions"]:
                    labels = rec.get("action_labels") or {}
                    acts = ", ".join(action_text(k, v, labels) for k, v in step["actions"].items())
                    console.print(f"       action: {acts}", markup=False)
        counts = {v: sum(1 for p in rec["properties"] if p["verdict"] == v) for v in ("SAFE", "UNSAFE", "UNKNOWN")}
        console.print(
            f"verdict: [{_STYLE[rec['verdict']]}]{rec['verdict']}[/]  "
            f"({counts['SAFE']} safe, {counts['UNSAFE']} unsafe, {counts['UNKNOWN']} unknown)"
        )
    return buf.getvalue()
