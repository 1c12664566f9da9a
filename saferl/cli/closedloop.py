"""``saferl closedloop POLICY --spec SPEC``: closed-loop safety and reach properties.

Checks the spec's ``kind: safety`` / ``kind: reach`` properties (those with ``dynamics:``).
Exit codes as ``verify``: 0 every property SAFE, 1 a property UNSAFE (trajectory replayed in
gymnasium), 2 bad input or tool error, 3 UNKNOWN and nothing UNSAFE.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import typer

from saferl.cli._common import (
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_UNSAFE,
    check_output_path,
    new_app,
    run_app,
    streams,
    write_output,
)

app = new_app("Prove closed-loop safety / reach of a policy over a dynamics model. Exit 0 SAFE, 1 UNSAFE, 2 error, 3 UNKNOWN.")

FORMATS = ("text", "json", "sarif", "junit")


@app.command()
def closedloop(
    ctx: typer.Context,
    policy: Path = typer.Argument(..., help="The .pol policy file."),
    spec: Path = typer.Option(..., "--spec", "-s", help="The YAML spec file (properties with 'dynamics:')."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json | sarif | junit"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    plot: Path | None = typer.Option(None, "--plot", help="Draw invariants, reach tubes and counterexamples to this PNG."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per property (default: the spec's, else 60)."),
    allow_unknown: bool = typer.Option(False, "--allow-unknown", help="UNKNOWN does not fail the gate (exit 0 instead of 3)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initial states simulated first."),
    points: Path | None = typer.Option(None, "--repair-points", help="Write repair points of UNSAFE properties (JSON)."),
) -> int:
    """Check every closed-loop property of SPEC for POLICY and report them."""
    from saferl.closedloop import ClosedLoopOptions, check_property
    from saferl.errors import InputError
    from saferl.policy import load_policy, policy_digest
    from saferl.policy.ast import Program
    from saferl.report import render
    from saferl.results import Verdict, VerifyResult
    from saferl.spec import load_spec

    s = streams(ctx)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if timeout is not None and not (0 < timeout <= 86400):
        raise InputError(f"--timeout must be a positive number of seconds, got {timeout}")
    for path, option in ((output, "--output"), (plot, "--plot"), (points, "--repair-points")):
        if path is not None:
            check_output_path(path, option)
    program = load_policy(policy)
    if not isinstance(program, Program):
        raise InputError(f"{policy} is a gridworld subgoal program; closed-loop checks need a .pol program")
    spec_obj = load_spec(spec)
    if not spec_obj.closed_loop:
        raise InputError(f"{spec}: no closed-loop property (kind: safety or reach, with 'dynamics:')")
    from saferl.cli._progress import progress_bar

    options = ClosedLoopOptions(timeout_s=timeout, seed=seed)
    outcomes = []
    with progress_bar(s.err, "closedloop", enabled=fmt == "text") as update:
        update(0, len(spec_obj.closed_loop), spec_obj.closed_loop[0].id)
        for k, prop in enumerate(spec_obj.closed_loop):
            outcomes.append(check_property(program, prop, options, policy_path=str(policy), keep_tube=plot is not None))
            update(k + 1, len(spec_obj.closed_loop), f"{prop.id}: {outcomes[-1].result.verdict.value}")
    result = VerifyResult(
        policy_path=str(policy), spec_path=str(spec), policy_name=program.name, policy_digest=policy_digest(program),
        spec_name=spec_obj.name, results=tuple(o.result for o in outcomes),
    )
    record = result.to_record()
    for prop_rec, out in zip(record["properties"], outcomes, strict=True):
        prop_rec["closed_loop"] = {"proved_steps": out.proved_steps, **out.stats}
    if fmt == "text":  # name discrete actions by label in counterexamples, as verify does
        from saferl.report.text import action_labels

        record["action_labels"] = action_labels(program)
    color = fmt == "text" and output is None and s.out.isatty()
    write_output(render([record], fmt, allow_unknown=allow_unknown, color=color), output, s.out)
    if plot is not None:
        from saferl.closedloop.plot import plot_outcomes

        plot_outcomes(list(spec_obj.closed_loop), outcomes, plot)
    if points is not None:
        import json

        from saferl.closedloop.repairpoints import repair_points

        found = {
            prop.id: [p.to_record() for p in repair_points(program, prop, out.trajectory)]
            for prop, out in zip(spec_obj.closed_loop, outcomes, strict=True) if out.trajectory is not None
        }
        write_output(json.dumps(found, indent=2), points, s.out)
    if result.verdict is Verdict.UNSAFE:
        return EXIT_UNSAFE
    if result.verdict is Verdict.UNKNOWN:
        return EXIT_OK if allow_unknown else EXIT_UNKNOWN
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl closedloop", argv, out, err)
