"""``saferl tune PROGRAM --env ID --spec SPEC -o OUT.pol``: raise a verified program's return.

The program's numeric constants (thresholds, continuous leaves, gains, coefficients) are
searched for return on the environment, and only candidates the verifier proves SAFE
against the spec can win (:mod:`saferl.learn.tune`); the result is verified once more as
written.  The program must be SAFE to start with (``saferl repair`` first otherwise).

Exit 0 when OUT holds a SAFE program (the start itself when nothing beat it on the
validation episodes), 1 when the start is not SAFE, 2 for bad input or a tool error.

Example:
    saferl tune policies/mountaincar/bang_bang.pol --env MountainCarContinuous-v0 \\
        --spec specs/mountaincar/momentum.yaml -o out/bang_bang_tuned.pol
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from saferl.cli._plain import Parser, parse_or_help, run_plain
from saferl.errors import InputError

PROG = "saferl tune"
EXIT_OK, EXIT_UNSAFE, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(prog=PROG, add_help=False,
               description="Search a SAFE program's constants for return; every candidate that can win is verified.")
    p.add_argument("program", type=Path, metavar="PROGRAM", help="the .pol program (SAFE against --spec)")
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("--env", required=True, help="gymnasium id (any with a flat Box observation)")
    p.add_argument("--spec", type=Path, required=True, help="the YAML spec every winner is proved against")
    p.add_argument("-o", "--output", type=Path, required=True, help="the tuned .pol to write (its folder must exist)")
    p.add_argument("--generations", type=int, default=20, help="search generations (default 20)")
    p.add_argument("--population", type=int, default=16, help="candidates per generation (default 16)")
    p.add_argument("--episodes", type=int, default=20, help="training episodes per candidate (default 20)")
    p.add_argument("--validation-episodes", type=int, default=40,
                   help="fresh episodes choosing among the finalists (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the run is reproducible from it")
    p.add_argument("-f", "--format", dest="fmt", default="text", help="text | json")
    return p


def tune(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Tune PROGRAM and write the best SAFE program to --output."""
    args = parse_or_help(build_parser(), argv, out)
    if isinstance(args, int):
        return args
    if args.fmt not in ("text", "json"):
        raise InputError(f"unknown format {args.fmt!r}; formats: text, json")
    for name, low, high in (("generations", 1, 10_000), ("population", 2, 10_000), ("episodes", 1, 100_000),
                            ("validation_episodes", 1, 100_000)):
        value = getattr(args, name)
        if not low <= value <= high:
            raise InputError(f"--{name.replace('_', '-')} must be between {low} and {high}, got {value}")
    from saferl.cli._common import check_output_path
    from saferl.policy import format_policy, load_policy, parse_policy
    from saferl.policy.ast import Program
    from saferl.results import Verdict
    from saferl.spec import load_spec
    from saferl.verify import verify_policy

    check_output_path(args.output)
    program = load_policy(args.program)
    if not isinstance(program, Program):
        raise InputError(f"{args.program} is a gridworld subgoal program; tune needs a .pol program")
    spec = load_spec(args.spec)
    from saferl.learn.envs import env_signature

    env_signature(args.env)
    start = verify_policy(program, spec, policy_path=str(args.program))
    if start.verdict is not Verdict.SAFE:
        err.write(f"{PROG}: {args.program} is {start.verdict.value} against {args.spec}; tune starts from a SAFE "
                  f"program (run saferl repair first)\n")
        return EXIT_UNSAFE
    from saferl.cli._progress import progress_bar
    from saferl.learn.tune import TuneConfig, tune_program

    cfg = TuneConfig(generations=args.generations, population=args.population, episodes=args.episodes,
                     validation_episodes=args.validation_episodes, seed=args.seed)
    with progress_bar(err, f"tune {args.env}", enabled=args.fmt == "text") as update:
        result = tune_program(program, args.env, spec, cfg, policy_path=str(args.output),
                              progress=lambda g, n, best: update(g, n, f"training return {best:.2f}"))
    changed = result.program is not program
    if changed:
        text = format_policy(result.program)
        final = verify_policy(parse_policy(text, str(args.output)), spec, policy_path=str(args.output))
        if final.verdict is not Verdict.SAFE:  # tune_program only returns proved programs
            raise InputError(f"the tuned program is {final.verdict.value} on re-verification; nothing written")
    else:
        from saferl.policy import read_policy_text

        text = read_policy_text(args.program)
    args.output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    record = {"program": str(args.program), "output": str(args.output), "env": args.env, "spec": str(args.spec),
              "changed": changed, "verdict": "SAFE", "training_return_start": result.start_score,
              "training_return": result.score, "validation_return_start": result.validation_start,
              "validation_return": result.validation, "evaluations": result.evaluations,
              "verifications": result.verifications, "rejected": result.rejected, "seconds": result.seconds}
    if args.fmt == "json":
        out.write(json.dumps(record) + "\n")
        return EXIT_OK
    out.write(f"tune {args.program} -> {args.output} ({args.env}, seed {args.seed})\n")
    out.write(f"return on {args.validation_episodes} validation episodes: {result.validation_start:.2f} -> "
              f"{result.validation:.2f}{'' if changed else ' (nothing beat the start; written unchanged)'}\n")
    out.write(f"{result.evaluations} candidates rolled out, {result.verifications} verified, "
              f"{result.rejected} not proved SAFE and dropped, {result.seconds:.1f} s\n")
    out.write(f"verdict: SAFE against {args.spec}\n")
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: tune(argv, out, err), err)
