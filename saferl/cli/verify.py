"""``saferl verify POLICY --spec SPEC``: prove a policy against a spec.

Exit codes: 0 every property SAFE, 1 a property UNSAFE (counterexample replayed),
2 bad input or tool error, 3 UNKNOWN (timeout) and nothing UNSAFE.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import typer

from saferl.cli._common import (
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_UNSAFE,
    new_app,
    run_app,
    streams,
    write_output,
)

app = new_app("Prove a policy against a YAML spec. Exit 0 SAFE, 1 UNSAFE, 2 bad input/tool error, 3 UNKNOWN.")

FORMATS = ("text", "json", "sarif", "junit")


@app.command()
def verify(
    ctx: typer.Context,
    policy: Path = typer.Argument(..., help="The .pol policy file."),
    spec: Path = typer.Option(..., "--spec", "-s", help="The YAML spec file."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json | sarif | junit"),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per property and solver (default: the spec's, else 10)."),
    budget: float | None = typer.Option(
        None, "--budget", help="Seconds for the whole command; properties not reached in it are UNKNOWN (budget exhausted)."
    ),
    cross_check: bool = typer.Option(False, "--cross-check", help="Also run cvc5; a disagreement is a tool error (exit 2)."),
    allow_unknown: bool = typer.Option(False, "--allow-unknown", help="UNKNOWN does not fail the gate (exit 0 instead of 3)."),
    solver: str = typer.Option("z3", "--solver", help="z3 | cvc5"),
) -> int:
    """Prove POLICY against SPEC and report every property."""
    from saferl.errors import InputError
    from saferl.policy import load_policy
    from saferl.policy.ast import Program
    from saferl.report import render
    from saferl.results import Verdict
    from saferl.spec import load_spec
    from saferl.verify import VerifyOptions, verify_policy

    s = streams(ctx)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if solver not in ("z3", "cvc5"):
        raise InputError(f"unknown solver {solver!r}; solvers: z3, cvc5")
    if timeout is not None and not (0 < timeout <= 86400):
        raise InputError(f"--timeout must be a positive number of seconds, got {timeout}")
    if budget is not None and not (0 < budget <= 86400):
        raise InputError(f"--budget must be a positive number of seconds, got {budget}")
    program = load_policy(policy)
    if not isinstance(program, Program):
        raise InputError(
            f"{policy} is a gridworld subgoal program; certify it with 'saferl certify GRID {policy}'"
        )
    spec_obj = load_spec(spec)
    result = verify_policy(
        program, spec_obj, VerifyOptions(timeout_s=timeout, cross_check=cross_check, solver=solver, budget_s=budget),
        policy_path=str(policy),
    )
    record = result.to_record()
    if fmt == "text":  # name discrete actions by label in counterexamples
        from saferl.report.text import action_labels

        record["action_labels"] = action_labels(program)
    color = fmt == "text" and output is None and s.out.isatty()
    write_output(render([record], fmt, allow_unknown=allow_unknown, color=color), output, s.out)
    if result.verdict is Verdict.UNSAFE:
        return EXIT_UNSAFE
    if result.verdict is Verdict.UNKNOWN:
        return EXIT_OK if allow_unknown else EXIT_UNKNOWN
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl verify", argv, out, err)
