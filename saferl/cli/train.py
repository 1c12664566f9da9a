"""``saferl train``: train a small neural oracle (PPO or TD3) from a seed.

Example:
    saferl train --env CartPole-v1 --algo ppo --seed 1 -o oracles/cartpole-ppo
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
) -> int:
    """Train an oracle and write it as safetensors + manifest.json."""
    s = streams(ctx)
    from saferl.learn.envs import env_signature

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
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
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

        if algo is Algo.ppo:
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


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by the saferl dispatcher."""
    return run_app(app, "saferl train", argv, out, err)
