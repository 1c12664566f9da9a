"""``saferl repair POLICY --spec SPEC -o FIXED.pol``: repair a policy until it is proved SAFE.

Exit codes: 0 repaired (or already SAFE) and re-verified SAFE, 1 no repair within the
policy's shape and the budget (the report says why), 2 bad input or tool error.
A spec with closed-loop properties (``dynamics:``) is repaired from their counterexample
trajectories (saferl.repair.closedloop) and re-verified by the closed-loop engine.
The report (text or JSON) goes to stdout, progress to stderr when it is a terminal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import typer

from saferl.cli._common import (
    EXIT_OK,
    EXIT_UNSAFE,
    check_output_path,
    new_app,
    run_app,
    streams,
    write_output,
)

app = new_app(
    "Repair a policy by constraint solving until every property of the spec is SAFE. "
    "Exit 0 repaired, 1 no repair within shape/budget, 2 bad input/tool error."
)

FORMATS = ("text", "json")
SHOWN_WITNESSES = 5


@app.command()
def repair(
    ctx: typer.Context,
    policy: Path = typer.Argument(..., help="The .pol policy file (or a .skops scikit-learn tree)."),
    spec: Path = typer.Option(..., "--spec", "-s", help="The YAML spec file."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the repaired policy here."),
    env: str | None = typer.Option(None, "--env", help="Gymnasium id: visit states with the original policy, report returns."),
    states: Path | None = typer.Option(None, "--states", help="Visited observations (.npy or .csv, one row per step)."),
    max_iters: int = typer.Option(25, "--max-iters", help="CEGIS iterations per policy shape."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds for the whole repair."),
    solver_timeout: float = typer.Option(5.0, "--solver-timeout", help="Nominal seconds of solver work per call (z3 steps, 2 million a second: the same answer on every machine)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text | json"),
    structural: bool = typer.Option(True, "--structural/--no-structural", help="Allow structural edits (split a leaf, add a guard)."),
    select: str = typer.Option("auto", "--select", help="auto | change | return: how to choose among verified repairs."),
    episodes: int = typer.Option(100, "--episodes", help="Episodes for the before/after return (with --env)."),
    seed: int = typer.Option(0, "--seed", help="First episode seed for the before/after return."),
    behaviour_weight: float = typer.Option(1.0, "--behaviour-weight", help="Weight of changed actions on visited states."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> int:
    """Repair POLICY against SPEC; write the proved-SAFE policy to --output."""
    from saferl.errors import InputError
    from saferl.policy.ast import Program
    from saferl.repair import RepairOptions, repair_policy
    from saferl.spec import load_spec

    s = streams(ctx)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if select not in ("auto", "change", "return"):
        raise InputError(f"unknown --select {select!r}; choose auto, change or return")
    if max_iters < 1 or max_iters > 10_000:
        raise InputError(f"--max-iters must be between 1 and 10000, got {max_iters}")
    for name, value in (("--timeout", timeout), ("--solver-timeout", solver_timeout)):
        if not (0 < value <= 86400):
            raise InputError(f"{name} must be a positive number of seconds, got {value}")
    if not (1 <= episodes <= 100_000):
        raise InputError(f"--episodes must be between 1 and 100000, got {episodes}")
    if not (0 <= behaviour_weight < 1e6):
        raise InputError(f"--behaviour-weight must be a non-negative number, got {behaviour_weight}")
    if env is not None and states is not None:
        raise InputError("give --env or --states, not both")
    if select == "return" and env is None:
        raise InputError("--select return needs --env")
    if output is not None:
        check_output_path(output)
    from saferl.formats import load_program_source

    text, program = load_program_source(policy, env_id=env)
    if not isinstance(program, Program):
        raise InputError(f"{policy} is a gridworld subgoal program; repair works on tree and PID programs")
    spec_obj = load_spec(spec)
    from saferl.spec import bind_spec

    bind_spec(spec_obj, program)  # a spec that does not fit the policy is bad input
    rows = None
    if states is not None:
        from saferl.repair.behaviour import load_states

        rows = load_states(states, len(program.observations))
    progress = _Progress(s.err, enabled=not quiet and fmt == "text" and s.err.isatty())
    opts = RepairOptions(
        max_iters=max_iters, timeout_s=timeout, solver_timeout_s=solver_timeout, structural=structural,
        behaviour_weight=behaviour_weight, states=rows, env_id=env, env_episodes=episodes, env_seed=seed,
        select=select, progress=progress,
    )
    if spec_obj.closed_loop:  # trajectories become repair points; the closed-loop engine re-verifies
        progress.stop()
        from saferl.repair.closedloop import render_text as closed_loop_text
        from saferl.repair.closedloop import repair_closed_loop

        cl = repair_closed_loop(program, spec_obj, opts, policy_path=str(policy), source_text=text)
        done = cl.status in ("repaired", "already-safe")
        if done and output is not None:
            write_output(cl.policy_text, output, s.out)
        if fmt == "json":
            rec = {**cl.to_record(), "input": str(policy), "spec": str(spec), "output": str(output) if done and output else None}
            s.out.write(json.dumps(rec, indent=2) + "\n")
        else:
            s.out.write(closed_loop_text(cl, str(policy), str(output) if done and output else None))
        return EXIT_OK if done else EXIT_UNSAFE
    try:
        result = repair_policy(program, spec_obj, opts, policy_path=str(policy), source_text=text)
    finally:
        progress.stop()
    if result.status in ("repaired", "already-safe") and output is not None:
        write_output(result.policy_text, output, s.out)
    if fmt == "json":
        rec = result.to_record()
        rec["input"] = str(policy)
        rec["spec"] = str(spec)
        rec["output"] = str(output) if output is not None and result.status in ("repaired", "already-safe") else None
        rec["env"] = env
        s.out.write(json.dumps(rec, indent=2, sort_keys=False) + "\n")
    else:
        s.out.write(render_text(result, str(policy), str(output) if output else None, env, episodes, seed))
    return EXIT_OK if result.status in ("repaired", "already-safe") else EXIT_UNSAFE


class _Progress:
    """A one-line rich status on stderr, updated at each CEGIS iteration."""

    def __init__(self, err: TextIO, enabled: bool):
        self.status: Any = None
        if enabled:
            from rich.console import Console

            self.console = Console(file=err, stderr=True)
            self.status = self.console.status("repair: verifying the original policy")
            self.status.start()

    def __call__(self, event: str, info: Any) -> None:
        if self.status is None:
            return
        if event == "iteration":
            beh = " +behaviour" if info.get("behaviour") else ""
            bad = ", ".join(info.get("unsafe", [])) or "none"
            self.status.update(
                f"repair: {info['shape']}{beh} · iteration {info['iteration']} · "
                f"{info['points']} counterexamples · still UNSAFE: {bad}"
            )
        elif event == "shape":
            self.status.update(f"repair: trying {info['shape']}")
        elif event == "tune":
            self.status.update(f"repair: tuning {info['shape']} for return ({info['score']:.1f})")
        elif event == "verify":
            self.console.print(f"original: {info['verdict']}" + (f" ({', '.join(info['unsafe'])})" if info["unsafe"] else ""))

    def stop(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def render_text(result: Any, policy: str, output: str | None, env: str | None, episodes: int, seed: int) -> str:
    """The human report: outcome, a diff old -> new, the forcing counterexamples, the proof."""
    lines: list[str] = []
    v = result.verify
    if result.status == "already-safe":
        lines.append(f"{policy}: already SAFE; nothing to repair")
    elif result.status == "repaired":
        target = output or "(stdout)"
        lines.append(
            f"repaired: {policy} -> {target}: SAFE (proved) after {result.iterations} iteration(s), "
            f"{result.time_s:.2f} s; {result.reason}"
        )
    else:
        lines.append(f"not repaired: {policy}: {result.reason}")
    if result.status == "repaired":
        lines.append("")
        lines.append(f"--- {policy}")
        lines.append(f"+++ {output or 'repaired'}")
        for e in result.edits:
            lines.append(f"@@ line {e.old_line} -> lines {e.new_lines[0]}-{e.new_lines[1]} ({e.kind}) @@")
            lines.append(f"-{e.old_text}")
            lines += [f"+{ln}" for ln in e.new_text.splitlines()]
        for c in result.changes:
            lines.append(f"@@ line {c.old_line} -> line {c.new_line} ({c.kind} {_num(c.old)} -> {_num(c.new)}) @@")
            lines.append(f"-{c.old_text}")
            lines.append(f"+{c.new_text}")
    if result.witnesses:
        lines.append("")
        head = {
            "forcing": "counterexamples that forced the repair:",
            "conflicting": "conflicting counterexamples:",
        }.get(result.witness_kind, "counterexamples still violated when the budget ran out:")
        lines.append(head)
        lines += [f"  {w.describe()}" for w in result.witnesses[:SHOWN_WITNESSES]]
        if len(result.witnesses) > SHOWN_WITNESSES:
            lines.append(f"  … and {len(result.witnesses) - SHOWN_WITNESSES} more (--format json lists them all)")
    if result.attempts:
        lines.append("")
        lines.append("shapes tried:")
        lines += [f"  {a.shape}: {a.outcome} ({a.iterations} it.)" + (f" - {a.detail}" if a.detail else "")
                  for a in result.attempts]
    if v is not None and result.status in ("repaired", "already-safe"):
        lines.append("")
        lines.append("re-verification:" if result.status == "repaired" else "verification:")
        for r in v.results:
            lines.append(f"  {r.property_id:<24} {r.verdict.value:<7} {r.message}")
    if result.returns:
        lines.append("")
        last = seed + episodes - 1
        before = result.returns.get("before")
        after = result.returns.get("after")
        lines.append(
            f"return on {env} ({episodes} episodes, seeds {seed}..{last}): before {before:.2f}"
            + (f", after {after:.2f}" if after is not None else "")
        )
    if result.behaviour_changed is not None:
        lines.append(
            f"behaviour: actions changed on {100 * result.behaviour_changed:.0f}% of "
            f"{result.behaviour_states} visited states"
        )
    if result.status == "repaired" and output is None:
        lines.append("")
        lines.append(result.policy_text.rstrip("\n"))
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    from saferl.policy.printer import format_number

    return format_number(x)


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    return run_app(app, "saferl repair", argv, out, err)
