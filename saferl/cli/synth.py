"""``saferl synth GRID -o POLICY.pol``: backward tree, Algorithm 1, then the certifier.

Nothing is written unless the program certifies.  Exit codes: 0 written (certified),
1 the target cannot be reached from the start, 2 bad input, 3 the tree hit its depth cap.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TextIO

import typer

from saferl.cli._common import (
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_UNSAFE,
    check_output_path,
    new_app,
    read_text_file,
    run_app,
    streams,
)

app = new_app("Synthesise a certified gridworld subgoal program. Exit 0 ok, 1 unreachable, 2 bad input, 3 depth cap.")


@app.command()
def synth(
    ctx: typer.Context,
    grid: Path = typer.Argument(..., help="The instance: our JSON or a smol-strats polygongrid.json."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the .pol program here (else to stdout)."),
    name: str | None = typer.Option(None, "--name", help="Policy name (default: from the file name)."),
    depth_cap: int = typer.Option(1000, "--depth-cap", help="Depth cap of the backward tree."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json (the summary)"),
) -> int:
    """Synthesise a subgoal program for GRID and certify it before writing it."""
    from saferl.errors import InputError
    from saferl.gridworld.io import grid_from_text
    from saferl.gridworld.synth import synthesize
    from saferl.gridworld.tree import build_backward_tree

    s = streams(ctx)
    if fmt not in ("text", "json"):
        raise InputError(f"unknown format {fmt!r}; formats: text, json")
    if depth_cap <= 0:
        raise InputError("--depth-cap must be positive")
    if output is not None:
        check_output_path(output)
    g = grid_from_text(read_text_file(grid, "grid file"), str(grid))
    prog_name = name or _name_from(grid)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", prog_name):
        raise InputError(f"bad policy name {prog_name!r}", hint="letters, digits and '_'; start with a letter")
    tree = build_backward_tree(g, depth_cap=depth_cap)
    if tree.length is None:
        msg = (f"the backward tree hit its depth cap {depth_cap} ({len(tree.nodes)} nodes) before reaching the start; "
               "raise --depth-cap" if tree.capped else "the target cannot be reached from the start point")
        s.err.write(f"saferl synth: {msg}\n")
        return EXIT_UNKNOWN if tree.capped else EXIT_UNSAFE
    result = _run_with_progress(lambda: synthesize(g, prog_name, depth_cap=depth_cap), s.err)
    text = result.program.text()
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write output: {exc.strerror}") from None
    rec = {"grid": str(grid), "output": str(output) if output else None, **result.to_record()}
    if fmt == "json":
        s.out.write(json.dumps(rec, indent=2) + "\n")
    elif output is None:
        s.out.write(text)
    else:
        _text(rec, s.out)
    return EXIT_OK


def _name_from(path: Path) -> str:
    stem = path.stem if path.stem not in ("polygongrid", "subgoals_policy") else path.resolve().parent.name
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", stem)
    return cleaned if cleaned and (cleaned[0].isalpha() or cleaned[0] == "_") else "p_" + cleaned


def _run_with_progress(work, err: TextIO):  # type: ignore[no-untyped-def]
    if not (hasattr(err, "isatty") and err.isatty()):
        return work()
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("backward tree, Algorithm 1, certifier"), TimeElapsedColumn(),
                  console=Console(file=err), transient=True) as progress:
        progress.add_task("synth", total=None)
        return work()


def _text(rec: dict, out: TextIO) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=110, highlight=False, force_terminal=False)
    table = Table(title="saferl synth: certified program written", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    cert = rec["certificate"]
    table.add_row("grid", rec["grid"])
    table.add_row("output", str(rec["output"]))
    table.add_row("path", f"{rec['path_length']} moves (shortest), run {cert['moves']} moves")
    table.add_row("program", f"{rec['blocks']} blocks, {rec['instructions']} instructions, {rec['bytes']} bytes, "
                  f"strategy {rec['strategy']}")
    table.add_row("size bounds", f"ours {rec['size_bound']} (2 x path + min(path, edges) + 1); paper O(|Regions|^4), "
                  f"|Regions|^4 = {rec['paper_bound_regions4']}")
    table.add_row("tree", f"{rec['tree_nodes']} nodes, {rec['tree_seconds']:.3f} s")
    table.add_row("total", f"{rec['synth_seconds']:.3f} s")
    table.add_row("digest", rec["digest"])
    console.print(table)


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl synth", argv, out, err)
