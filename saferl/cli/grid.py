"""``saferl grid render|generate|convert``: gridworld utilities.

``render GRID [POLICY] -o out.svg|out.png`` draws the regions, their cones, the target
and (with a policy) the path it takes; ``generate`` writes a seeded random instance in our
JSON format; ``convert`` rewrites any readable instance (e.g. smol-strats) in our format.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import typer

from saferl.cli._common import (
    EXIT_OK,
    EXIT_UNSAFE,
    check_output_path,
    new_app,
    read_text_file,
    run_app,
    streams,
    write_output,
)

app = new_app("Gridworld utilities: render an instance and a path, generate or convert instances.")


@app.command()
def render(
    ctx: typer.Context,
    grid: Path = typer.Argument(..., help="The instance: our JSON or a smol-strats polygongrid.json."),
    policy: Path | None = typer.Argument(None, help="Optional program (.pol or subgoals_policy.json) whose path to draw."),
    output: Path = typer.Option(..., "--output", "-o", help="out.svg or out.png"),
    title: str | None = typer.Option(None, "--title", help="Caption (default: the grid file's name)."),
    size_px: int = typer.Option(720, "--px", help="Width of the picture in pixels."),
) -> int:
    """Draw GRID (and POLICY's path) to an SVG or PNG file."""
    from saferl.errors import InputError
    from saferl.gridworld.certify import run_program
    from saferl.gridworld.io import grid_from_text
    from saferl.gridworld.render import build_scene, write_render

    s = streams(ctx)
    if output.suffix.lower() not in (".svg", ".png"):
        raise InputError(f"unknown image type for {output}", hint="use .svg or .png")
    check_output_path(output)
    if not 100 <= size_px <= 8000:
        raise InputError("--px must be between 100 and 8000")
    path = None
    code = EXIT_OK
    if policy is not None:
        from saferl.cli.certify import load_grid_and_policy

        g, prog = load_grid_and_policy(grid, policy)
        reached, path, failure = run_program(g, prog)
        if not reached:
            s.err.write(f"saferl grid render: the program does not reach the target: "
                        f"{failure.reason if failure else 'unknown'} (drawing the path up to there)\n")
            code = EXIT_UNSAFE
    else:
        g = grid_from_text(read_text_file(grid, "grid file"), str(grid))
    caption = title or (grid.resolve().parent.name if grid.stem == "polygongrid" else grid.stem)
    write_render(build_scene(g, path, caption, size_px), output)
    s.out.write(f"wrote {output}\n")
    return code


@app.command()
def generate(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the instance here (else stdout)."),
    size: int = typer.Option(10, "--size", help="Side N of the square [0, N]^2."),
    chords: int = typer.Option(5, "--chords", help="Number of random chords."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same instance)."),
    far: bool = typer.Option(False, "--far", help="Put the target in the region farthest from the start."),
) -> int:
    """Write a seeded random instance (reachable target) in our JSON format."""
    from saferl.errors import InputError
    from saferl.gridworld.generator import generate_grid
    from saferl.gridworld.io import grid_to_json

    if not 1 <= size <= 10000 or not 0 <= chords <= 500:
        raise InputError("--size must be in 1..10000 and --chords in 0..500")
    g = generate_grid(size=size, n_chords=chords, seed=seed, far_target=far)
    write_output(grid_to_json(g), output, streams(ctx).out)
    return EXIT_OK


@app.command()
def convert(
    ctx: typer.Context,
    grid: Path = typer.Argument(..., help="Any readable instance (e.g. smol-strats polygongrid.json)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write our JSON here (else stdout)."),
) -> int:
    """Rewrite an instance in our JSON format."""
    from saferl.gridworld.io import grid_from_text, grid_to_json

    g = grid_from_text(read_text_file(grid, "grid file"), str(grid))
    write_output(grid_to_json(g), output, streams(ctx).out)
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl grid", argv, out, err)
