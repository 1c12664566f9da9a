"""Track XML parsing: TORCS's lengths, safe XML handling, and ``saferl torcs tracks``."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from saferl.cli import run as cli_run
from saferl.envs.torcs.errors import TrackError, UnknownTrackError
from saferl.envs.torcs.geometry import (
    LEFT,
    RIGHT,
    STRAIGHT,
    load_track,
    parse_track_file,
    read_params,
)
from saferl.envs.torcs.tracks import DEFAULT_DATADIR, TrackFile, find_track

HAVE_TRACKS = (DEFAULT_DATADIR / "tracks" / "road" / "g-track-2" / "g-track-2.xml").is_file()
needs_tracks = pytest.mark.skipif(
    not HAVE_TRACKS, reason="torcs-data is not installed (bash torcs-robot/install.sh installs it)"
)

PROPEL_TRACKS = {
    "g-track-2": 3185.83,
    "eroad": 3260.43,
    "aalborg": 2587.54,
    "ruudskogen": 3274.20,
    "alpine-2": 3773.57,
}


@needs_tracks
@pytest.mark.parametrize("name, length", sorted(PROPEL_TRACKS.items()))
def test_track_lengths_match_torcs(name: str, length: float) -> None:
    track = load_track(name)
    assert round(track.length, 2) == pytest.approx(length, abs=0.005)


@needs_tracks
def test_g_track_2_geometry() -> None:
    track = load_track("g-track-2")
    assert track.width == 15.0 and track.category == "road"
    assert track.pose_at(0.0) == (0.0, 7.5, 0.0)
    # The centreline closes on itself (to the track author's precision).
    x, y, heading = track.pose_at(track.length - 1e-9)
    assert math.hypot(x, y - 7.5) < 0.1
    assert abs(math.remainder(heading, 2 * math.pi)) < 1e-3
    # Segments tile the track.
    assert track.start_s[0] == 0.0
    assert track.seg_length.sum() == pytest.approx(track.length, abs=0.01)  # TORCS sums in float
    assert set(track.kind.tolist()) <= {STRAIGHT, LEFT, RIGHT}


@needs_tracks
def test_pose_offset_is_to_the_left() -> None:
    track = load_track("g-track-2")
    x, y, _ = track.pose_at(0.0, offset=2.0)
    assert (x, y) == pytest.approx((0.0, 9.5))


def _write_track(tmp_path: Path, segments: str, version: int = 4, extra: str = "") -> TrackFile:
    list_name = "Track Segments" if version >= 4 else "segments"
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE params SYSTEM "params.dtd" [
<!ENTITY default-surfaces SYSTEM "/etc/passwd">
<!ENTITY boom "&boom;&boom;">
]>
<params name="test" type="trackdef">
  <section name="Header"><attnum name="version" val="{version}"/></section>
  <section name="Surfaces">&default-surfaces;</section>
  {extra}
  <section name="Main Track">
    <attnum name="width" unit="m" val="10"/>
    <attnum name="profil steps length" unit="ft" val="10"/>
    <section name="{list_name}">{segments}</section>
  </section>
</params>
"""
    path = tmp_path / "tracks" / "road" / "t" / "t.xml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return TrackFile("t", "road", path)


def test_square_track_from_straights_and_turns(tmp_path: Path) -> None:
    seg = (
        '<section name="s{i}"><attstr name="type" val="str"/><attnum name="lg" val="100"/></section>'
        '<section name="t{i}"><attstr name="type" val="lft"/><attnum name="radius" val="20"/>'
        '<attnum name="arc" unit="deg" val="90"/></section>'
    )
    track = parse_track_file(_write_track(tmp_path, "".join(seg.format(i=i) for i in range(4))))
    assert track.length == pytest.approx(4 * 100 + 4 * 20 * math.pi / 2, abs=1e-3)
    x, y, heading = track.pose_at(track.length - 1e-9)
    assert (x, y) == pytest.approx((0.0, 5.0), abs=1e-3)
    assert heading == pytest.approx(2 * math.pi, abs=1e-5)
    # 10 ft (3.048 m) profile steps: 33 segments per straight, 11 per turn.
    assert track.n_segments == 4 * 33 + 4 * 11


def test_version_3_tracks_list_segments_elsewhere(tmp_path: Path) -> None:
    segs = '<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="50"/></section>'
    track = parse_track_file(_write_track(tmp_path, segs, version=3))
    assert track.length == pytest.approx(50.0)


def test_entities_are_neither_fetched_nor_expanded(tmp_path: Path) -> None:
    segs = '<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="50"/></section>'
    track_file = _write_track(tmp_path, segs)
    params = read_params(track_file.path)
    assert params.section("Surfaces") is not None
    assert params.section("Surfaces").sections == {}  # type: ignore[union-attr]


def test_hex_numbers_are_read(tmp_path: Path) -> None:
    segs = '<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="50"/></section>'
    extra = '<section name="Graphic"><attnum name="color" val="0xA04111"/></section>'
    params = read_params(_write_track(tmp_path, segs, extra=extra).path)
    assert params.section("Graphic").nums["color"] == 0xA04111  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "segments, match",
    [
        ('<section name="a"><attstr name="type" val="zigzag"/></section>', "unknown segment type 'zigzag'"),
        ('<section name="a"><attstr name="type" val="lft"/><attnum name="radius" val="2"/>'
         '<attnum name="arc" val="1"/></section>', "a turn needs radius > width/2"),
        ('<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="-5"/></section>',
         "segment length must be positive"),
        ('<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="5" unit="parsec"/></section>',
         "unsupported unit 'parsec'"),
        ("", "no 'Main Track/Track Segments' section"),
    ],
)
def test_bad_tracks_are_reported(tmp_path: Path, segments: str, match: str) -> None:
    with pytest.raises(TrackError, match=match):
        parse_track_file(_write_track(tmp_path, segments))


def test_not_xml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<params><section", encoding="utf-8")
    with pytest.raises(TrackError, match="not a TORCS XML file"):
        read_params(path)


def test_unknown_track_names_a_hint(tmp_path: Path) -> None:
    segs = '<section name="a"><attstr name="type" val="str"/><attnum name="lg" val="50"/></section>'
    _write_track(tmp_path, segs)
    with pytest.raises(UnknownTrackError, match=r"unknown track 'nope' \(hint: list them with"):
        find_track("nope", tmp_path)
    with pytest.raises(UnknownTrackError, match="no TORCS tracks under"):
        find_track("t", tmp_path / "empty")


@needs_tracks
def test_cli_lists_tracks_as_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["torcs", "tracks", "--format", "json"], out, err) == 0
    records = {r["name"]: r for r in json.loads(out.getvalue())}
    for name, length in PROPEL_TRACKS.items():
        assert records[name]["length_m"] == pytest.approx(length, abs=0.005)
    assert records["g-track-2"]["width_m"] == 15.0 and records["g-track-2"]["category"] == "road"


@needs_tracks
def test_cli_lists_tracks_as_text() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["torcs", "tracks"], out, err) == 0
    line = next(row for row in out.getvalue().splitlines() if row.startswith("g-track-2 "))
    assert "3185.83" in line and "15.00" in line


def test_cli_rejects_bad_input_in_one_line(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["torcs", "tracks", "--format", "xml"], out, err) == 2
    assert err.getvalue() == "saferl torcs: error: unknown format 'xml'; formats: text, json\n"
    err = io.StringIO()
    assert cli_run(["torcs", "tracks", "--datadir", str(tmp_path)], out, err) == 2
    assert err.getvalue().startswith("saferl torcs: error: no TORCS tracks under")
    assert "Traceback" not in err.getvalue()
