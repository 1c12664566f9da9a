"""``saferl extract``: turn a neural oracle into a decision tree or a PID program (.pol).

Example:
    saferl extract --oracle oracles/cartpole-ppo --env CartPole-v1 --kind tree \\
        --max-leaves 8 -o policies/extracted/cartpole-viper.pol
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from saferl.cli._common import check_output_path, new_app, run_app, streams
from saferl.errors import InputError

app = new_app("Extract a decision tree (VIPER) or a PID program from a neural oracle.")


class Kind(StrEnum):
    tree = "tree"
    program = "program"


class Format(StrEnum):
    text = "text"
    json = "json"


def load_oracle(path: Path, env_id: str | None = None, names: Any = None) -> Any:
    """A neural oracle: model directory, SB3 .zip or .onnx MLP (saferl.formats; nothing unpickled)."""
    from saferl.formats import load_neural_model

    return load_neural_model(path, env_id, names)


@app.command()
def extract(
    ctx: typer.Context,
    oracle: Annotated[Path, typer.Option("--oracle", help="model directory (saferl train -o), SB3 .zip or .onnx MLP")],
    env: Annotated[str, typer.Option("--env", help="gymnasium id")],
    output: Annotated[Path, typer.Option("-o", "--output", help=".pol file to write")],
    kind: Annotated[Kind, typer.Option("--kind", help="tree (VIPER) or program (PID synthesis)")] = Kind.tree,
    max_depth: Annotated[int | None, typer.Option("--max-depth", help="tree depth limit")] = None,
    max_leaves: Annotated[int | None, typer.Option("--max-leaves", help="tree leaf limit (default: 8 for CartPole, 4 for MountainCar, 64 for Pendulum)")] = None,
    max_terms: Annotated[int, typer.Option("--max-terms", help="pid controllers per program branch")] = 2,
    iters: Annotated[int | None, typer.Option("--iters", help="DAgger iterations")] = None,
    episodes: Annotated[int, typer.Option("--episodes", help="episodes scoring the result")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    fmt: Annotated[Format, typer.Option("--format", help="text (a table on stderr) or json (on stdout)")] = Format.text,
    obs_names: Annotated[str | None, typer.Option("--obs-names", help="comma-separated observation names (default: the environment's, or obs0, obs1, ...)")] = None,
    action_name: Annotated[str | None, typer.Option("--action-name", help="the action's name in the .pol file")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="comma-separated discrete action labels, in index order")] = None,
    names_file: Annotated[Path | None, typer.Option("--names", help="YAML file with obs, action, labels (flags override it)")] = None,
) -> int:
    """Extract, write the .pol file and report fidelity, return and size."""
    s = streams(ctx)
    from saferl.learn.envs import env_signature

    sig = env_signature(env)
    for name, value in (("--max-depth", max_depth), ("--max-leaves", max_leaves), ("--iters", iters)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1")
    if max_leaves is not None and max_leaves < 2:
        raise InputError("--max-leaves must be at least 2")
    if episodes < 1:
        raise InputError("--episodes must be at least 1")
    check_output_path(output)
    if kind is Kind.program and sig.discrete:
        raise InputError(f"PID programs need a continuous action; {env} is discrete", hint="use --kind tree")
    from saferl.formats import PolicyNames

    names = PolicyNames.from_options(obs_names, action_name, labels, names_file)
    policy = load_oracle(oracle, env, names)
    from saferl.extract.viper import check_oracle

    check_oracle(policy, env)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console(file=s.err)
    with Progress(
        TextColumn(f"extract {kind.value} {env}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[msg]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=fmt is Format.json or not console.is_terminal,
    ) as bar:
        task = bar.add_task("extract", total=1, msg="")

        def progress(done: int, total: int, msg: str) -> None:
            bar.update(task, completed=done, total=total, msg=msg)

        if kind is Kind.tree:
            from saferl.extract.viper import ViperConfig, extract_tree

            vcfg = ViperConfig.for_env(env, seed=seed)
            vcfg.final_episodes = episodes
            if max_depth is not None:
                vcfg.max_depth = max_depth
            if max_leaves is not None:
                vcfg.max_leaves = max_leaves
            if iters is not None:
                vcfg.iters = iters
            result = extract_tree(policy, env, vcfg, progress)
        else:
            from saferl.extract.synth import ProgramConfig, extract_program

            pcfg = ProgramConfig.for_env(env, seed=seed)
            pcfg.final_episodes = episodes
            pcfg.max_terms = max_terms
            if iters is not None:
                pcfg.iters = iters
            result = extract_program(policy, env, pcfg, progress)
    try:
        output.write_text(result.pol_text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror}", hint=str(output)) from None
    record = {"env": env, "oracle": str(oracle), "output": str(output), "seed": seed, **result.to_record()}
    if fmt is Format.json:
        s.out.write(json.dumps(record) + "\n")
        return 0
    table = Table(title=f"saferl extract: {env} ({kind.value})")
    for col in ("fidelity", "return", "size", "wall s", "output"):
        table.add_column(col)
    table.add_row(
        f"{result.fidelity:.3f}",
        f"{result.mean_return:.2f} +- {result.std_return:.2f} ({result.episodes} ep)",
        f"{result.size} {result.size_unit}",
        f"{result.wall_seconds:.1f}",
        str(output),
    )
    Console(file=s.out, width=120).print(table)
    return 0


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by the saferl dispatcher."""
    return run_app(app, "saferl extract", argv, out, err)
