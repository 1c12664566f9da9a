"""Locate the TORCS tracks installed by Debian's torcs-data.

Tracks are read at run time from ``$SAFERL_TORCS_DATA`` (default
``/usr/share/games/torcs``): ``tracks/<category>/<name>/<name>.xml``.  Nothing from
torcs-data is ever copied into saferl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from saferl.envs.torcs.errors import UnknownTrackError

__all__ = ["DEFAULT_DATADIR", "TrackFile", "data_dir", "find_track", "list_track_files"]

DEFAULT_DATADIR = Path("/usr/share/games/torcs")


@dataclass(frozen=True)
class TrackFile:
    """An installed track: its name, category (road, oval, dirt) and XML file."""

    name: str
    category: str
    path: Path


def data_dir(datadir: Path | None = None) -> Path:
    """The TORCS data folder: ``datadir``, else ``$SAFERL_TORCS_DATA``, else Debian's."""
    if datadir is not None:
        return Path(datadir)
    env = os.environ.get("SAFERL_TORCS_DATA")
    return Path(env) if env else DEFAULT_DATADIR


def list_track_files(datadir: Path | None = None) -> list[TrackFile]:
    """Every installed track, sorted by category then name (empty if none)."""
    root = data_dir(datadir) / "tracks"
    found = []
    if root.is_dir():
        for category in sorted(p for p in root.iterdir() if p.is_dir()):
            for track in sorted(p for p in category.iterdir() if p.is_dir()):
                xml = track / f"{track.name}.xml"
                if xml.is_file():
                    found.append(TrackFile(track.name, category.name, xml))
    return found


def find_track(name: str, datadir: Path | None = None) -> TrackFile:
    """The installed track called ``name``; :class:`UnknownTrackError` if there is none."""
    files = list_track_files(datadir)
    for track in files:
        if track.name == name:
            return track
    if not files:
        raise UnknownTrackError(
            f"unknown track {name!r}: no TORCS tracks under {data_dir(datadir) / 'tracks'}",
            hint="install them with: bash torcs-robot/install.sh (Debian package torcs-data)",
        )
    close = [t.name for t in files if name.lower() in t.name.lower() or t.name in name]
    hint = f"did you mean {close[0]!r}?" if close else "list them with: saferl torcs tracks"
    raise UnknownTrackError(f"unknown track {name!r}", hint=hint)
