"""``saferl train``: train a small neural oracle (PPO or TD3) from a seed.

Example:
    saferl train --env CartPole-v1 --algo ppo --seed 1 -o oracles/cartpole-ppo
    saferl train --env saferl/Torcs-v0 --algo td3 --track g-track-2 \
        --warm-start policies/torcs/propel_prog.pol --log out/torcs-train.jsonl -o out/torcs-td3

On ``saferl/Torcs-v0`` (real TORCS) training follows :mod:`saferl.learn.torcs`: PROPEL's
reward, episodes that end off the track or on a stall, checkpoints chosen by one greedy
lap, and an optional behaviour-cloning warm start from a .pol program; the final report
is the lap time on ``--track`` instead of a mean return.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from saferl.cli._common import check_output_path, new_app, run_app, streams
from saferl.errors import InputError, MissingDependencyError

app = new_app("Train a small neural oracle (PPO for discrete, TD3 for continuous actions).")


class Algo(StrEnum):
    ppo = "ppo"
    td3 = "td3"


class Format(StrEnum):
    text = "text"
    json = "json"


@app.command()
def train(
    ctx: typer.Context,
    env: Annotated[str, typer.Option("--env", help="gymnasium id: CartPole-v1, MountainCarContinuous-v0, Pendulum-v1")],
    algo: Annotated[Algo, typer.Option("--algo", help="ppo (discrete actions) or td3 (continuous)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="model directory to write")],
    seed: Annotated[int, typer.Option("--seed", help="random seed; the run is reproducible from it")] = 0,
    timesteps: Annotated[int | None, typer.Option("--timesteps", help="environment steps (default: the algorithm's)")] = None,
    eval_episodes: Annotated[int, typer.Option("--eval-episodes", help="greedy episodes for the final report")] = 20,
    fmt: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
    track: Annotated[str | None, typer.Option("--track", help="saferl/Torcs-v0: the track to train on (default g-track-2)")] = None,
    warm_start: Annotated[Path | None, typer.Option("--warm-start", help="saferl/Torcs-v0: a .pol driving program to behaviour-clone first")] = None,
    warm_start_tracks: Annotated[str | None, typer.Option("--warm-start-tracks", help="saferl/Torcs-v0: comma-separated tracks the warm start drives (default: --track)")] = None,
    log: Annotated[Path | None, typer.Option("--log", help="append one JSON line per episode and evaluation to this file")] = None,
) -> int:
    """Train an oracle and write it as safetensors + manifest.json."""
    s = streams(ctx)
    from saferl.learn.envs import env_signature

    torcs = env == "saferl/Torcs-v0"
    if not torcs and (track is not None or warm_start is not None or warm_start_tracks is not None):
        raise InputError("--track and --warm-start apply to saferl/Torcs-v0 only")
    if warm_start_tracks is not None and warm_start is None:
        raise InputError("--warm-start-tracks needs --warm-start")
    bc_tracks = tuple(t.strip() for t in (warm_start_tracks or "").split(",") if t.strip())

    sig = env_signature(env)
    if algo is Algo.ppo and not sig.discrete:
        raise InputError(f"ppo here trains discrete actions; {env} is continuous", hint="use --algo td3")
    if algo is Algo.td3 and sig.discrete:
        raise InputError(f"td3 trains continuous actions; {env} is discrete", hint="use --algo ppo")
    if timesteps is not None and timesteps <= 0:
        raise InputError("--timesteps must be positive")
    if eval_episodes < 1:
        raise InputError("--eval-episodes must be at least 1")
    check_output_path(output, directory=True)
    if log is not None:
        check_output_path(log, "--log")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
    program = None
    if warm_start is not None:
        from saferl.policy import load_policy
        from saferl.policy.ast import Program

        program = load_policy(warm_start)
        if not isinstance(program, Program):
            raise InputError(f"{warm_start} is not a control program")
        from saferl.learn.torcs import check_warm_start

        check_warm_start(program)

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from saferl.learn.evaluate import evaluate_policy
    from saferl.learn.model import policy_from_parts, save_model

    console = Console(file=s.err)
    with Progress(
        TextColumn(f"train {algo.value} {env}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("eval {task.fields[ret]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("train", total=1, ret="-")

        def progress(step: int, total: int, last: float) -> None:
            bar.update(task, completed=step, total=total, ret=f"{last:.1f}")

        def write_log(record: dict[str, object]) -> None:
            if log is not None:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            if record.get("kind") == "eval" and not console.is_terminal:
                s.err.write(f"train: step {record['step']}, eval score {float(record['score']):.3f}\n")  # type: ignore[arg-type]

        if torcs:
            from saferl.learn.torcs import TorcsTrainConfig, td3_defaults, train_torcs_td3

            tcfg = td3_defaults()
            if timesteps is not None:
                tcfg.total_timesteps = timesteps
            manifest, tensors = train_torcs_td3(track or "g-track-2", seed, tcfg, TorcsTrainConfig(bc_tracks=bc_tracks),
                                                warm_start=program, progress=progress, log=write_log)
        elif algo is Algo.ppo:
            from saferl.learn.ppo import PPOConfig, train_ppo

            pcfg = PPOConfig()
            if timesteps is not None:
                pcfg.total_timesteps = timesteps
            manifest, tensors = train_ppo(env, seed, pcfg, progress)
        else:
            from saferl.learn.td3 import TD3Config, train_td3

            tcfg = TD3Config.for_env(env)
            if timesteps is not None:
                tcfg.total_timesteps = timesteps
            manifest, tensors = train_td3(env, seed, tcfg, progress)
    policy = policy_from_parts(manifest, tensors)
    if torcs:
        return _report_torcs(manifest, tensors, policy, track or "g-track-2", seed, output, fmt, s.out)
    stats = evaluate_policy(policy, env, episodes=eval_episodes, seed=seed + 777_000)
    manifest["training"]["final_eval"] = {
        "episodes": eval_episodes,
        "mean_return": round(stats.mean, 3),
        "std_return": round(stats.std, 3),
    }
    save_model(output, manifest, tensors)
    record = {
        "env": env,
        "algo": algo.value,
        "seed": seed,
        "output": str(output),
        "mean_return": stats.mean,
        "std_return": stats.std,
        "episodes": eval_episodes,
        "parameters": int(sum(v.size for v in tensors.values())),
    }
    if fmt is Format.json:
        s.out.write(json.dumps(record) + "\n")
    else:
        s.out.write(
            f"{env} {algo.value} seed {seed}: return {stats.mean:.2f} +- {stats.std:.2f} over "
            f"{eval_episodes} episodes, {record['parameters']} parameters -> {output}\n"
        )
    return 0


def _report_torcs(manifest: dict, tensors: dict, policy: object, track: str, seed: int, output: Path, fmt: Format, out: TextIO) -> int:
    """Drive one greedy lap of ``track``, record it in the manifest, save, report."""
    from saferl.learn.model import save_model
    from saferl.learn.torcs import drive_lap

    lap = drive_lap(policy.act, track)  # type: ignore[attr-defined]
    manifest["training"]["final_eval"] = {"laps": [lap]}
    save_model(output, manifest, tensors)
    record = {
        "env": "saferl/Torcs-v0",
        "algo": "td3",
        "seed": seed,
        "output": str(output),
        "track": track,
        "lap_time": lap["lap_time"],
        "crashed": lap["crashed"],
        "dist_raced": lap["dist_raced"],
        "episodes": manifest["training"].get("episodes"),
        "parameters": int(sum(v.size for v in tensors.values())),
    }
    if fmt is Format.json:
        out.write(json.dumps(record) + "\n")
    else:
        result = f"lap {lap['lap_time']:.2f} s" if lap["lap_time"] else f"no lap ({'crash' if lap['crashed'] else 'stopped'} at {lap['dist_raced']:.0f} m)"
        out.write(
            f"saferl/Torcs-v0 td3 seed {seed} on {track}: {result}, {record['episodes']} training episodes, "
            f"{record['parameters']} parameters -> {output}\n"
        )
    return 0


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by the saferl dispatcher."""
    return run_app(app, "saferl train", argv, out, err)
