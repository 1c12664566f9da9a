"""``saferl torcs``: TORCS utilities.

    saferl torcs tracks [--format json]          installed tracks: length, width, segments
    saferl torcs check                           is real TORCS ready (robot built)?
    saferl torcs race POLICY [--track T] [--laps N] [--surrogate]
                                                 race a .pol policy, report its lap times
    saferl torcs search TEMPLATE --spec S ... --output BEST.pol [--tracks T,...]
                                                 tune a program's parameters by real laps,
                                                 every candidate verified first
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import typer

from saferl.cli._common import EXIT_ERROR, EXIT_OK, new_app, run_app, streams

app = new_app("TORCS utilities: list tracks, check the installation, race a policy, tune a program.")

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


@app.command("search")
def search(
    ctx: typer.Context,
    template: Path = typer.Argument(..., help="A .pol program over the 29 TORCS observations (the start point)."),
    spec: list[Path] = typer.Option(..., "--spec", "-s", help="A spec every candidate must verify against (repeatable)."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the best verified program."),
    tracks: str = typer.Option("aalborg,alpine-2,eroad,ruudskogen,g-track-2", "--tracks",
                               help="Comma-separated tracks, hardest first (a crash skips the rest)."),
    params: str | None = typer.Option(None, "--params", help="Comma-separated parameter ids to tune "
                                      "(default: the gains, targets and constants that are not clip/min/max bounds)."),
    iterations: int = typer.Option(8, "--iterations", help="Cross-entropy rounds."),
    population: int = typer.Option(8, "--population", help="Candidates per round."),
    elite: int = typer.Option(3, "--elite", help="Best candidates that set the next round's mean."),
    sigma: float = typer.Option(0.15, "--sigma", help="Initial spread, relative to each parameter."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    laps: int = typer.Option(1, "--laps", help="Laps raced per track."),
    seeds: int = typer.Option(0, "--seeds", help="Races per track from perturbed starts, seeds 0..N-1 "
                              "(0: one race from the grid); the cost is their mean."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cut every race after this many steps."),
    verify_timeout: float = typer.Option(10.0, "--verify-timeout", help="Seconds per property and solver."),
    budget: float | None = typer.Option(None, "--budget", help="Stop starting rounds after this many seconds."),
    log: Path | None = typer.Option(None, "--log", help="Write every candidate as a JSON line here."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
) -> int:
    """Tune TEMPLATE's parameters by racing candidates in real TORCS (cross-entropy method);
    a candidate is raced only after every property of every --spec is proved SAFE."""
    from saferl.errors import InputError
    from saferl.learn.program_search import (
        SearchOptions,
        search_parameters,
        torcs_lap_cost,
        tunable_parameters,
        verify_gate,
    )
    from saferl.policy import format_policy, load_policy
    from saferl.policy.ast import Program
    from saferl.spec import load_spec

    _check_format(fmt)
    if laps < 1 or (max_steps is not None and max_steps < 1):
        raise InputError("--laps and --max-steps must be at least 1")
    if seeds < 0:
        raise InputError(f"--seeds must be 0 or more, got {seeds}")
    seed_list: list[int | None] = list(range(seeds)) if seeds else [None]
    program = load_policy(template)
    if not isinstance(program, Program) or len(program.observations) != 29:
        raise InputError(f"{template} is not a program over the 29 TORCS observations")
    specs = [load_spec(p) for p in spec]
    track_list = [t.strip() for t in tracks.split(",") if t.strip()]
    if not track_list:
        raise InputError("--tracks names no track")
    try:
        ids = tunable_parameters(program) if params is None else [int(x) for x in params.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--params must be comma-separated integers, got {params!r}") from None
    options = SearchOptions(iterations=iterations, population=population, elite=elite, sigma=sigma,
                            seed=seed, budget_s=budget)
    s = streams(ctx)
    log_file = log.open("w", encoding="utf-8") if log is not None else None

    def report(c: Any) -> None:
        laps_by_track = {t: ([r["lap_times"] for r in d] if isinstance(d, list) else d)
                         for t, d in c.detail.items()}
        if log_file is not None:
            log_file.write(json.dumps({"index": c.index, "verified": c.verified,
                                       "cost": None if c.cost == float("inf") else c.cost,
                                       "values": {str(k): v for k, v in c.values.items()},
                                       "detail": laps_by_track}) + "\n")
            log_file.flush()
        what = f"cost {c.cost:.1f}" if c.verified else f"rejected: {c.detail.get('rejected')}"
        s.err.write(f"candidate {c.index}: {what}\n")

    try:
        result = search_parameters(program, ids, torcs_lap_cost(track_list, laps, seed_list, max_steps=max_steps),
                                   verify_gate(specs, verify_timeout), options, report)
    finally:
        if log_file is not None:
            log_file.close()
    output.write_text(format_policy(result.best.program), encoding="utf-8")
    record = {
        "output": str(output), "cost": result.best.cost, "best_index": result.best.index,
        "values": {str(k): v for k, v in result.best.values.items()},
        "candidates": len(result.candidates),
        "verified": sum(1 for c in result.candidates if c.verified),
        "wall_s": result.wall_s, "cpu_s": result.cpu_s,
        "tracks": {t: ([r["lap_times"] for r in d] if isinstance(d, list) else d)
                   for t, d in result.best.detail.items()},
    }
    if fmt == "json":
        s.out.write(json.dumps(record, indent=2) + "\n")
    else:
        s.out.write(
            f"best: candidate {result.best.index} of {len(result.candidates)} "
            f"({record['verified']} verified), cost {result.best.cost:.2f} -> {output}\n"
            f"  laps: {record['tracks']}\n  {result.wall_s:.1f} s wall, {result.cpu_s:.1f} s CPU\n"
        )
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point of ``saferl torcs``."""
    return run_app(app, "saferl torcs", argv, out, err)


__all__ = ["EXIT_ERROR", "app", "run"]
