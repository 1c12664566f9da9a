"""``saferl eval POLICY --env ID``: run a policy and report the mean and std of its return."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import typer

from saferl.cli._common import EXIT_OK, new_app, run_app, streams

app = new_app("Run a policy in a gymnasium environment and report its return (mean ± std).")


def load_any_policy(path: Path, env_id: str | None = None) -> object:
    """Any policy file saferl reads (:func:`saferl.formats.load_policy_file`), as an object with act()."""
    from saferl.formats import load_policy_file

    return load_policy_file(path, env_id=env_id)


def _n_actions(policy: object) -> int | None:
    """How many actions a neural policy outputs (None: let the rollout ask the program)."""
    manifest = getattr(policy, "manifest", None)
    if isinstance(manifest, dict) and manifest["action"]["kind"] == "continuous":
        return len(manifest["action"]["low"])
    return None


@app.command()
def eval(  # noqa: A001 - the command's name
    ctx: typer.Context,
    policy: Path = typer.Argument(..., help="A .pol file, model directory, SB3 .zip, .onnx MLP or .skops tree."),
    env: str = typer.Option(..., "--env", "-e", help="Environment id, e.g. CartPole-v1 or saferl/Torcs-v0."),
    episodes: int = typer.Option(10, "--episodes", "-n", help="How many episodes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first episode (then seed+1, …)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cut episodes after this many steps."),
    track: str | None = typer.Option(None, "--track", help="TORCS track name (saferl/Torcs-v0)."),
    laps: int | None = typer.Option(None, "--laps", help="TORCS laps per episode."),
) -> int:
    """Run POLICY for N episodes and report mean ± std of the return."""
    from saferl.errors import InputError
    from saferl.rollout import evaluate_policy

    s = streams(ctx)
    if fmt not in ("text", "json"):
        raise InputError(f"unknown format {fmt!r}; formats: text, json")
    if episodes < 1 or episodes > 1_000_000:
        raise InputError(f"--episodes must be between 1 and 1000000, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise InputError("--max-steps must be positive")
    kwargs: dict[str, object] = {}
    if track is not None:
        kwargs["track"] = track
    if laps is not None:
        if laps < 1:
            raise InputError("--laps must be positive")
        kwargs["laps"] = laps
    pol = load_any_policy(policy, None if env.startswith("saferl/") else env)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=s.err, stderr=True)
    with Progress(
        TextColumn("[bold]eval[/] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"), console=console, transient=True, disable=fmt == "json" or not s.err.isatty(),
    ) as progress:
        task = progress.add_task(f"{policy.name} on {env}", total=episodes, last="")

        def tick(st: object) -> None:
            progress.update(task, advance=1, last=f"return {getattr(st, 'ret', 0):.1f}")

        result = evaluate_policy(
            pol, env, episodes, seed, max_steps=max_steps, env_kwargs=kwargs, on_episode=tick, n_actions=_n_actions(pol)
        )
    rec = result.to_record()
    rec["policy"] = str(policy)
    rec["seed"] = seed
    if fmt == "json":
        s.out.write(json.dumps(rec, indent=2) + "\n")
        return EXIT_OK
    s.out.write(
        f"{policy} on {env}: return {rec['mean_return']:.2f} ± {rec['std_return']:.2f} over {episodes} episodes "
        f"(min {rec['min_return']:.2f}, max {rec['max_return']:.2f}, mean length {rec['mean_length']:.1f})\n"
    )
    if "best_lap_s" in rec:
        best = rec["best_lap_s"]
        s.out.write(f"best lap: {'none' if best is None else f'{best:.2f} s'}; crashed: {rec['crashed']}\n")
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl eval", argv, out, err)
