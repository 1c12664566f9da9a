"""``saferl torcs``: TORCS utilities.

    saferl torcs tracks [--format json]          installed tracks: length, width, segments
    saferl torcs check                           is real TORCS ready (robot built)?
    saferl torcs race POLICY [--track T] [--laps N] [--surrogate]
                                                 race a .pol policy, report its lap times
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import typer

from saferl.cli._common import EXIT_ERROR, EXIT_OK, new_app, run_app, streams

app = new_app("TORCS utilities: list tracks, check the installation, race a policy.")

FORMATS = ("text", "json")


def _check_format(fmt: str) -> None:
    from saferl.errors import InputError

    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


@app.command("tracks")
def tracks(
    ctx: typer.Context,
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    datadir: Path | None = typer.Option(None, "--datadir", help="TORCS data folder (default: Debian's)."),
) -> int:
    """List the installed TORCS tracks with their length and width."""
    from saferl.envs.torcs.errors import TrackError
    from saferl.envs.torcs.geometry import parse_track_file
    from saferl.envs.torcs.tracks import data_dir, list_track_files
    from saferl.errors import InputError

    _check_format(fmt)
    s = streams(ctx)
    files = list_track_files(datadir)
    if not files:
        raise InputError(
            f"no TORCS tracks under {data_dir(datadir) / 'tracks'}",
            hint="install them with: bash torcs-robot/install.sh (Debian package torcs-data)",
        )
    records: list[dict[str, Any]] = []
    for track_file in files:
        try:
            records.append(parse_track_file(track_file).to_record())
        except TrackError as exc:
            records.append({"name": track_file.name, "category": track_file.category, "error": str(exc)})
    if fmt == "json":
        s.out.write(json.dumps(records, indent=2) + "\n")
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column, justify in (("track", "left"), ("category", "left"), ("length m", "right"),
                            ("width m", "right"), ("segments", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for rec in records:
        if "error" in rec:
            table.add_row(rec["name"], rec["category"], "unreadable", "", "")
        else:
            table.add_row(rec["name"], rec["category"], f"{rec['length_m']:.2f}",
                          f"{rec['width_m']:.2f}", str(rec["segments"]))
    Console(file=s.out, width=100, color_system=None).print(table)
    return EXIT_OK


@app.command("check")
def check(ctx: typer.Context) -> int:
    """Say whether real TORCS and the saferl_scr robot are ready, and what is missing."""
    from saferl.envs.torcs.errors import TorcsNotInstalledError
    from saferl.envs.torcs.launcher import find_installation

    s = streams(ctx)
    try:
        inst = find_installation()
    except TorcsNotInstalledError as exc:
        return s.error("saferl torcs check", str(exc))
    s.out.write(
        f"TORCS ready: {inst.torcs_bin}\n  robot: {inst.libdir}/drivers/saferl_scr/saferl_scr.so\n"
        f"  data:  {inst.datadir}\n"
    )
    return EXIT_OK


@app.command("race")
def race(
    ctx: typer.Context,
    policy: Path = typer.Argument(..., help="A .pol policy over the 29 TORCS observations."),
    track: str = typer.Option("g-track-2", "--track", "-t", help="Track name (see 'saferl torcs tracks')."),
    laps: int = typer.Option(1, "--laps", "-l", help="Laps to race."),
    surrogate: bool = typer.Option(False, "--surrogate", help="Race the pure-Python surrogate instead of TORCS."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many 20 ms steps."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
) -> int:
    """Race POLICY on TRACK and report lap times, distance and whether it crashed."""
    from saferl.errors import InputError
    from saferl.policy import load_policy
    from saferl.policy.ast import Program
    from saferl.policy.evaluate import ProgramPolicy

    _check_format(fmt)
    if laps < 1:
        raise InputError(f"--laps must be at least 1, got {laps}")
    if max_steps is not None and max_steps < 1:
        raise InputError(f"--max-steps must be at least 1, got {max_steps}")
    program = load_policy(policy)
    if not isinstance(program, Program):
        raise InputError(f"{policy} is not a TORCS program (it is a gridworld subgoal program)")
    controller = ProgramPolicy(program)
    if controller.n_obs != 29:
        raise InputError(
            f"{policy} declares {controller.n_obs} observations; TORCS gives 29 "
            "(angle, trackPos, speedX..Z, rpm, wheelSpinVel0..3, track0..18, in that order)"
        )
    record = _race(controller, track, laps, surrogate, max_steps)
    record["policy"] = str(policy)
    s = streams(ctx)
    if fmt == "json":
        s.out.write(json.dumps(record, indent=2) + "\n")
        return EXIT_OK
    laps_text = ", ".join(f"{t:.2f}" for t in record["lap_times"]) or "none"
    s.out.write(
        f"{policy} on {record['env']} {track}: laps [{laps_text}] s; "
        f"best {'none' if record['best_lap_s'] is None else format(record['best_lap_s'], '.2f') + ' s'}; "
        f"distance {record['dist_raced']:.1f} m; crashed: {record['crashed']}; "
        f"{record['steps']} steps in {record['wall_s']:.2f} s\n"
    )
    return EXIT_OK


def _race(controller: Any, track: str, laps: int, surrogate: bool, max_steps: int | None) -> dict[str, Any]:
    import time

    import numpy as np

    if surrogate:
        from saferl.envs.torcs.surrogate import TorcsSurrogateEnv

        env: Any = TorcsSurrogateEnv(track=track, laps=laps, max_steps=max_steps)
        env_id = "saferl/TorcsSurrogate-v0"
    else:
        from saferl.envs.torcs.env import TorcsEnv

        env = TorcsEnv(track=track, laps=laps, max_steps=max_steps)
        env_id = "saferl/Torcs-v0"
    try:
        start = time.perf_counter()
        controller.reset()
        obs, info = env.reset()
        steps = 0
        while True:
            action = np.asarray(controller.act(obs), dtype=np.float32)
            obs, _, terminated, truncated, info = env.step(action)
            steps += 1
            if terminated or truncated:
                break
        wall = time.perf_counter() - start
    finally:
        env.close()
    lap_times = [float(t) for t in info["lap_times"]]
    return {
        "env": env_id,
        "track": track,
        "laps": laps,
        "lap_times": lap_times,
        "best_lap_s": min(lap_times) if lap_times else None,
        "crashed": bool(info["crashed"]),
        "dist_raced": float(info["dist_raced"]),
        "steps": steps,
        "wall_s": wall,
    }


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``saferl torcs``."""
    return run_app(app, "saferl torcs", argv, out, err)


__all__ = ["EXIT_ERROR", "app", "run"]
