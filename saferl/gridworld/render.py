"""Drawing an instance, its cones, the target and a path: SVG by hand, PNG via matplotlib.

Both outputs come from one list of primitives in pixel coordinates (y pointing down), so
they look alike.  matplotlib is imported only when a PNG is asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from saferl.errors import InputError, MissingDependencyError
from saferl.gridworld.geometry import D_BIT, L_BIT, R_BIT, U_BIT, Point
from saferl.gridworld.instance import GridWorld

__all__ = ["Scene", "build_scene", "scene_to_svg", "write_render"]

_PALETTE = [
    "#dbe9f6", "#e3f1dc", "#fbe7d3", "#ece0f3", "#dff3f1", "#f6e0e6", "#eef0d6", "#e4e4f7",
    "#d9efe5", "#f7ecd5", "#e6dcd3", "#dde8ea", "#f1dde9", "#e2efd3", "#e8e0da", "#d8e4f0",
]
_TARGET = "#f5c542"
_BLOCKED = "#d0d0d0"
_PATH = "#1f4fd6"
_START = "#1a9b3c"


@dataclass(frozen=True)
class Poly:
    points: tuple[tuple[float, float], ...]
    fill: str
    stroke: str
    width: float


@dataclass(frozen=True)
class Line:
    a: tuple[float, float]
    b: tuple[float, float]
    stroke: str
    width: float
    arrow: bool = False


@dataclass(frozen=True)
class Dot:
    c: tuple[float, float]
    r: float
    fill: str


@dataclass(frozen=True)
class Text:
    at: tuple[float, float]
    text: str
    size: float
    color: str = "#222222"


@dataclass(frozen=True)
class Scene:
    """Primitives in pixel coordinates on a ``width`` x ``height`` canvas."""

    width: int
    height: int
    items: tuple[object, ...]


def build_scene(grid: GridWorld, path: list[Point] | None = None, title: str = "", px: int = 720) -> Scene:
    """Regions (filled by cone, target in gold, no-move regions grey), cone arrows, start, path."""
    margin = 24
    legend = 46
    scale = (px - 2 * margin) / grid.size
    H = px + legend

    def tr(p: Point | tuple[float, float]) -> tuple[float, float]:
        return (margin + float(p[0]) * scale, margin + (grid.size - float(p[1])) * scale)

    items: list[object] = []
    for r in range(grid.n_regions):
        poly = grid.polygon(r)
        if r == grid.target:
            fill = _TARGET
        elif grid.cones[r] == 0:
            fill = _BLOCKED
        else:
            fill = _PALETTE[grid.cones[r] % len(_PALETTE)]
        items.append(Poly(tuple(tr(p) for p in poly), fill, "#7a7a7a", 0.6))
    items.append(Poly(tuple(tr((x, y)) for x, y in ((0, 0), (grid.size, 0), (grid.size, grid.size), (0, grid.size))),
                      "none", "#000000", 1.6))
    for r in range(grid.n_regions):
        if r == grid.target or grid.cones[r] == 0:
            continue
        pts = [tr(p) for p in grid.polygon(r)]
        cx = sum(p[0] for p in pts) / len(pts)
        cy = sum(p[1] for p in pts) / len(pts)
        # distance from the centre to the nearest side bounds the glyph size
        near = min(_dist_to_segment((cx, cy), pts[i - 1], pts[i]) for i in range(len(pts)))
        length = min(16.0, 0.8 * near)
        if length < 3:
            continue
        for bit, (dx, dy) in ((L_BIT, (-1, 0)), (R_BIT, (1, 0)), (U_BIT, (0, -1)), (D_BIT, (0, 1))):
            if grid.cones[r] & bit:
                items.append(Line((cx, cy), (cx + dx * length, cy + dy * length), "#333333", 1.1, True))
    if path:
        pts = [tr(p) for p in path]
        for a, b in zip(pts, pts[1:]):
            items.append(Line(a, b, _PATH, 1.8))
        for p in pts[1:]:
            items.append(Dot(p, 2.2, _PATH))
    tpts = [tr(p) for p in grid.polygon(grid.target)]
    tc = (sum(p[0] for p in tpts) / len(tpts), sum(p[1] for p in tpts) / len(tpts))
    items.append(Dot(tc, 6.0, "#7a5b00"))
    items.append(Dot(tc, 4.2, _TARGET))
    items.append(Dot(tr(grid.start), 4.5, _START))
    caption = title or "gridworld"
    caption += f" - {grid.n_regions} regions, size {grid.size}"
    if path:
        caption += f", path of {len(path) - 1} moves"
    items.append(Text((margin, px + 4), caption, 13))
    items.append(Text((margin, px + 24), "gold: target  grey: no moves  green: start  blue: path  arrows: allowed moves", 11, "#555555"))
    return Scene(px, H, tuple(items))


def _dist_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = 0.0 if den == 0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / den))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def _arrow_head(a: tuple[float, float], b: tuple[float, float], size: float = 4.0) -> list[tuple[float, float]]:
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    left = (b[0] - size * math.cos(ang - 0.45), b[1] - size * math.sin(ang - 0.45))
    right = (b[0] - size * math.cos(ang + 0.45), b[1] - size * math.sin(ang + 0.45))
    return [b, left, right]


def scene_to_svg(scene: Scene) -> str:
    """The scene as standalone SVG text."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{scene.width}" height="{scene.height}" '
        f'viewBox="0 0 {scene.width} {scene.height}">',
        f'<rect width="{scene.width}" height="{scene.height}" fill="#ffffff"/>',
    ]

    def f(x: float) -> str:
        return f"{x:.2f}"

    for it in scene.items:
        if isinstance(it, Poly):
            pts = " ".join(f"{f(x)},{f(y)}" for x, y in it.points)
            out.append(f'<polygon points="{pts}" fill="{it.fill}" stroke="{it.stroke}" stroke-width="{it.width}"/>')
        elif isinstance(it, Line):
            out.append(f'<line x1="{f(it.a[0])}" y1="{f(it.a[1])}" x2="{f(it.b[0])}" y2="{f(it.b[1])}" '
                       f'stroke="{it.stroke}" stroke-width="{it.width}"/>')
            if it.arrow:
                pts = " ".join(f"{f(x)},{f(y)}" for x, y in _arrow_head(it.a, it.b))
                out.append(f'<polygon points="{pts}" fill="{it.stroke}"/>')
        elif isinstance(it, Dot):
            out.append(f'<circle cx="{f(it.c[0])}" cy="{f(it.c[1])}" r="{it.r}" fill="{it.fill}"/>')
        elif isinstance(it, Text):
            out.append(f'<text x="{f(it.at[0])}" y="{f(it.at[1] + it.size)}" font-family="sans-serif" '
                       f'font-size="{it.size}" fill="{it.color}">{escape(it.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _write_png(scene: Scene, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Circle, Polygon
    except ImportError:
        raise MissingDependencyError("matplotlib", "learn") from None
    dpi = 100
    fig = plt.figure(figsize=(scene.width / dpi, scene.height / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    for it in scene.items:
        if isinstance(it, Poly):
            ax.add_patch(Polygon(it.points, closed=True, facecolor="none" if it.fill == "none" else it.fill,
                                 edgecolor=it.stroke, linewidth=it.width * 0.75))
        elif isinstance(it, Line):
            ax.plot([it.a[0], it.b[0]], [it.a[1], it.b[1]], color=it.stroke, linewidth=it.width * 0.75)
            if it.arrow:
                ax.add_patch(Polygon(_arrow_head(it.a, it.b), closed=True, facecolor=it.stroke, edgecolor="none"))
        elif isinstance(it, Dot):
            ax.add_patch(Circle(it.c, it.r, facecolor=it.fill, edgecolor="none"))
        elif isinstance(it, Text):
            ax.text(it.at[0], it.at[1], it.text, fontsize=it.size * 0.75, color=it.color, va="top", ha="left",
                    family="sans-serif")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def write_render(scene: Scene, path: Path | str) -> None:
    """Write ``scene`` as SVG or PNG, chosen by the file's suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".svg":
        try:
            p.write_text(scene_to_svg(scene), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {p}: {exc.strerror}") from None
    elif suffix == ".png":
        try:
            _write_png(scene, p)
        except OSError as exc:
            raise InputError(f"cannot write {p}: {exc.strerror}") from None
    else:
        raise InputError(f"unknown image type {suffix or '(none)'!r} for {p}", hint="use .svg or .png")


