"""``saferl verify POLICY... --spec SPEC``: prove policies against a spec.

Several policies, and folders (searched for ``*.pol``, sorted), give one report with a
result per policy.  Exit codes, of the worst policy: 0 every property SAFE, 1 a property
UNSAFE (counterexample replayed), 2 bad input or tool error, 3 UNKNOWN (timeout) and
nothing UNSAFE.  (For fleets with a cache and parallel workers, see ``saferl check``.)

This module uses argparse, not typer: ``saferl verify`` is what CI runs on every change,
so it starts with no more than the solver and the report it needs.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path
from typing import Any, TextIO

from saferl.cli._plain import Parser, parse_or_help, run_plain
from saferl.errors import InputError
from saferl.userfile import check_output_location

EXIT_OK, EXIT_UNSAFE, EXIT_ERROR, EXIT_UNKNOWN = 0, 1, 2, 3
FORMATS = ("text", "json", "sarif", "junit")
SOLVERS = ("z3", "cvc5")
PROG = "saferl verify"


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(
        prog=PROG, add_help=False,
        description="Prove a policy against a YAML spec. Exit 0 SAFE, 1 UNSAFE, 2 bad input/tool error, 3 UNKNOWN.",
    )
    p.add_argument("policies", type=Path, nargs="+", metavar="POLICY",
                   help="a .pol policy file, a folder of them, or a .skops scikit-learn tree (with its names)")
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("-s", "--spec", type=Path, required=True, help="the YAML spec file")
    p.add_argument("-f", "--format", dest="fmt", default="text", help=" | ".join(FORMATS))
    p.add_argument("-o", "--output", type=Path, help="write the report here instead of stdout")
    p.add_argument("--timeout", type=float, help="seconds per property and solver, both stages (default: the spec's, else 10)")
    p.add_argument("--budget", type=float, help="seconds for the whole command; properties not reached in it are UNKNOWN")
    p.add_argument("--cross-check", action="store_true", help="also run cvc5; a disagreement is a tool error (exit 2)")
    p.add_argument("--allow-unknown", action="store_true", help="UNKNOWN does not fail the gate (exit 0 instead of 3)")
    p.add_argument("--solver", default="z3", help=" | ".join(SOLVERS))
    names = p.add_argument_group("names of a .skops tree (it carries none; .pol files name their own)")
    names.add_argument("--names", type=Path, dest="names_file", help="YAML file with obs, action, labels (as for 'saferl import')")
    names.add_argument("--obs-names", help="comma-separated observation names, in feature order")
    names.add_argument("--action-name", help="the action's name")
    names.add_argument("--labels", help="comma-separated discrete action labels, in class-index order")
    return p


def _validate(args: argparse.Namespace) -> None:
    if args.fmt not in FORMATS:
        raise InputError(f"unknown format {args.fmt!r}; formats: {', '.join(FORMATS)}")
    if args.solver not in SOLVERS:
        raise InputError(f"unknown solver {args.solver!r}; solvers: {', '.join(SOLVERS)}")
    for name in ("timeout", "budget"):
        value = getattr(args, name)
        if value is not None and not (0 < value <= 86400):
            raise InputError(f"--{name} must be a positive number of seconds, got {value}")


def verify(argv: list[str], out: TextIO) -> int:
    """Prove POLICY against SPEC and report every property."""
    args = parse_or_help(build_parser(), argv, out)
    if isinstance(args, int):
        return args
    _validate(args)
    from saferl.formats import PolicyNames, load_program
    from saferl.policy.ast import Program

    if args.output is not None:
        check_output_location(args.output, "--output")
    paths = _policy_files(args.policies)
    names = PolicyNames.from_options(args.obs_names, args.action_name, args.labels, args.names_file)
    programs = []
    # A large policy is hundreds of thousands of syntax nodes that live until the command
    # ends: the cycle collector would scan them again and again (a third of the time of a
    # large tree's verify).  It pauses while they are built; they are frozen out of its
    # scans after (gc.freeze, undone when the command returns), while what the proofs
    # allocate is still collected.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for path in paths:  # every file is read (and refused) before any proof starts
            # a skops tree is converted in memory exactly as `saferl import` writes it
            program = load_program(path, names=names, require_names=True)
            if not isinstance(program, Program):
                raise InputError(f"{path} is a gridworld subgoal program; certify it with 'saferl certify GRID {path}'")
            programs.append(program)
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    try:
        return _prove_and_report(args, paths, programs, out)
    finally:
        gc.unfreeze()


def _prove_and_report(args: argparse.Namespace, paths: list[Path], programs: list[Any], out: TextIO) -> int:
    """Verify the loaded programs, write the report, return the exit code."""
    from saferl.report import render
    from saferl.results import Verdict
    from saferl.spec import load_spec
    from saferl.verify import VerifyOptions, verify_policy

    spec_obj = load_spec(args.spec)
    options = VerifyOptions(timeout_s=args.timeout, cross_check=args.cross_check, solver=args.solver, budget_s=args.budget)
    records, verdicts = [], []
    for path, program in zip(paths, programs, strict=True):
        result = verify_policy(program, spec_obj, options, policy_path=str(path))
        record = result.to_record()
        if args.fmt == "text":  # name discrete actions by label in counterexamples
            from saferl.report.text import action_labels

            record["action_labels"] = action_labels(program)
        records.append(record)
        verdicts.append(result.verdict)
    color = args.fmt == "text" and args.output is None and out.isatty()
    _write(render(records, args.fmt, allow_unknown=args.allow_unknown, color=color), args.output, out)
    worst = Verdict.merge(verdicts)
    if worst is Verdict.UNSAFE:
        return EXIT_UNSAFE
    if worst is Verdict.UNKNOWN:
        return EXIT_OK if args.allow_unknown else EXIT_UNKNOWN
    return EXIT_OK


def _policy_files(given: list[Path]) -> list[Path]:
    """The policy files named, folders expanded to their ``*.pol`` files (sorted)."""
    out: list[Path] = []
    for path in given:
        if path.is_dir() and not (path / "manifest.json").is_file():  # a model directory is refused later
            found = sorted(p for p in path.rglob("*.pol") if p.is_file())
            if not found:
                raise InputError(f"{path}: the folder holds no .pol policy")
            out += found
        else:
            out.append(path)
    return out


def _write(text: str, output: Path | None, out: TextIO) -> None:
    """The report to ``output`` (its folder must exist) or to ``out``."""
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        out.write(text)
        return
    check_output_location(output, "--output")
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror}") from None


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: verify(argv, out), err)
