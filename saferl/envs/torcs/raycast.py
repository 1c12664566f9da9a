"""Exact range finders on a parsed track, vectorised over many rays with numpy.

A ray starts on the track and is followed from segment to segment: inside a segment the
road is an intersection of simple constraints (four half-planes for a straight; two
half-planes and two circles for a turn), so the first constraint the ray breaks says
whether it hits a side of the road (the range) or passes into the next or previous
segment.  Consecutive TORCS segments that share one line or one circle are merged
first, so a ray crosses only a handful of pieces.  This is the geometry the saferl_scr
robot uses inside TORCS, so the two agree (see tests/envs/test_torcs_real.py).

Example:
    >>> track = load_track("g-track-2")                       # doctest: +SKIP
    >>> track_ranges(track, s=0.0, offset=-2.5, heading=0.0)[[0, 18]]  # doctest: +SKIP
    array([10.,  5.])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.envs.torcs.geometry import LEFT, STRAIGHT, Track
from saferl.envs.torcs.protocol import DEFAULT_ANGLES

__all__ = ["MAX_RANGE", "Pieces", "cast_rays", "pieces_of", "pose_from_sensors", "track_ranges"]

MAX_RANGE = 200.0
_EPS = 1e-9


@dataclass(frozen=True)
class Pieces:
    """The road as merged pieces (arrays of length ``n``), for ray casting.

    ``start_s``/``length``: where each piece starts along the centreline and how long it
    is.  Each piece has a start edge (point ``sx, sy``, outward normal ``snx, sny``) and an
    end edge (``ex, ey``, ``enx, eny``); straights have left and right sides (point and
    outward normal ``lx, ly, lnx, lny`` / ``rx, ry, rnx, rny``); turns have a centre
    ``cx, cy`` and radii ``r_in < r_out``.
    """

    is_arc: np.ndarray
    start_s: np.ndarray
    length: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    snx: np.ndarray
    sny: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    enx: np.ndarray
    eny: np.ndarray
    lx: np.ndarray
    ly: np.ndarray
    lnx: np.ndarray
    lny: np.ndarray
    rx: np.ndarray
    ry: np.ndarray
    rnx: np.ndarray
    rny: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    r_in: np.ndarray
    r_out: np.ndarray

    @property
    def n(self) -> int:
        """Number of pieces."""
        return int(self.is_arc.shape[0])

    def piece_at(self, s: np.ndarray | float, total: float) -> np.ndarray:
        """Index of the piece containing centreline distance ``s`` (wrapped)."""
        return np.searchsorted(self.start_s, np.mod(s, total), side="right") - 1


_PIECES: dict[int, Pieces] = {}


def pieces_of(track: Track) -> Pieces:
    """Merge the track's segments into pieces (cached per track object)."""
    cached = _PIECES.get(id(track))
    if cached is not None:
        return cached
    groups: list[list[int]] = []
    for i in range(track.n_segments):
        if groups:
            j = groups[-1][-1]
            # Turns merge only up to a quarter circle: a piece's two end edges must
            # bound a wedge narrower than a half-plane.
            same = track.kind[i] == track.kind[j] and (
                track.kind[i] == STRAIGHT
                or (
                    float(track.arc[groups[-1]].sum() + track.arc[i]) <= math.pi / 2
                    and
                    abs(track.radius[i] - track.radius[j]) < 1e-6
                    and math.hypot(track.center_x[i] - track.center_x[j], track.center_y[i] - track.center_y[j])
                    < 1e-3
                )
            )
            if same:
                groups[-1].append(i)
                continue
        groups.append([i])
    half = track.width / 2.0
    rows: dict[str, list[float]] = {name: [] for name in Pieces.__dataclass_fields__}
    for group in groups:
        first, last = group[0], group[-1]
        kind = int(track.kind[first])
        length = float(track.seg_length[group].sum())
        x0, y0, h0 = float(track.start_x[first]), float(track.start_y[first]), float(track.start_heading[first])
        end_s = float(track.start_s[last] + track.seg_length[last])
        if last == track.n_segments - 1:
            end_s = track.length
        x1, y1, h1 = track.pose_at(float(track.start_s[last]) + float(track.seg_length[last]) - 1e-12)
        if kind != STRAIGHT:
            # The end of a turn, computed exactly from its centre and angle.
            r = float(track.radius[first])
            sign = 1.0 if kind == LEFT else -1.0
            h1 = h0 + sign * float(track.arc[group].sum())
            cx, cy = float(track.center_x[first]), float(track.center_y[first])
            x1, y1 = cx + sign * r * math.sin(h1), cy - sign * r * math.cos(h1)
        else:
            x1, y1, h1 = x0 + length * math.cos(h0), y0 + length * math.sin(h0), h0
        rows["is_arc"].append(float(kind != STRAIGHT))
        rows["start_s"].append(float(track.start_s[first]))
        rows["length"].append(end_s - float(track.start_s[first]))
        rows["sx"].append(x0)
        rows["sy"].append(y0)
        rows["snx"].append(-math.cos(h0))
        rows["sny"].append(-math.sin(h0))
        rows["ex"].append(x1)
        rows["ey"].append(y1)
        rows["enx"].append(math.cos(h1))
        rows["eny"].append(math.sin(h1))
        left_nx, left_ny = -math.sin(h0), math.cos(h0)
        rows["lx"].append(x0 + half * left_nx)
        rows["ly"].append(y0 + half * left_ny)
        rows["lnx"].append(left_nx)
        rows["lny"].append(left_ny)
        rows["rx"].append(x0 - half * left_nx)
        rows["ry"].append(y0 - half * left_ny)
        rows["rnx"].append(-left_nx)
        rows["rny"].append(-left_ny)
        if kind == STRAIGHT:
            rows["cx"].append(0.0)
            rows["cy"].append(0.0)
            rows["r_in"].append(0.0)
            rows["r_out"].append(0.0)
        else:
            r = float(track.radius[first])
            rows["cx"].append(float(track.center_x[first]))
            rows["cy"].append(float(track.center_y[first]))
            rows["r_in"].append(r - half)
            rows["r_out"].append(r + half)
    arrays = {name: np.array(values) for name, values in rows.items()}
    arrays["is_arc"] = arrays["is_arc"].astype(bool)
    pieces = Pieces(**arrays)
    _PIECES[id(track)] = pieces
    return pieces


def _leave_half_plane(px: np.ndarray, py: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                      ax: np.ndarray, ay: np.ndarray, nx: np.ndarray, ny: np.ndarray,
                      t0: np.ndarray) -> np.ndarray:
    nd = nx * dx + ny * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -(nx * (px - ax) + ny * (py - ay)) / nd
    t = np.maximum(t, t0)
    return np.where(nd > _EPS, t, np.inf)


def cast_rays(track: Track, px: np.ndarray, py: np.ndarray, piece: np.ndarray,
              dx: np.ndarray, dy: np.ndarray, max_range: float = MAX_RANGE) -> np.ndarray:
    """Ranges of rays from points ``(px, py)`` on piece ``piece`` along unit ``(dx, dy)``."""
    pc = pieces_of(track)
    px, py, dx, dy = (np.asarray(a, dtype=np.float64).ravel() for a in (px, py, dx, dy))
    seg = np.asarray(piece, dtype=np.int64).ravel().copy()
    n = px.shape[0]
    t0 = np.zeros(n)
    result = np.full(n, max_range)
    active = np.arange(n)
    for _ in range(4 * pc.n + 8):
        if active.size == 0:
            break
        j = seg[active]
        apx, apy, adx, ady, at0 = px[active], py[active], dx[active], dy[active], t0[active]
        t_next = _leave_half_plane(apx, apy, adx, ady, pc.ex[j], pc.ey[j], pc.enx[j], pc.eny[j], at0)
        t_prev = _leave_half_plane(apx, apy, adx, ady, pc.sx[j], pc.sy[j], pc.snx[j], pc.sny[j], at0)
        arc = pc.is_arc[j]
        t_left = _leave_half_plane(apx, apy, adx, ady, pc.lx[j], pc.ly[j], pc.lnx[j], pc.lny[j], at0)
        t_right = _leave_half_plane(apx, apy, adx, ady, pc.rx[j], pc.ry[j], pc.rnx[j], pc.rny[j], at0)
        wx, wy = apx - pc.cx[j], apy - pc.cy[j]
        b = wx * adx + wy * ady
        ww = wx * wx + wy * wy
        disc_out = b * b - (ww - pc.r_out[j] ** 2)
        t_out = np.where(disc_out >= 0, -b + np.sqrt(np.maximum(disc_out, 0.0)), np.inf)
        disc_in = b * b - (ww - pc.r_in[j] ** 2)
        sq = np.sqrt(np.maximum(disc_in, 0.0))
        t_in = np.where((disc_in > 0) & (-b + sq > at0 + _EPS), np.maximum(-b - sq, at0), np.inf)
        t_side = np.where(arc, np.minimum(np.maximum(t_out, at0), t_in), np.minimum(t_left, t_right))
        best = np.minimum(t_side, np.minimum(t_next, t_prev))
        hit = (t_side <= np.minimum(t_next, t_prev)) | ~np.isfinite(best) | (best >= max_range)
        done = active[hit]
        result[done] = np.minimum(best[hit], max_range)
        moving = ~hit
        go_next = moving & (t_next <= t_prev)
        seg[active[go_next]] = (j[go_next] + 1) % pc.n
        go_prev = moving & ~go_next
        seg[active[go_prev]] = (j[go_prev] - 1) % pc.n
        t0[active[moving]] = best[moving]
        active = active[moving]
    return result


def track_ranges(track: Track, s: float, offset: float, heading: float,
                 angles: Sequence[float] = DEFAULT_ANGLES, max_range: float = MAX_RANGE) -> np.ndarray:
    """The SCR ``track`` sensor of a car at centreline distance ``s``, ``offset`` m left
    of the centreline, heading ``heading`` (rad): ``-1`` for every ray when it is off the
    road, else ranges for ``angles`` (degrees, + = clockwise, i.e. to the right)."""
    if abs(offset) > track.width / 2.0:
        return np.full(len(angles), -1.0)
    x, y, _ = track.pose_at(s, offset)
    directions = heading - np.radians(np.asarray(angles, dtype=np.float64))
    piece = pieces_of(track).piece_at(s, track.length)
    count = len(angles)
    return cast_rays(
        track, np.full(count, x), np.full(count, y), np.full(count, int(piece)),
        np.cos(directions), np.sin(directions), max_range,
    )


def pose_from_sensors(track: Track, sensors: Mapping[str, Any]) -> tuple[float, float, float]:
    """``(s, offset, heading)`` of a car from its SCR sensors (distFromStart, trackPos, angle)."""
    s = float(sensors["distFromStart"])
    offset = float(sensors["trackPos"]) * track.width / 2.0
    _, _, tangent = track.pose_at(s)
    return s, offset, tangent - float(sensors["angle"])

