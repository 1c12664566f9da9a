"""A seeded random gridworld generator: chords across the square, random cones and target.

Chords join integer points on two different sides of ``[0, N]^2``; each chord splits every
region it crosses, exactly (rational intersection points).  Afterwards every vertex lying
inside a neighbour's edge is inserted into that edge, so twins match endpoint to endpoint.
Each region gets a random non-empty cone; the start is ``(0, 0)`` unless given; the target
is a random region other than the start's.  With ``require_reachable`` (the default) the
generator draws again (from the same seeded stream) until the target is reachable.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from fractions import Fraction

from saferl.errors import UnsupportedError
from saferl.gridworld.geometry import Point, cross, point_on_segment
from saferl.gridworld.instance import GridWorld, build_from_polygons

__all__ = ["generate_grid", "split_convex"]


def split_convex(poly: list[Point], p1: Point, p2: Point) -> tuple[list[Point], list[Point]] | None:
    """Split a convex CCW polygon by the line through p1, p2; None if the line misses its interior."""
    side = [cross(p1, p2, v) for v in poly]
    if all(s >= 0 for s in side) or all(s <= 0 for s in side):
        return None
    left: list[Point] = []
    right: list[Point] = []
    k = len(poly)
    for i in range(k):
        v, w = poly[i], poly[(i + 1) % k]
        sv, sw = side[i], side[(i + 1) % k]
        if sv >= 0:
            left.append(v)
        if sv <= 0:
            right.append(v)
        if (sv > 0 and sw < 0) or (sv < 0 and sw > 0):
            t = sv / (sv - sw)
            x = (v[0] + t * (w[0] - v[0]), v[1] + t * (w[1] - v[1]))
            left.append(x)
            right.append(x)
    return left, right


def _boundary_point(rng: random.Random, n: int, side: int) -> Point:
    k = Fraction(rng.randint(0, n))
    return [(k, Fraction(0)), (Fraction(n), k), (k, Fraction(n)), (Fraction(0), k)][side]


def _conform(polys: list[list[Point]]) -> list[list[Point]]:
    verts = sorted({v for poly in polys for v in poly})
    # the candidates of a side are the vertices within its bounding box: verts is sorted by x, so
    # those with x in range are one slice; rounding to float is monotonic, so a float range
    # check never drops a vertex that lies in the exact range (the exact test follows)
    xs = [float(v[0]) for v in verts]
    ys = [float(v[1]) for v in verts]
    out = []
    for poly in polys:
        new: list[Point] = []
        k = len(poly)
        for i in range(k):
            a, b = poly[i], poly[(i + 1) % k]
            new.append(a)
            fx0, fx1 = sorted((float(a[0]), float(b[0])))
            fy0, fy1 = sorted((float(a[1]), float(b[1])))
            lo, hi = bisect_left(xs, fx0), bisect_right(xs, fx1)
            inside = [v for j, v in enumerate(verts[lo:hi], lo) if fy0 <= ys[j] <= fy1
                      and v != a and v != b and point_on_segment(v, a, b)]
            inside.sort(key=lambda v: (v[0] - a[0]) ** 2 + (v[1] - a[1]) ** 2)
            new.extend(inside)
        out.append(new)
    return out


def generate_grid(
    size: int = 10,
    n_chords: int = 5,
    seed: int = 0,
    *,
    start: Point | None = None,
    require_reachable: bool = True,
    far_target: bool = False,
    max_tries: int = 50,
) -> GridWorld:
    """A random instance; the same arguments always give the same grid.

    ``far_target`` picks the region whose centre lies farthest from the start (longer
    paths) instead of a random one.

    Example:
        >>> g = generate_grid(size=8, n_chords=4, seed=3)
        >>> g.size, g.n_regions > 1
        (8, True)
    """
    if size <= 0 or n_chords < 0:
        raise ValueError("size must be positive and n_chords non-negative")
    rng = random.Random(seed)
    p0 = start if start is not None else (Fraction(0), Fraction(0))
    for _ in range(max_tries):
        N = Fraction(size)
        polys: list[list[Point]] = [[(Fraction(0), Fraction(0)), (N, Fraction(0)), (N, N), (Fraction(0), N)]]
        for _c in range(n_chords):
            s1, s2 = rng.sample(range(4), 2)
            a, b = _boundary_point(rng, size, s1), _boundary_point(rng, size, s2)
            if a == b:
                continue
            nxt = []
            for poly in polys:
                parts = split_convex(poly, a, b)
                if parts is None:
                    nxt.append(poly)
                else:
                    nxt.extend(parts)
            polys = nxt
        polys = _conform(polys)
        cones = [rng.choice([3, 5, 6, 9, 10, 12, 7, 11, 13, 14, 15, 6, 9, 10, 5]) for _ in polys]
        start_regions = [i for i, poly in enumerate(polys) if all(cross(poly[j - 1], poly[j], p0) >= 0 for j in range(len(poly)))]
        choices = [i for i in range(len(polys)) if i not in start_regions]
        if not choices:
            continue
        target = rng.choice(choices)
        if far_target:
            def dist2(i: int) -> Fraction:
                k = len(polys[i])
                cx = sum((v[0] for v in polys[i]), Fraction(0)) / k - p0[0]
                cy = sum((v[1] for v in polys[i]), Fraction(0)) / k - p0[1]
                return cx * cx + cy * cy

            target = max(choices, key=dist2)
        grid = build_from_polygons(size, polys, cones, target, p0, "<generated>")
        if not require_reachable:
            return grid
        from saferl.gridworld.tree import build_backward_tree

        if build_backward_tree(grid, depth_cap=4 * len(polys) + 20).length is not None:
            return grid
    raise UnsupportedError(f"no reachable instance found in {max_tries} draws; try another seed or more chords")
