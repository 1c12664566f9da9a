"""Parse a TORCS track XML (torcs-data) into centreline geometry, the way TORCS does.

TORCS builds the main track from the ``Main Track / Track Segments`` list: straights
(``lg``), left and right turns (``radius``, optional ``end radius``, ``arc``), each split
into "profile steps" of about ``profil steps length`` metres; a turn whose radius changes
is a chain of arcs whose radii step from ``radius`` to ``end radius``.  The main track
has one width.  The first segment starts at the start line, at the origin, heading +x,
the right side at (0, 0) and the left side at (0, width).  This module reproduces that
construction (segment by segment, so lengths agree with TORCS to float precision) and
returns a :class:`Track` with numpy arrays per TORCS segment.

The XML files declare external entities in their DOCTYPE; they are parsed without the
DOCTYPE and with entity references dropped, so nothing is fetched or expanded.

Example:
    >>> track = load_track("g-track-2")            # doctest: +SKIP
    >>> round(track.length, 2), track.width          # doctest: +SKIP
    (3185.83, 15.0)
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saferl.envs.torcs.errors import TrackError
from saferl.envs.torcs.tracks import TrackFile, find_track

__all__ = ["STRAIGHT", "LEFT", "RIGHT", "Track", "load_track", "parse_track_file", "read_params"]

STRAIGHT, LEFT, RIGHT = 0, 1, 2

_UNITS = {
    "": 1.0, "m": 1.0, "kg": 1.0, "s": 1.0, "rad": 1.0, "Pa": 1.0,
    "feet": 0.304801, "ft": 0.304801, "deg": math.pi / 180.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0, "km": 1000.0, "mm": 0.001, "cm": 0.01,
    "in": 0.0254, "inch": 0.0254, "inches": 0.0254, "percent": 0.01, "%": 0.01,
}  # fmt: skip

_F32 = np.float32
_DOCTYPE = re.compile(r"<!DOCTYPE[^\[>]*(\[.*?\]\s*)?>", re.S)
_ENTITY_REF = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)[A-Za-z_][\w.-]*;")


@dataclass
class Params:
    """A TORCS parameter section: numbers (SI), strings, and named sub-sections in order."""

    name: str
    nums: dict[str, float] = field(default_factory=dict)
    strs: dict[str, str] = field(default_factory=dict)
    sections: dict[str, Params] = field(default_factory=dict)

    def section(self, path: str) -> Params | None:
        """The sub-section at ``a/b/c`` (names compared case-insensitively), or None."""
        node: Params | None = self
        for part in path.split("/"):
            if node is None:
                return None
            found = node.sections.get(part)
            if found is None:
                lowered = part.lower()
                found = next((v for k, v in node.sections.items() if k.lower() == lowered), None)
            node = found
        return node


def _number(element: ET.Element, where: str) -> float:
    text = element.get("val", "").strip()
    try:
        value = float(int(text, 16)) if text.lower().startswith(("0x", "-0x")) else float(text)
    except ValueError:
        raise TrackError(f"{where}: {element.get('name')!r} is not a number: {text!r}") from None
    unit = (element.get("unit") or "").strip()
    if unit not in _UNITS:
        raise TrackError(f"{where}: unsupported unit {unit!r}")
    # TORCS stores parameters as C floats and converts units in float arithmetic.
    return float(_F32(value) * _F32(_UNITS[unit]))


def read_params(path: Path) -> Params:
    """Read a TORCS parameter file (safely: no DTD, no entity expansion)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TrackError(f"{path}: cannot read: {exc.strerror}") from None
    text = raw.decode("utf-8", errors="replace")
    text = _DOCTYPE.sub("", text, count=1)
    text = _ENTITY_REF.sub("", text)
    text = re.sub(r"^<\?xml[^>]*\?>", "", text.lstrip())
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TrackError(f"{path}: not a TORCS XML file ({exc})") from None

    def convert(element: ET.Element, name: str) -> Params:
        params = Params(name)
        for child in element:
            key = child.get("name", "")
            if child.tag == "section":
                params.sections[key] = convert(child, key)
            elif child.tag == "attnum":
                params.nums[key] = _number(child, f"{path}: section {name!r}")
            elif child.tag == "attstr":
                params.strs[key] = child.get("val", "")
        return params

    return convert(root, root.get("name", ""))


@dataclass(frozen=True)
class Track:
    """A track's main-road centreline, one entry per TORCS segment.

    ``length`` is TORCS's ``track->length`` (the segment lengths summed in float), ``width``
    the main road's width, both in metres.
    Arrays (length ``n`` = number of TORCS segments): ``kind`` (STRAIGHT, LEFT, RIGHT),
    ``seg_length`` (m, along the centreline), ``radius`` (centreline radius, 0 for
    straights), ``arc`` (rad), ``start_s`` (distance of the segment's start from the start
    line), ``start_x``, ``start_y``, ``start_heading`` (centreline start point and
    direction), ``center_x``, ``center_y`` (turn centre).
    """

    name: str
    category: str
    path: Path
    width: float
    length: float
    kind: np.ndarray
    seg_length: np.ndarray
    radius: np.ndarray
    arc: np.ndarray
    start_s: np.ndarray
    start_x: np.ndarray
    start_y: np.ndarray
    start_heading: np.ndarray
    center_x: np.ndarray
    center_y: np.ndarray
    segment_names: tuple[str, ...]

    @property
    def n_segments(self) -> int:
        """Number of TORCS segments (profile steps) of the main track."""
        return int(self.kind.shape[0])

    def curvature(self) -> np.ndarray:
        """Signed curvature per segment (+ left), 1/m."""
        k = np.zeros(self.n_segments)
        turn = self.kind != STRAIGHT
        k[turn] = 1.0 / self.radius[turn]
        k[self.kind == RIGHT] *= -1.0
        return k

    def segment_at(self, s: float) -> int:
        """Index of the segment containing distance ``s`` from the start (wrapped)."""
        s = s % self.length
        return int(np.searchsorted(self.start_s, s, side="right") - 1)

    def pose_at(self, s: float, offset: float = 0.0) -> tuple[float, float, float]:
        """``(x, y, heading)`` of the point ``offset`` m left of the centreline at ``s``."""
        i = self.segment_at(s)
        u = s % self.length - float(self.start_s[i])
        x0, y0, h0 = float(self.start_x[i]), float(self.start_y[i]), float(self.start_heading[i])
        kind = int(self.kind[i])
        if kind == STRAIGHT:
            x, y, h = x0 + u * math.cos(h0), y0 + u * math.sin(h0), h0
        else:
            r = float(self.radius[i])
            sign = 1.0 if kind == LEFT else -1.0
            h = h0 + sign * u / r
            cx, cy = float(self.center_x[i]), float(self.center_y[i])
            x = cx + sign * r * math.sin(h)
            y = cy - sign * r * math.cos(h)
        return x - offset * math.sin(h), y + offset * math.cos(h), h

    def poses(self, s: np.ndarray, offset: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised :meth:`pose_at`: arrays ``x, y, heading`` for arrays of ``s``."""
        s = np.mod(np.asarray(s, dtype=np.float64), self.length)
        i = np.clip(np.searchsorted(self.start_s, s, side="right") - 1, 0, self.n_segments - 1)
        u = s - self.start_s[i]
        h0 = self.start_heading[i]
        kind = self.kind[i]
        sign = np.where(kind == LEFT, 1.0, -1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            h_turn = h0 + sign * u / self.radius[i]
        straight = kind == STRAIGHT
        h = np.where(straight, h0, h_turn)
        r = self.radius[i]
        x = np.where(straight, self.start_x[i] + u * np.cos(h0), self.center_x[i] + sign * r * np.sin(h))
        y = np.where(straight, self.start_y[i] + u * np.sin(h0), self.center_y[i] - sign * r * np.cos(h))
        offset = np.asarray(offset, dtype=np.float64)
        return x - offset * np.sin(h), y + offset * np.cos(h), h

    def to_record(self) -> dict[str, object]:
        """A plain record: name, category, length (m), width (m), segments."""
        return {
            "name": self.name,
            "category": self.category,
            "length_m": round(self.length, 2),
            "width_m": round(self.width, 2),
            "segments": self.n_segments,
        }


def parse_track_file(track_file: TrackFile) -> Track:
    """Build the centreline of ``track_file`` as TORCS's track loader does."""
    params = read_params(track_file.path)
    where = str(track_file.path)
    header = params.section("Header")
    version = int(header.nums.get("version", 0)) if header is not None else 0
    # Version 4 files list segments under "Track Segments", older ones under "segments".
    list_name = "Main Track/Track Segments" if version >= 4 else "Main Track/segments"
    main = params.section("Main Track")
    segments = params.section(list_name)
    if main is None or segments is None or not segments.sections:
        raise TrackError(f"{where}: no '{list_name}' section (track format version {version})")
    width = main.nums.get("width", 15.0)
    if not width > 0:
        raise TrackError(f"{where}: main track width must be positive, got {width}")
    global_step = main.nums.get("profil steps length", 0.0)
    half = width / 2.0

    kinds: list[int] = []
    lengths: list[float] = []
    radii: list[float] = []
    arcs: list[float] = []
    starts: list[tuple[float, float, float]] = []
    centers: list[tuple[float, float]] = []
    names: list[str] = []
    xr, yr, xl, yl, alf = 0.0, 0.0, 0.0, width, 0.0
    total = _F32(0.0)
    for seg_name, seg in segments.sections.items():
        seg_where = f"{where}: segment {seg_name!r}"
        kind_text = seg.strs.get("type", "")
        # Lengths, arcs and radii are computed in C float arithmetic, as TORCS does, so
        # that track lengths agree to the centimetre.
        if kind_text == "str":
            kind, length = STRAIGHT, _F32(seg.nums.get("lg", 0.0))
            radius = radius_end = arc = _F32(0.0)
        elif kind_text in ("lft", "rgt"):
            kind = LEFT if kind_text == "lft" else RIGHT
            radius = _F32(seg.nums.get("radius", 0.0))
            radius_end = _F32(seg.nums.get("end radius", float(radius)))
            arc = _F32(seg.nums.get("arc", 0.0))
            if not (radius > half and radius_end > half and arc > 0):
                raise TrackError(f"{seg_where}: a turn needs radius > width/2 and arc > 0")
            length = _F32(float(radius + radius_end) / 2.0 * float(arc))
        else:
            raise TrackError(f"{seg_where}: unknown segment type {kind_text!r}")
        if not length > 0:
            raise TrackError(f"{seg_where}: segment length must be positive")
        steps = 1
        if seg.strs.get("profil", "spline") == "spline":
            steps = int(seg.nums.get("profil steps", 1.0))
            if steps == 1:
                profile_step = _F32(seg.nums.get("profil steps length", global_step))
                steps = int(length / profile_step) + 1 if profile_step else 1
        steps = max(steps, 1)
        cur_arc = arc / _F32(steps)
        cur_len = length / _F32(steps)
        dradius = (radius_end - radius) / _F32(steps)
        if radius_end != radius and steps != 1:
            dradius = (radius_end - radius) / _F32(steps - 1)
            angle, r = _F32(0.0), radius
            for _ in range(steps):
                angle += cur_len / r
                r += dradius
            cur_len *= arc / angle
        r = radius
        for _ in range(steps):
            if dradius != 0:
                cur_arc = cur_len / r
            step_len, step_arc, rf = float(cur_len), float(cur_arc), float(r)
            starts.append(((xl + xr) / 2.0, (yl + yr) / 2.0, alf))
            kinds.append(kind)
            lengths.append(step_len)
            total += cur_len
            names.append(seg_name)
            if kind == STRAIGHT:
                radii.append(0.0)
                arcs.append(0.0)
                centers.append((math.nan, math.nan))
                dx, dy = step_len * math.cos(alf), step_len * math.sin(alf)
                xr, yr, xl, yl = xr + dx, yr + dy, xl + dx, yl + dy
            elif kind == LEFT:
                inner = rf - half
                cx, cy = xl - inner * math.sin(alf), yl + inner * math.cos(alf)
                alf += step_arc
                xl, yl = cx + inner * math.sin(alf), cy - inner * math.cos(alf)
                xr, yr = cx + (inner + width) * math.sin(alf), cy - (inner + width) * math.cos(alf)
                radii.append(rf)
                arcs.append(step_arc)
                centers.append((cx, cy))
            else:
                inner = rf - half
                cx, cy = xr + inner * math.sin(alf), yr - inner * math.cos(alf)
                alf -= step_arc
                xl, yl = cx - (inner + width) * math.sin(alf), cy + (inner + width) * math.cos(alf)
                xr, yr = cx - inner * math.sin(alf), cy + inner * math.cos(alf)
                radii.append(rf)
                arcs.append(step_arc)
                centers.append((cx, cy))
            if kind != STRAIGHT:
                r += dradius

    seg_length = np.array(lengths)
    start_s = np.concatenate([[0.0], np.cumsum(seg_length)[:-1]])
    start = np.array(starts)
    center = np.array(centers)
    return Track(
        name=track_file.name,
        category=track_file.category,
        path=track_file.path,
        width=float(width),
        length=float(total),
        kind=np.array(kinds, dtype=np.int8),
        seg_length=seg_length,
        radius=np.array(radii),
        arc=np.array(arcs),
        start_s=start_s,
        start_x=start[:, 0],
        start_y=start[:, 1],
        start_heading=start[:, 2],
        center_x=center[:, 0],
        center_y=center[:, 1],
        segment_names=tuple(names),
    )


_CACHE: dict[tuple[str, str], Track] = {}


def load_track(name: str, datadir: Path | None = None) -> Track:
    """Parse the installed track ``name`` (cached per process)."""
    track_file = find_track(name, datadir)
    key = (str(track_file.path), name)
    if key not in _CACHE:
        _CACHE[key] = parse_track_file(track_file)
    return _CACHE[key]
