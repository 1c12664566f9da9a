"""``saferl certify GRID POLICY``: certify a gridworld subgoal program with exact arithmetic.

GRID is our JSON instance or a smol-strats ``polygongrid.json``; POLICY is a .pol subgoal
program or a smol-strats ``subgoals_policy.json``.  Exit codes: 0 certified (the target is
reached, every move checked), 1 refuted (the first failing step is reported), 2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import typer

from saferl.cli._common import EXIT_OK, EXIT_UNSAFE, new_app, read_text_file, run_app, streams

app = new_app("Certify a gridworld subgoal program. Exit 0 certified, 1 refuted, 2 bad input.")


def load_grid_and_policy(grid: Path, policy: Path) -> tuple[Any, Any]:
    """Read GRID and POLICY through the CLI's file reader; check a smol policy's own grid."""
    from saferl.errors import Location, ModelFileError
    from saferl.gridworld.io import grid_from_text, program_from_text, same_grid

    g = grid_from_text(read_text_file(grid, "grid file"), str(grid))
    prog, embedded = program_from_text(read_text_file(policy, "policy file"), str(policy))
    if embedded is not None and not same_grid(g, embedded):
        raise ModelFileError("the policy file embeds a different grid than the one given", Location(str(policy)),
                             hint="pass the polygongrid.json the policy was made for")
    return g, prog


@app.command()
def certify(
    ctx: typer.Context,
    grid: Path = typer.Argument(..., help="The instance: our JSON or a smol-strats polygongrid.json."),
    policy: Path = typer.Argument(..., help="The program: .pol or a smol-strats subgoals_policy.json."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    max_moves: int = typer.Option(1000, "--max-moves", help="Refute if the target is not reached within this many moves."),
    depth_cap: int = typer.Option(1000, "--depth-cap", help="Depth cap of the backward tree (shortest-path check)."),
    no_shortest: bool = typer.Option(False, "--no-shortest", help="Skip the shortest-path comparison."),
    require_shortest: bool = typer.Option(False, "--require-shortest", help="Refute a path longer than the shortest one."),
) -> int:
    """Run POLICY on GRID from the start point and check every move exactly."""
    import time

    from saferl.errors import InputError
    from saferl.gridworld.certify import certify_program

    s = streams(ctx)
    if fmt not in ("text", "json"):
        raise InputError(f"unknown format {fmt!r}; formats: text, json")
    if max_moves <= 0 or depth_cap <= 0:
        raise InputError("--max-moves and --depth-cap must be positive")
    t0 = time.perf_counter()
    g, prog = load_grid_and_policy(grid, policy)
    t_load = time.perf_counter() - t0
    result = certify_program(g, prog, max_moves=max_moves, check_shortest=not no_shortest,
                             depth_cap=depth_cap, require_shortest=require_shortest)
    record = {
        "grid": str(grid),
        "policy": str(policy),
        "program": prog.name,
        "regions": g.n_regions,
        "blocks": len(prog.blocks),
        "load_seconds": round(t_load, 6),
        "total_seconds": round(time.perf_counter() - t0, 6),
        **result.to_record(),
    }
    if fmt == "json":
        s.out.write(json.dumps(record, indent=2) + "\n")
    else:
        _text(record, s.out)
    return EXIT_OK if result.certified else EXIT_UNSAFE


def _text(rec: dict[str, Any], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, width=110, highlight=False, force_terminal=out.isatty() if hasattr(out, "isatty") else False)
    verdict = "CERTIFIED" if rec["certified"] else "REFUTED"
    table = Table(title=f"saferl certify: {verdict}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("grid", f"{rec['grid']} ({rec['regions']} regions)")
    table.add_row("policy", f"{rec['policy']} ({rec['blocks']} blocks, {rec['program_instructions']} instructions, "
                  f"{rec['program_bytes']} bytes)")
    table.add_row("target reached", "yes" if rec["reached"] else "no")
    table.add_row("moves", str(rec["moves"]))
    if rec["shortest_length"] is not None:
        table.add_row("shortest path", f"{rec['shortest_length']} moves ({'shortest' if rec['shortest'] else 'not shortest'})")
    elif rec["tree_capped"]:
        table.add_row("shortest path", "unknown (backward tree hit its depth cap)")
    table.add_row("time", f"{rec['total_seconds']:.3f} s (load {rec['load_seconds']:.3f} s, run and check {rec['seconds']:.3f} s)")
    f = rec["failure"]
    if f:
        table.add_row("failing step", str(f["step"] + 1))
        table.add_row("at point", _short(f["point"]))
        table.add_row("rule", _short(f["rule"]))
        table.add_row("why", _short(f["reason"]))
    for note in rec["notes"]:
        table.add_row("note", note)
    console.print(table)


def _short(text: str, limit: int = 300) -> str:
    """Long exact rationals (hundreds of digits) shortened for the table; JSON keeps them whole."""
    import re

    def cut(m: re.Match[str]) -> str:
        digits = m.group(0)
        return digits if len(digits) <= 24 else f"{digits[:8]}...({len(digits)} digits)"

    text = re.sub(r"\d+", cut, text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl certify", argv, out, err)
