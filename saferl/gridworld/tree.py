"""The backward tree of shortest paths (the paper's Section 4), with exact rationals.

A node is a piece ``[t0, t1]`` of a half-edge ``h`` (parameters along ``h``): an agent
standing there, in ``h``'s region, reaches the target in ``depth`` moves by going to its
parent's piece.  The roots (depth 0) are the half-edges of the target region.  The
children of a node are, for every other side ``k`` of the region on the far side of the
node's edge, the part of ``k`` from which one move inside that region's cone reaches the
node; parts of ``k`` already explored at a smaller depth are subtracted (breadth-first, so
what remains is exactly the set of points first reached at this depth).  The shortest path
from the start point is read off the first node its region can reach.

Speed: the tree stops as soon as the start is reached (every point it has not explored yet
is at least as far), projections use Fourier-Motzkin elimination on at most six linear
constraints instead of polygon clipping, half-edges and pieces are kept as integers over a
common denominator (exact rationals are made only for the nodes a caller reads), and a
grid's tree is built once and shared by synth and certify.  A depth cap bounds the work on
instances whose reachable pieces shrink towards a point forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

from saferl.gridworld.geometry import (
    D_BIT,
    L_BIT,
    R_BIT,
    U_BIT,
    Point,
)
from saferl.gridworld.instance import GridWorld, scaled_ints

__all__ = ["BackwardTree", "TreeNode", "build_backward_tree", "shortest_path_length", "ShortestInfo"]


@dataclass(frozen=True)
class TreeNode:
    """The piece ``[t0, t1]`` of half-edge ``edge`` at ``depth`` moves from the target.

    The piece is kept in integers: ``ends = (m, ax, ay, bx, by)`` with ``m > 0`` stands for
    the points ``a = (ax / m, ay / m)`` (at ``t0``) and ``b = (bx / m, by / m)`` (at ``t1``);
    ``lo`` and ``hi`` are ``t0`` and ``t1`` as integer pairs in lowest terms.  The exact
    rationals are made only when asked for (:attr:`a`, :attr:`b`, :attr:`t0`, :attr:`t1`).
    """

    edge: int
    depth: int
    parent: int  # index of the parent node, -1 for a root
    lo: tuple[int, int]
    hi: tuple[int, int]
    ends: tuple[int, int, int, int, int]

    @property
    def t0(self) -> Fraction:
        """Where the piece starts along its half-edge (0 = the half-edge's start)."""
        return Fraction(*self.lo)

    @property
    def t1(self) -> Fraction:
        """Where the piece ends along its half-edge (1 = the half-edge's end)."""
        return Fraction(*self.hi)

    @property
    def a(self) -> Point:
        """The point at ``t0``."""
        m, ax, ay, _bx, _by = self.ends
        return (Fraction(ax, m), Fraction(ay, m))

    @property
    def b(self) -> Point:
        """The point at ``t1``."""
        m, _ax, _ay, bx, by = self.ends
        return (Fraction(bx, m), Fraction(by, m))


@dataclass
class BackwardTree:
    """The explored part of the backward tree and the start it was built for.

    ``start_node`` is the node the start point reaches first (-1 if none); the shortest
    path has ``start_node``'s depth + 1 moves (0 if the start lies in the target).
    """

    grid: GridWorld
    nodes: list[TreeNode]
    start_node: int
    start_region: int
    length: int | None
    capped: bool
    exhausted: bool
    depth_reached: int
    seconds: float
    stats: dict[str, int] = field(default_factory=dict)

    def segment_of(self, i: int) -> tuple[Point, Point]:
        """The endpoints of node ``i``'s piece, in the direction of its half-edge."""
        n = self.nodes[i]
        return n.a, n.b

    def chain(self) -> list[int]:
        """Node indices from the start's first node up to a root (empty if unreached)."""
        out: list[int] = []
        i = self.start_node
        while i >= 0:
            out.append(i)
            i = self.nodes[i].parent
        return out


#: an exact rational as an integer pair ``(numerator, denominator)``, denominator > 0, not
#: necessarily in lowest terms: the interval bookkeeping compares by cross-multiplication,
#: which is several times cheaper than Fraction's comparisons
Q = tuple[int, int]


def _lt(x: Q, y: Q) -> bool:
    return x[0] * y[1] < y[0] * x[1]


def _eq(x: Q, y: Q) -> bool:
    return x[0] * y[1] == y[0] * x[1]


def _subtract(lo: Q, hi: Q, explored: list[tuple[Q, Q]]) -> list[tuple[Q, Q]]:
    """``[lo, hi]`` minus the union of the (sorted, disjoint) closed intervals ``explored``.

    Pieces are returned closed; a piece reduced to a shared endpoint is dropped.
    """
    pieces: list[tuple[Q, Q]] = []
    cur = lo
    for a, b in explored:
        if _lt(b, cur):
            continue
        if _lt(hi, a):
            break
        if _lt(cur, a):
            pieces.append((cur, a))
        cur = b  # b >= cur here
        if not _lt(cur, hi):
            break
    if _lt(cur, hi) or (_eq(cur, hi) and not _covers(cur, explored)):
        pieces.append((cur, hi))
    return pieces


def _covers(x: Q, explored: list[tuple[Q, Q]]) -> bool:
    """Whether ``x`` lies in one of the closed intervals."""
    for a, b in explored:
        if _lt(x, a):
            return False
        if not _lt(b, x):
            return True
    return False


def _insert(explored: list[tuple[Q, Q]], lo: Q, hi: Q) -> None:
    """Add ``[lo, hi]`` to a sorted disjoint list, merging overlapping intervals."""
    out: list[tuple[Q, Q]] = []
    placed = False
    for a, b in explored:
        if _lt(b, lo):
            out.append((a, b))
        elif _lt(hi, a):
            if not placed:
                out.append((lo, hi))
                placed = True
            out.append((a, b))
        else:
            if _lt(a, lo):
                lo = a
            if _lt(hi, b):
                hi = b
    if not placed:
        out.append((lo, hi))
    explored[:] = out


def _t_range(ab: tuple[int, int, int, int, int], kd: tuple[int, int, int, int, int], cone: int) -> tuple[Q, Q] | None:
    """The ``t`` in [0, 1] such that some ``q`` on [A, B] is reachable from ``K + t D``.

    ``ab = (mp, ax, ay, bx, by)`` is ``A, B`` over the positive denominator ``mp`` and
    ``kd = (mk, kx, ky, dx, dy)`` likewise ``K, D`` (:meth:`GridWorld.edge_form`).
    Constraints ``a_s s + a_t t + c >= 0`` over ``s, t`` in [0, 1] (all scaled by the same
    positive integer) have ``s`` eliminated by Fourier-Motzkin, leaving bounds on ``t``;
    everything is integer arithmetic.
    """
    mp, ax, ay, bx, by = ab
    mk, kx, ky, dx, dy = kd
    # scaled by mp * mk: q = A + s (B - A), p = K + t D; a constraint is (a_s, a_t, c)
    raw: list[tuple[int, int, int]] = []
    if cone & (L_BIT | R_BIT) != (L_BIT | R_BIT):  # x is constrained
        ex, cx, dxs = (bx - ax) * mk, ax * mk - kx * mp, dx * mp
        if not cone & L_BIT:  # q.x - p.x >= 0
            raw.append((ex, -dxs, cx))
        if not cone & R_BIT:  # p.x - q.x >= 0
            raw.append((-ex, dxs, -cx))
    if cone & (U_BIT | D_BIT) != (U_BIT | D_BIT):  # y is constrained
        ey, cy, dys = (by - ay) * mk, ay * mk - ky * mp, dy * mp
        if not cone & D_BIT:  # q.y - p.y >= 0
            raw.append((ey, -dys, cy))
        if not cone & U_BIT:
            raw.append((-ey, dys, -cy))
    pos: list[tuple[int, int, int]] = []
    neg: list[tuple[int, int, int]] = []
    tcons: list[tuple[int, int]] = []
    for c in raw:
        if c[0] > 0:
            pos.append(c)
        elif c[0] < 0:
            neg.append(c)
        else:
            tcons.append((c[1], c[2]))
    # eliminate s: every lower bound on s (s >= 0 and the a_s > 0 rows) against every upper
    # bound (s <= 1 and the a_s < 0 rows); the pair (s >= 0, s <= 1) says nothing about t
    for _ns, nt, nc in neg:  # with s >= 0: a_t t + c >= 0
        tcons.append((nt, nc))
    for ps, pt, pc in pos:  # with s <= 1: ps (1 - s) + (ps s + pt t + pc) >= 0
        tcons.append((pt, ps + pc))
        for ns, nt, nc in neg:
            m = -ns
            tcons.append((m * pt + ps * nt, m * pc + ps * nc))
    # lower bound lo_n / lo_d and upper bound hi_n / hi_d, denominators positive
    lo_n, lo_d, hi_n, hi_d = 0, 1, 1, 1
    for at, ct in tcons:
        if at == 0:
            if ct < 0:
                return None
            continue
        # at * t + ct >= 0  ->  t >= -ct / at (at > 0)  or  t <= -ct / at (at < 0)
        if at > 0:
            rn, rd = -ct, at
            if rn * lo_d > lo_n * rd:
                lo_n, lo_d = rn, rd
        else:
            rn, rd = ct, -at
            if rn * hi_d < hi_n * rd:
                hi_n, hi_d = rn, rd
        if lo_n * hi_d > hi_n * lo_d:
            return None
    return (lo_n, lo_d), (hi_n, hi_d)


def build_backward_tree(
    grid: GridWorld,
    start: Point | None = None,
    start_regions: list[int] | None = None,
    *,
    depth_cap: int = 1000,
    stop_at_start: bool = True,
) -> BackwardTree:
    """Build the backward tree breadth-first until the start is reached or ``depth_cap``.

    ``start_regions`` defaults to the start edge's region, else every region holding the
    start point.  With ``stop_at_start=False`` the tree is explored to the cap (or until
    nothing new is found).  A tree is built once per grid and arguments: a second call (for
    instance ``certify`` after ``synth``) returns the same tree.
    """
    t_begin = time.perf_counter()
    p0 = grid.start if start is None else start
    if start_regions is None:
        if grid.start_edge >= 0 and start is None:
            start_regions = [grid.he_region[grid.start_edge]]
        else:
            start_regions = [r for r in grid.regions_containing(p0) if grid.cones[r] or r == grid.target]
    start_set = set(start_regions)
    key = ("tree", p0, tuple(sorted(start_set)), depth_cap, stop_at_start)
    known = grid._memo.get(key)
    if isinstance(known, BackwardTree):
        return known
    tree = _grow(grid, p0, start_set, depth_cap, stop_at_start, t_begin)
    grid._memo[key] = tree
    _note_shortest(grid, p0, start_set, depth_cap, tree)
    return tree


def _note_shortest(grid: GridWorld, p0: Point, start_set: set[int], depth_cap: int, tree: BackwardTree) -> None:
    """Record what ``tree`` proves about the shortest path from ``p0`` in each start region.

    Breadth-first, the first node reached from any start region gives the shortest length
    for its own region; if none was reached, none of the regions reaches the target within
    the tree's depth (unreachable if the tree was exhausted, unknown if capped).
    """
    if tree.length is not None and tree.start_region >= 0:
        grid._memo[("shortest", p0, tree.start_region, depth_cap)] = ShortestInfo(tree.length, False)
    elif tree.length is None and (tree.exhausted or tree.capped):
        for r in start_set:
            grid._memo[("shortest", p0, r, depth_cap)] = ShortestInfo(None, tree.capped)


def _reduced(n: int, d: int) -> tuple[int, int]:
    g = gcd(n, d)
    return (n // g, d // g) if g > 1 else (n, d)


def _piece(kd: tuple[int, int, int, int, int], lo: tuple[int, int], hi: tuple[int, int]) -> tuple[int, int, int, int, int]:
    """The endpoints ``K + t D`` for ``t = lo, hi`` over one positive denominator (reduced)."""
    mk, sx, sy, dx, dy = kd
    (ln, ld), (hn, hd) = lo, hi
    g = gcd(ld, hd)
    den = ld // g * hd  # lcm(ld, hd)
    ua, ub = ln * (den // ld), hn * (den // hd)
    m = mk * den
    ax, ay, bx, by = sx * den + dx * ua, sy * den + dy * ua, sx * den + dx * ub, sy * den + dy * ub
    g = gcd(m, ax, ay, bx, by)
    if g > 1:
        return (m // g, ax // g, ay // g, bx // g, by // g)
    return (m, ax, ay, bx, by)


def _grow(grid: GridWorld, p0: Point, start_set: set[int], depth_cap: int, stop_at_start: bool,
          t_begin: float) -> BackwardTree:
    opp, reg, cones = grid.he_opp, grid.he_region, grid.cones
    edge_form = grid.edge_form
    nodes: list[TreeNode] = []
    explored: dict[int, list[tuple[Q, Q]]] = {}  # per half-edge: its explored pieces, sorted
    stats = {"nodes": 0, "projections": 0, "pruned": 0}
    projections = pruned = 0
    if grid.target in start_set:
        return BackwardTree(grid, nodes, -1, grid.target, 0, False, False, 0, time.perf_counter() - t_begin, stats)
    # the start as a segment of length 0, so that "some point of the piece is reachable from
    # the start" is the projection of the piece onto it (non-empty or not)
    m0, (x0, y0) = scaled_ints(p0)
    start_form = (m0, x0, y0, 0, 0)

    def start_hits(n: TreeNode) -> bool:
        o = opp[n.edge]
        if o < 0 or reg[o] not in start_set:
            return False
        return _t_range(n.ends, start_form, cones[reg[o]]) is not None

    frontier: list[int] = []
    forms = grid.edge_form_table()
    for g in grid.regions[grid.target]:
        if opp[g] < 0:
            continue
        mk, sx, sy, dx, dy = edge_form(g)
        nodes.append(TreeNode(g, 0, -1, (0, 1), (1, 1), (mk, sx, sy, sx + dx, sy + dy)))
        explored[g] = [((0, 1), (1, 1))]
        frontier.append(len(nodes) - 1)
    found = -1
    for i in frontier:
        if start_hits(nodes[i]):
            found = i
            break
    depth = 0
    while (found < 0 or not stop_at_start) and frontier and depth < depth_cap:
        depth += 1
        new_frontier: list[int] = []
        for pi in frontier:
            parent = nodes[pi]
            q_region = reg[opp[parent.edge]]
            if q_region == grid.target:
                continue
            cone = cones[q_region]
            ab = parent.ends
            for k in grid.regions[q_region]:
                if opp[k] < 0:
                    continue
                projections += 1
                kd = forms[k] or edge_form(k)
                rng = _t_range(ab, kd, cone)
                if rng is None:
                    continue
                lo, hi = _reduced(*rng[0]), _reduced(*rng[1])
                ex = explored.get(k)
                if ex is None:
                    pieces = [(lo, hi)]
                    explored[k] = [(lo, hi)]
                else:
                    pieces = _subtract(lo, hi, ex)
                    if not pieces:
                        pruned += 1
                        continue
                    _insert(ex, lo, hi)
                for plo, phi in pieces:
                    node = TreeNode(k, depth, pi, plo, phi, _piece(kd, plo, phi))
                    nodes.append(node)
                    new_frontier.append(len(nodes) - 1)
                    if found < 0 and start_hits(node):
                        found = len(nodes) - 1
            if found >= 0 and stop_at_start:
                break
        frontier = new_frontier
    stats.update(nodes=len(nodes), projections=projections, pruned=pruned)
    length = None if found < 0 else nodes[found].depth + 1
    start_region = -1
    if found >= 0:
        start_region = reg[opp[nodes[found].edge]]
    capped = bool(frontier) and depth >= depth_cap and (found < 0 or not stop_at_start)
    return BackwardTree(
        grid, nodes, found, start_region, length, capped, not frontier, depth,
        time.perf_counter() - t_begin, stats,
    )


@dataclass(frozen=True)
class ShortestInfo:
    """The shortest path length from a start (None if not found) and whether the cap hit."""

    length: int | None
    capped: bool


def shortest_path_length(grid: GridWorld, start: Point, start_region: int, depth_cap: int = 1000) -> ShortestInfo:
    """The number of moves of a shortest path from ``start`` in ``start_region``.

    Reuses what a backward tree already built on this grid proves (see
    :func:`build_backward_tree`), else builds the tree for this one region.
    """
    known = grid._memo.get(("shortest", start, start_region, depth_cap))
    if isinstance(known, ShortestInfo):
        return known
    tree = build_backward_tree(grid, start, [start_region], depth_cap=depth_cap)
    return ShortestInfo(tree.length, tree.capped)
