"""Reading and writing gridworld files: our JSON instances, smol-strats files and .pol.

:func:`load_grid` accepts our format (``{"format": "saferl-gridworld", ...}``, see
docs/gridworld-format.md) and smol-strats ``polygongrid.json`` / ``subgoals_policy.json``;
:func:`load_program` accepts .pol text (the gridworld family) and smol-strats
``subgoals_policy.json``.  Errors are ModelFileError / PolicyParseError with the path.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from saferl.errors import InputError, Location, ModelFileError
from saferl.gridworld.geometry import Point, cone_from_letters, cone_letters, format_fraction
from saferl.gridworld.instance import GridWorld, build_from_polygons
from saferl.gridworld.polfile import parse_subgoal_pol
from saferl.gridworld.program import SubgoalProgram
from saferl.gridworld.smolstrats import (
    grid_from_smol,
    is_smol_grid,
    is_smol_policy,
    policy_from_smol,
)

__all__ = [
    "FORMAT_NAME",
    "grid_from_text",
    "program_from_text",
    "grid_to_json",
    "load_grid",
    "load_program",
    "load_grid_and_program",
    "save_grid_json",
    "same_grid",
]

FORMAT_NAME = "saferl-gridworld"


def _read(path: Path, what: str) -> str:
    loc = Location(str(path))
    if path.is_dir():
        raise InputError(f"{what} is a directory, not a file", loc)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", loc) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", loc) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{what} is not valid UTF-8 (byte {exc.start})", loc) from None


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"not valid JSON: {exc.msg}", Location(path, exc.lineno, exc.colno)) from None
    except RecursionError:
        raise ModelFileError("JSON nested too deeply", Location(path)) from None


def _num(v: Any, where: str, path: str) -> Fraction:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise ModelFileError(f"{where}: garbage coordinate {v!r}", Location(path),
                             hint="write coordinates as integers or exact strings like \"3/7\" (no floats)")
    if isinstance(v, int):
        return Fraction(v)
    from saferl.gridworld.geometry import parse_fraction

    try:
        return parse_fraction(v)
    except (ValueError, ZeroDivisionError):
        raise ModelFileError(f"{where}: garbage coordinate {v!r}", Location(path),
                             hint="write coordinates as integers or exact strings like \"3/7\"") from None


def _point(v: Any, where: str, path: str) -> Point:
    if not isinstance(v, list) or len(v) != 2:
        raise ModelFileError(f"{where}: a point must be [x, y]", Location(path))
    return (_num(v[0], where, path), _num(v[1], where, path))


def grid_from_ours(doc: dict[str, Any], path: str) -> GridWorld:
    """A GridWorld from our JSON document (already parsed)."""
    loc = Location(path)
    if doc.get("format") != FORMAT_NAME:
        raise ModelFileError(f"unknown format {doc.get('format')!r}, expected {FORMAT_NAME!r}", loc)
    if doc.get("version") != 1:
        raise ModelFileError(f"unsupported version {doc.get('version')!r} (this saferl reads version 1)", loc)
    size = doc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ModelFileError(f"'size' must be a positive integer, got {size!r}", loc)
    regions = doc.get("regions")
    if not isinstance(regions, list) or not regions:
        raise ModelFileError("'regions' must be a non-empty list", loc)
    polys: list[list[Point]] = []
    cones: list[int] = []
    for r, reg in enumerate(regions):
        if not isinstance(reg, dict):
            raise ModelFileError(f"regions[{r}] must be an object with 'vertices' and 'moves'", loc)
        verts = reg.get("vertices")
        if not isinstance(verts, list):
            raise ModelFileError(f"regions[{r}].vertices must be a list of points", loc)
        polys.append([_point(v, f"regions[{r}].vertices[{j}]", path) for j, v in enumerate(verts)])
        moves = reg.get("moves", "")
        if not isinstance(moves, str):
            raise ModelFileError(f"regions[{r}].moves must be a string of L, R, U, D", loc)
        try:
            cones.append(cone_from_letters(moves))
        except ValueError as exc:
            raise ModelFileError(f"regions[{r}].moves: {exc}", loc) from None
    target = doc.get("target")
    if not isinstance(target, int) or isinstance(target, bool):
        raise ModelFileError("'target' must be a region index", loc)
    start = _point(doc.get("start"), "start", path)
    return build_from_polygons(size, polys, cones, target, start, path)


def grid_to_json(grid: GridWorld) -> str:
    """Our JSON text of a grid (regions as counter-clockwise vertex lists)."""

    def num(x: Fraction) -> int | str:
        return x.numerator if x.denominator == 1 else format_fraction(x)

    head = {
        "format": FORMAT_NAME,
        "version": 1,
        "size": grid.size,
        "start": [num(grid.start[0]), num(grid.start[1])],
        "target": grid.target,
    }
    regions = [
        {"moves": cone_letters(grid.cones[r]), "vertices": [[num(p[0]), num(p[1])] for p in grid.polygon(r)]}
        for r in range(grid.n_regions)
    ]
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "regions": [')
    regs = [f"    {json.dumps(reg, separators=(', ', ': '))}" for reg in regions]
    lines.append(",\n".join(regs))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def grid_from_text(text: str, path: str = "<grid>") -> GridWorld:
    """Parse a grid file's text: our JSON or a smol-strats file."""
    doc = _json(text, path)
    if isinstance(doc, dict):
        return grid_from_ours(doc, path)
    if is_smol_grid(doc) or is_smol_policy(doc):
        return grid_from_smol(doc, path)
    raise ModelFileError("not a gridworld instance: expected our JSON object or a smol-strats file", Location(path))


def program_from_text(
    text: str, path: str = "<policy>", validate_embedded: bool = False
) -> tuple[SubgoalProgram, GridWorld | None]:
    """Parse a policy: .pol text, or a smol-strats subgoals_policy.json (which also holds its grid).

    The grid a smol-strats policy embeds is returned for comparison with the instance
    given; its geometry is validated only with ``validate_embedded``.
    """
    stripped = text.lstrip()
    if stripped.startswith("["):
        doc = _json(text, path)
        name = Path(path).parent.name or "smol"
        grid, prog = policy_from_smol(doc, path, _safe_name(name), validate_embedded)
        return prog, grid
    return parse_subgoal_pol(text, path), None


def _safe_name(name: str) -> str:
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
        cleaned = "p_" + cleaned
    return cleaned


def load_grid(path: Path | str) -> GridWorld:
    """Read and validate a grid file (our JSON, smol-strats polygongrid.json or policy)."""
    p = Path(path)
    return grid_from_text(_read(p, "grid file"), str(p))


def load_program(path: Path | str) -> tuple[SubgoalProgram, GridWorld | None]:
    """Read a policy (.pol or smol-strats subgoals_policy.json); the grid it embeds, if any."""
    p = Path(path)
    return program_from_text(_read(p, "policy file"), str(p))


def same_grid(a: GridWorld, b: GridWorld) -> bool:
    """Whether two grids describe the same regions, cones and target (half-edge order aside)."""
    if a.size != b.size or a.n_regions != b.n_regions:
        return False

    def key(g: GridWorld) -> set[tuple[Any, ...]]:
        return {(g.he_start[h], g.he_end[h], g.cones[g.he_region[h]], g.he_region[h] == g.target)
                for h in range(len(g.he_start))}

    return key(a) == key(b)


def load_grid_and_program(grid_path: Path | str, policy_path: Path | str) -> tuple[GridWorld, SubgoalProgram]:
    """Read both files; a smol-strats policy's embedded grid must match the given grid."""
    grid = load_grid(grid_path)
    prog, embedded = load_program(policy_path)
    if embedded is not None and not same_grid(grid, embedded):
        raise ModelFileError("the policy file embeds a different grid than the one given", Location(str(policy_path)),
                             hint="pass the polygongrid.json the policy was made for")
    return grid, prog


def save_grid_json(grid: GridWorld, path: Path | str) -> None:
    """Write a grid in our JSON format."""
    Path(path).write_text(grid_to_json(grid), encoding="utf-8")
