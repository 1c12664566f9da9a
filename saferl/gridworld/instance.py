"""A gridworld instance: the square ``[0, N]^2`` tiled by convex regions, as half-edges.

Every region is a counter-clockwise cycle of half-edges; a half-edge shared with a neighbour
has a twin (``opp``) running the other way, a half-edge on the outer boundary has
``opp == -1``.  Each region carries a cone of moves (a mask over ``L R U D``); the target is
one region.  :func:`validate_grid` checks everything the certifier relies on and raises
:class:`~saferl.errors.ModelFileError` with the offending half-edge or region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

from saferl.errors import Location, ModelFileError
from saferl.gridworld.geometry import Point, cone_letters, format_point, point_on_segment

__all__ = ["GridWorld", "build_from_polygons", "build_from_half_edges", "validate_grid"]


@dataclass(eq=False)
class GridWorld:
    """A validated gridworld.  Half-edge ``i`` runs from ``he_start[i]`` to ``he_end[i]``.

    Attributes:
        size: N, the side of the square.
        he_start, he_end: endpoints of each half-edge.
        he_next, he_prev, he_opp: the half-edge links (``he_opp[i] == -1`` on the boundary).
        he_region: the region of each half-edge.
        regions: for each region, its half-edges in counter-clockwise order.
        cones: for each region, its cone mask (0: no move at all).
        target: index of the target region.
        start: the start point.
        start_edge: a half-edge of the start region holding the start point, or -1 if unknown.

    A grid is not changed once built: what is derived from it (the half-edges in integer
    form, the regions holding the start, backward trees and shortest path lengths) is
    computed once and kept in ``_memo``, so that ``synth`` and ``certify`` on the same grid
    share one backward tree.
    """

    size: int
    he_start: list[Point]
    he_end: list[Point]
    he_next: list[int]
    he_prev: list[int]
    he_opp: list[int]
    he_region: list[int]
    regions: list[list[int]]
    cones: list[int]
    target: int
    start: Point
    start_edge: int = -1
    _by_ends: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)
    _memo: dict[object, object] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_ends = {_ends_key(a, b): i for i, (a, b) in enumerate(zip(self.he_start, self.he_end))}

    @property
    def n_regions(self) -> int:
        """Number of regions."""
        return len(self.regions)

    def half_edge(self, a: Point, b: Point) -> int:
        """The half-edge running from ``a`` to ``b``, or -1."""
        return self._by_ends.get(_ends_key(a, b), -1)

    def polygon(self, region: int) -> list[Point]:
        """The vertices of a region, counter-clockwise."""
        return [self.he_start[h] for h in self.regions[region]]

    def edge_form(self, h: int) -> tuple[int, int, int, int, int]:
        """Half-edge ``h`` in integers: ``(m, kx, ky, dx, dy)``, ``m > 0``, with start
        ``(kx, ky) / m`` and direction ``end - start = (dx, dy) / m`` (worked out on first use)."""
        table = self.edge_form_table()
        got = table[h]
        if got is None:
            a, b = self.he_start[h], self.he_end[h]
            m, (kx, ky, ex, ey) = scaled_ints((a[0], a[1], b[0], b[1]))
            got = table[h] = (m, kx, ky, ex - kx, ey - ky)
        return got

    def edge_form_table(self) -> list[tuple[int, int, int, int, int] | None]:
        """The :meth:`edge_form` of each half-edge worked out so far (None: not yet)."""
        table = self._memo.get("edge_forms")
        if table is None:
            table = self._memo["edge_forms"] = [None] * len(self.he_start)
        return table  # type: ignore[return-value]

    def region_contains(self, region: int, p: Point) -> bool:
        """Whether ``p`` lies in the closed (convex) region."""
        q, (x, y) = scaled_ints(p)
        for h in self.regions[region]:
            # the sign of cross(start, end, p), all in integers (m, q > 0)
            m, kx, ky, dx, dy = self.edge_form(h)
            if dx * (y * m - ky * q) - dy * (x * m - kx * q) < 0:
                return False
        return True

    def point_on_edge(self, p: Point, h: int) -> bool:
        """Whether ``p`` lies on the closed segment of half-edge ``h``."""
        q, (x, y) = scaled_ints(p)
        return self.scaled_point_on_edge(q, x, y, h)

    def scaled_point_on_edge(self, q: int, x: int, y: int, h: int) -> bool:
        """:meth:`point_on_edge` for the point ``(x / q, y / q)``, ``q > 0``."""
        m, kx, ky, dx, dy = self.edge_form(h)
        rx, ry = x * m - kx * q, y * m - ky * q  # (p - start) * m * q
        if dx == 0 and dy == 0:
            return rx == 0 and ry == 0
        if dx * ry - dy * rx != 0:
            return False
        # on the line: between the ends iff 0 <= (p - start) . d <= d . d (scaled by m q > 0)
        dot = rx * dx + ry * dy
        return 0 <= dot <= (dx * dx + dy * dy) * q

    def regions_containing(self, p: Point) -> list[int]:
        """Every region whose closure holds ``p`` (a fresh list; kept for the start point)."""
        if p != self.start:
            return [r for r in range(len(self.regions)) if self.region_contains(r, p)]
        key = ("regions_containing", p)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = tuple(r for r in range(len(self.regions)) if self.region_contains(r, p))
        return list(got)  # type: ignore[call-overload]

    def edges_containing(self, region: int, p: Point) -> list[int]:
        """The half-edges of ``region`` on which ``p`` lies."""
        return [h for h in self.regions[region] if self.point_on_edge(p, h)]

    def default_start_edge(self) -> int:
        """``start_edge`` if set, else a half-edge holding the start point (interior ones first)."""
        if self.start_edge >= 0:
            return self.start_edge
        best = -1
        for r in self.regions_containing(self.start):
            if not self.cones[r] or r == self.target:
                continue
            for h in self.edges_containing(r, self.start):
                if self.he_opp[h] >= 0:
                    return h
                if best < 0:
                    best = h
        return best

    def describe_edge(self, h: int) -> str:
        """``[(0, 0) -- (3, 1)]``."""
        return f"[{format_point(self.he_start[h])} -- {format_point(self.he_end[h])}]"

    def moves_of(self, region: int) -> str:
        """The moves of a region as letters (``""`` for none)."""
        return cone_letters(self.cones[region])


def _ends_key(a: Point, b: Point) -> tuple[int, ...]:
    """Two points as the numerators and denominators of their coordinates (lowest terms):
    equal points give equal keys, and integers hash much faster than Fractions."""
    (ax, ay), (bx, by) = a, b
    return (ax.numerator, ax.denominator, ay.numerator, ay.denominator,
            bx.numerator, bx.denominator, by.numerator, by.denominator)


def scaled_ints(values: tuple[Fraction, ...]) -> tuple[int, list[int]]:
    """A common positive multiplier ``m`` and the integers ``v * m`` (exact).

    Example:
        >>> scaled_ints((Fraction(1, 2), Fraction(2, 3), Fraction(3)))
        (6, [3, 4, 18])
    """
    m = 1
    for v in values:
        d = v.denominator
        if m % d:
            m = m // gcd(m, d) * d
    return m, [v.numerator * (m // v.denominator) for v in values]


def _err(msg: str, path: str, hint: str | None = None) -> ModelFileError:
    return ModelFileError(msg, Location(path), hint=hint)


def build_from_half_edges(
    size: int,
    starts: list[Point],
    ends: list[Point],
    nexts: list[int],
    prevs: list[int],
    opps: list[int],
    cones_per_edge: list[int],
    target_edge: int,
    start: Point,
    start_edge: int = -1,
    path: str = "<grid>",
    validate: bool = True,
) -> GridWorld:
    """Build (and, unless ``validate=False``, validate) a grid from raw half-edge arrays.

    This is how smol-strats stores grids.  Links are always checked (a broken link would
    make the structure unusable); ``validate=False`` skips the geometric checks, for a
    grid only compared with another, validated one.
    """
    n = len(starts)
    for name, arr in (("ends", ends), ("next", nexts), ("prev", prevs), ("opp", opps), ("actions", cones_per_edge)):
        if len(arr) != n:
            raise _err(f"half-edge table '{name}' has {len(arr)} entries, expected {n}", path)
    for i in range(n):
        for name, arr, allow_neg in (("next", nexts, False), ("prev", prevs, False), ("opp", opps, True)):
            v = arr[i]
            if not isinstance(v, int) or isinstance(v, bool) or v >= n or (v < 0 and not (allow_neg and v == -1)):
                raise _err(f"half-edge {i}: {name} link {v!r} is not a half-edge index", path,
                           hint="broken half-edge links")
    region_of = [-1] * n
    regions: list[list[int]] = []
    for i in range(n):
        if region_of[i] >= 0:
            continue
        cycle = []
        h = i
        while region_of[h] < 0:
            region_of[h] = len(regions)
            cycle.append(h)
            h = nexts[h]
            if len(cycle) > n:
                break
        if h != i:
            raise _err(f"half-edge {i}: following 'next' does not come back to it", path,
                       hint="broken half-edge links")
        regions.append(cycle)
    cones: list[int] = []
    for r, cycle in enumerate(regions):
        vals = {cones_per_edge[h] for h in cycle}
        if len(vals) != 1:
            raise _err(f"region {r} has different action sets on its half-edges: {sorted(vals)}", path,
                       hint="the same action index must sit on every half-edge of a region")
        cones.append(vals.pop())
    if not (isinstance(target_edge, int) and 0 <= target_edge < n):
        raise _err(f"target half-edge {target_edge!r} is not a half-edge index", path)
    grid = GridWorld(
        size=size, he_start=starts, he_end=ends, he_next=nexts, he_prev=prevs, he_opp=opps,
        he_region=region_of, regions=regions, cones=cones, target=region_of[target_edge],
        start=start, start_edge=start_edge,
    )
    if validate:
        validate_grid(grid, path)
    return grid


def build_from_polygons(
    size: int, polygons: list[list[Point]], cones: list[int], target: int, start: Point,
    path: str = "<grid>",
) -> GridWorld:
    """Build (and validate) a grid from region polygons; twins are matched by their endpoints."""
    starts: list[Point] = []
    ends: list[Point] = []
    nexts: list[int] = []
    prevs: list[int] = []
    regions: list[list[int]] = []
    region_of: list[int] = []
    for r, poly in enumerate(polygons):
        if len(poly) < 3:
            raise _err(f"region {r} has {len(poly)} vertices; a region needs at least 3", path)
        _check_region(poly, r, path)
        base = len(starts)
        k = len(poly)
        cycle = []
        for j in range(k):
            starts.append(poly[j])
            ends.append(poly[(j + 1) % k])
            nexts.append(base + (j + 1) % k)
            prevs.append(base + (j - 1) % k)
            region_of.append(r)
            cycle.append(base + j)
        regions.append(cycle)
    by_ends: dict[tuple[Point, Point], int] = {}
    for i, (a, b) in enumerate(zip(starts, ends)):
        if (a, b) in by_ends:
            raise _err(f"regions {region_of[by_ends[(a, b)]]} and {region_of[i]} both have the edge "
                       f"{format_point(a)} -> {format_point(b)}: they overlap", path)
        by_ends[(a, b)] = i
    opps = [by_ends.get((b, a), -1) for a, b in zip(starts, ends)]
    if not 0 <= target < len(polygons):
        raise _err(f"target region {target} does not exist (there are {len(polygons)} regions)", path)
    grid = GridWorld(
        size=size, he_start=starts, he_end=ends, he_next=nexts, he_prev=prevs, he_opp=opps,
        he_region=region_of, regions=regions, cones=list(cones), target=target, start=start,
    )
    validate_grid(grid, path)
    return grid


def validate_grid(grid: GridWorld, path: str = "<grid>") -> None:
    """Check that ``grid`` is a well-formed instance; raise ModelFileError otherwise.

    Checks: half-edge links consistent (next/prev inverse, twins reversed and mutual, one
    region per cycle); every region convex, counter-clockwise, without zero-length or
    doubled-back edges; the boundary half-edges cover the square's border exactly once,
    counter-clockwise; the region areas sum to N^2 (together: an exact tiling, no gap, no
    overlap); cones are masks over LRUD; the start point lies in the square.
    """
    N = grid.size
    if not isinstance(N, int) or isinstance(N, bool) or N <= 0:
        raise _err(f"grid size must be a positive integer, got {N!r}", path)
    S, E = grid.he_start, grid.he_end
    zero, fN = Fraction(0), Fraction(N)
    n = len(S)
    for i in range(n):
        for p in (S[i], E[i]):
            # 0 <= x <= N on numerator and denominator (denominator > 0): integer comparisons
            x, y = p
            if not (0 <= x.numerator <= N * x.denominator and 0 <= y.numerator <= N * y.denominator):
                raise _err(f"half-edge {i}: vertex {format_point(p)} lies outside [0, {N}]^2", path)
        if S[i] == E[i]:
            raise _err(f"half-edge {i} has zero length at {format_point(S[i])}", path)
        nx, pv = grid.he_next[i], grid.he_prev[i]
        if grid.he_prev[nx] != i or grid.he_next[pv] != i:
            raise _err(f"half-edge {i}: next/prev links are not inverse", path, hint="broken half-edge links")
        if E[i] != S[nx]:
            raise _err(f"half-edge {i} ends at {format_point(E[i])} but its next starts at {format_point(S[nx])}",
                       path, hint="broken half-edge links")
        o = grid.he_opp[i]
        if o >= 0:
            if grid.he_opp[o] != i or S[o] != E[i] or E[o] != S[i]:
                raise _err(f"half-edge {i}: its twin {o} does not run the other way along it", path,
                           hint="broken half-edge links")
            if grid.he_region[o] == grid.he_region[i]:
                raise _err(f"half-edge {i}: twin {o} lies in the same region", path, hint="broken half-edge links")
        else:
            a, b = S[i], E[i]
            on_side = (
                (a[1] == 0 and b[1] == 0 and a[0] < b[0])
                or (a[0] == fN and b[0] == fN and a[1] < b[1])
                or (a[1] == fN and b[1] == fN and a[0] > b[0])
                or (a[0] == 0 and b[0] == 0 and a[1] > b[1])
            )
            if not on_side:
                raise _err(f"half-edge {i} {grid.describe_edge(i)} has no neighbour but is not on the outer "
                           "boundary (counter-clockwise)", path, hint="a gap or overlap in the tiling")
    total = Fraction(0)
    for r, cycle in enumerate(grid.regions):
        total += _check_region([S[h] for h in cycle], r, path)
        c = grid.cones[r]
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 15:
            raise _err(f"region {r} has a malformed cone {c!r}", path)
    # boundary coverage: each side covered exactly once, so the boundary lengths must add up
    boundary = sum((abs(E[i][0] - S[i][0]) + abs(E[i][1] - S[i][1])) for i in range(n) if grid.he_opp[i] < 0)
    if boundary != 4 * N:
        raise _err(f"the outer boundary edges have total length {boundary}, expected {4 * N}", path,
                   hint="a gap or overlap in the tiling")
    if total != N * N:
        raise _err(f"the regions' areas add up to {total}, not {N * N}", path,
                   hint="a gap or overlap in the tiling")
    if not 0 <= grid.target < len(grid.regions):
        raise _err(f"target region {grid.target} does not exist", path)
    p = grid.start
    if not (zero <= p[0] <= fN and zero <= p[1] <= fN):
        raise _err(f"start point {format_point(p)} lies outside [0, {N}]^2", path)
    if grid.start_edge >= 0 and not point_on_segment(p, S[grid.start_edge], E[grid.start_edge]):
        raise _err(f"start point {format_point(p)} is not on the start half-edge {grid.describe_edge(grid.start_edge)}",
                   path)


def _check_region(pts: list[Point], r: int, path: str) -> Fraction:
    """Check that region ``r`` is convex and counter-clockwise; return its area.

    The coordinates are scaled to integers by a common denominator first: the cross
    products are then exact integer arithmetic, much cheaper than Fractions.
    """
    k = len(pts)
    if k < 3:
        raise _err(f"region {r} has only {k} edges", path)
    m = 1
    for p in pts:
        for v in p:
            d = v.denominator
            if m % d:
                m = m // gcd(m, d) * d
    xs = [p[0].numerator * (m // p[0].denominator) for p in pts]
    ys = [p[1].numerator * (m // p[1].denominator) for p in pts]
    area2 = 0
    for j in range(k):
        i, n = j - 1, (j + 1) % k
        ax, ay, bx, by, cx, cy = xs[i], ys[i], xs[j], ys[j], xs[n], ys[n]
        if ax == bx and ay == by:
            raise _err(f"region {r} repeats the vertex {format_point(pts[j])}", path)
        turn = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if turn < 0:
            raise _err(f"region {r} is not convex (or not counter-clockwise) at {format_point(pts[j])}", path,
                       hint="regions must be convex polygons listed counter-clockwise")
        if turn == 0 and (bx - ax) * (cx - bx) + (by - ay) * (cy - by) < 0:
            raise _err(f"region {r} doubles back at {format_point(pts[j])}", path)
        area2 += bx * cy - cx * by
    if area2 <= 0:
        raise _err(f"region {r} has no positive area (is it clockwise?)", path)
    # a cycle that turns left everywhere but winds twice would be a star
    if _winding_exceeds_once(xs, ys):
        raise _err(f"region {r} winds around more than once (not a simple polygon)", path)
    return Fraction(area2, 2 * m * m)


def _winding_exceeds_once(xs: list[int], ys: list[int]) -> bool:
    """For a polygon turning left at every vertex: whether its edge directions go round twice."""
    # count how often the edge direction crosses the positive x axis direction (angle 0)
    k = len(xs)
    crossings = 0
    for j in range(k):
        i, n = j - 1, (j + 1) % k
        d1y = ys[j] - ys[i]
        d2x, d2y = xs[n] - xs[j], ys[n] - ys[j]
        # the direction rotates counter-clockwise from d1 to d2; it passes angle 0 when
        # d1 points below the axis and d2 at or above it, rightwards if on it
        if d1y < 0 and d2y >= 0 and (d2y > 0 or d2x > 0):
            crossings += 1
    return crossings > 1
