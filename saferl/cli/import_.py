"""``saferl import MODEL -o OUT``: convert any policy file saferl reads into saferl's own format.

Neural networks (a stable-baselines3 ``.zip``, an ``.onnx`` MLP, a saferl model directory)
become a model directory (``manifest.json`` + ``model.safetensors``); a scikit-learn tree
saved with skops becomes the exact ``.pol`` tree.  Nothing is unpickled or executed.

Example:
    saferl import ppo-cartpole.zip --env CartPole-v1 -o models/ppo-cartpole
    saferl import tree.skops --obs-names x,v --action-name push --labels left,right -o tree.pol
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from saferl.cli._common import EXIT_OK, check_output_path, new_app, run_app, streams, write_output
from saferl.errors import InputError

app = new_app("Convert an SB3 .zip, ONNX MLP, model directory or skops tree into saferl's format.")


def _check_output(output: Path, directory: bool, force: bool) -> None:
    check_output_path(output, directory=directory)
    if directory:
        if output.is_dir() and any(output.iterdir()) and not force:
            raise InputError(f"--output {output} is not empty", hint="pass --force to overwrite the model files in it")
    elif output.exists() and not force:
        raise InputError(f"--output {output} exists", hint="pass --force to overwrite it")


def _describe(policy: Any) -> str:
    m = policy.manifest
    layers = "-".join(str(n) for n in m["actor"]["layers"])
    action = m["action"]
    if action["kind"] == "discrete":
        act = f"{action['name']} in {{{', '.join(action['labels'])}}}"
    else:
        act = f"{action['name']} in [{action['low'][0]:g}, {action['high'][0]:g}]"
    return f"MLP {layers} ({m['actor']['activation']}), obs {', '.join(m['observation']['names'])}; action {act}"


@app.command(name="import")
def import_command(
    ctx: typer.Context,
    model: Annotated[Path, typer.Argument(help="SB3 .zip, .onnx MLP, saferl model directory or .skops tree")],
    output: Annotated[Path, typer.Option("--output", "-o", help="model directory (networks) or .pol file (trees) to write")],
    env: Annotated[str | None, typer.Option("--env", help="gymnasium id whose names and ranges the model gets")] = None,
    obs_names: Annotated[str | None, typer.Option("--obs-names", help="comma-separated observation names")] = None,
    action_name: Annotated[str | None, typer.Option("--action-name", help="the action's name")] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="comma-separated discrete action labels, in index order")] = None,
    names_file: Annotated[Path | None, typer.Option("--names", help="YAML file with obs, action, labels, low, high")] = None,
    action_low: Annotated[float | None, typer.Option("--action-low", help="lower end of a continuous action")] = None,
    action_high: Annotated[float | None, typer.Option("--action-high", help="upper end of a continuous action")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing output")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | json")] = "text",
) -> int:
    """Read MODEL without executing it and write it in saferl's format to --output."""
    from saferl.formats import PolicyNames, detect_format, kind_of

    s = streams(ctx)
    if fmt not in ("text", "json"):
        raise InputError(f"unknown format {fmt!r}; formats: text, json")
    names = PolicyNames.from_options(obs_names, action_name, labels, names_file, action_low, action_high)
    source = detect_format(model)
    kind = kind_of(model)
    if source == "pol":
        raise InputError(f"{model} is already a .pol program; nothing to import")
    record: dict[str, Any] = {"input": str(model), "format": source, "output": str(output)}
    if kind == "neural":
        from saferl.formats import load_neural_model
        from saferl.learn.model import save_model

        _check_output(output, directory=True, force=force)
        policy = load_neural_model(model, env, names)
        save_model(output, policy.manifest, policy.tensors)
        record.update(kind="model", description=_describe(policy))
    else:
        from saferl.formats.skops_tree import skops_tree_text
        from saferl.policy import parse_policy

        _check_output(output, directory=False, force=force)
        text = skops_tree_text(model, names, env, name=output.stem if output.stem.isidentifier() else None)
        program = parse_policy(text, str(output))  # the written file parses back
        write_output(text, output, s.out)
        act = program.actions[0].name
        leaves = sum(1 for line in text.splitlines() if line.strip().startswith(f"{act} = "))
        record.update(kind="tree", description=f"decision tree, {leaves} leaves, obs {', '.join(program.obs_names)}; action {act}")
    if fmt == "json":
        s.out.write(json.dumps(record) + "\n")
    else:
        s.out.write(f"imported {model} ({source}) -> {output}: {record['description']}\n")
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by the saferl dispatcher."""
    return run_app(app, "saferl import", argv, out, err)
