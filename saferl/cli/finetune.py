"""``saferl finetune MODEL_DIR --env ID -o MODEL_DIR2``: continue training a neural policy.

PPO for discrete actions, TD3 for continuous ones (:mod:`saferl.learn.finetune`), optionally
with an imitation penalty towards a program (``--program P --lambda L``), behind a shield
(``--shield SPEC --fallback P``) or with violations counted unshielded (``--monitor SPEC``).
Beside the model: ``finetune.json`` (the report), ``curve.json`` and ``curve.png``
(environment steps -> return, violations, interventions).

Example:
    saferl finetune models/cartpole-distilled --env CartPole-v1 -o models/cartpole-ft \\
        --shield specs/cartpole/pole_follow.yaml --fallback policies/cartpole/near_optimal.pol
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from saferl.cli._plain import Parser, parse_or_help, run_plain
from saferl.errors import InputError, MissingDependencyError

PROG = "saferl finetune"
EXIT_OK, EXIT_ERROR = 0, 2


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(prog=PROG, add_help=False, description="Fine-tune a neural policy with PPO (discrete) or TD3 (continuous).")
    p.add_argument("model", type=Path, metavar="MODEL_DIR", help="the saferl model directory to start from")
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("--env", required=True, help="gymnasium id: CartPole-v1, MountainCarContinuous-v0, Pendulum-v1")
    p.add_argument("-o", "--output", type=Path, required=True, help="model directory to write (its parent must exist)")
    p.add_argument("--program", type=Path, help="a .pol program to stay close to (imitation penalty)")
    p.add_argument("--lambda", dest="lam", type=float, help="weight of the imitation penalty (default 1 with --program)")
    p.add_argument("--shield", type=Path, help="train behind a shield enforcing this YAML spec (needs --fallback)")
    p.add_argument("--fallback", type=Path, help="the verified .pol program the shield falls back on")
    p.add_argument("--monitor", type=Path, help="count violations of this spec without shielding (names from --fallback or --program)")
    p.add_argument("--timesteps", type=int, default=50_000, help="environment steps (default 50000)")
    p.add_argument("--start-confidence", type=float, default=0.55,
                   help="discrete: soften the start until its median preferred-action probability is at most this "
                        "(1: keep it as is; default 0.55)")
    p.add_argument("--critic-warmup", type=int, default=1,
                   help="PPO: rollouts (512 steps each) that fit only the fresh critics before the actor moves (default 1)")
    p.add_argument("--intervention-penalty", type=float, default=5.0,
                   help="with --shield: reward the trainer loses at each intervention (default 5; returns reported unshaped)")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes of the before / after evaluation")
    p.add_argument("--seed", type=int, default=0, help="random seed; the run is reproducible from it")
    p.add_argument("-f", "--format", dest="fmt", default="text", help="text | json")
    return p


def _program(path: Path, option: str) -> Any:
    from saferl.policy import load_policy
    from saferl.policy.ast import Program

    program = load_policy(path)
    if not isinstance(program, Program):
        raise InputError(f"{option} {path} is a gridworld subgoal program; a .pol program for the env is needed")
    return program


def finetune(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Fine-tune MODEL_DIR and write the model, its report and learning curve."""
    args = parse_or_help(build_parser(), argv, out)
    if isinstance(args, int):
        return args
    if args.fmt not in ("text", "json"):
        raise InputError(f"unknown format {args.fmt!r}; formats: text, json")
    if not 1 <= args.timesteps <= 100_000_000:
        raise InputError(f"--timesteps must be between 1 and 100000000, got {args.timesteps}")
    if not 1 <= args.eval_episodes <= 10_000:
        raise InputError("--eval-episodes must be between 1 and 10000")
    if not 0.5 < args.start_confidence <= 1.0:
        raise InputError(f"--start-confidence must be above 0.5 and at most 1, got {args.start_confidence}")
    if not 0 <= args.critic_warmup <= 1_000:
        raise InputError(f"--critic-warmup must be between 0 and 1000, got {args.critic_warmup}")
    if not 0.0 <= args.intervention_penalty <= 1e6:
        raise InputError(f"--intervention-penalty must be between 0 and 1e6, got {args.intervention_penalty}")
    if args.lam is not None and args.program is None:
        raise InputError("--lambda needs --program")
    lam = 0.0 if args.program is None else (1.0 if args.lam is None else args.lam)
    if not lam >= 0 or lam > 1e6:
        raise InputError(f"--lambda must be between 0 and 1e6, got {args.lam}")
    if args.shield is not None and args.fallback is None:
        raise InputError("--shield needs --fallback (the verified program that replaces a rejected action)")
    if args.shield is not None and args.monitor is not None:
        raise InputError("--monitor counts violations without a shield; with --shield they are counted anyway")
    if args.fallback is not None and args.shield is None and args.monitor is None:
        raise InputError("--fallback needs --shield (or --monitor, where it only names observations and actions)")
    if args.monitor is not None and args.program is None and args.fallback is None:
        raise InputError("--monitor needs --fallback or --program (it names the observations and actions)")
    from saferl.cli._common import check_output_path
    from saferl.learn.envs import env_signature
    from saferl.learn.model import load_model

    check_output_path(args.output, directory=True)
    sig = env_signature(args.env)
    model = load_model(args.model)
    program = _program(args.program, "--program") if args.program is not None else None
    fallback = _program(args.fallback, "--fallback") if args.fallback is not None else None
    from saferl.spec import load_spec

    shield_spec = load_spec(args.shield) if args.shield is not None else None
    monitor_spec = load_spec(args.monitor) if args.monitor is not None else None
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
    from saferl.learn.distill import check_program_fits
    from saferl.learn.finetune import finetune_model, write_curve_png
    from saferl.learn.model import save_model

    for p in (program, fallback):
        if p is not None:
            check_program_fits(p, sig)
    from saferl.cli._progress import progress_bar
    from saferl.shield import UnverifiedFallbackError

    try:
        with progress_bar(err, f"finetune {args.env}", enabled=args.fmt == "text") as update:
            result = finetune_model(
                model, args.env, args.seed, args.timesteps, program=program, lam=lam, shield_spec=shield_spec,
                fallback=fallback, monitor_spec=monitor_spec, eval_episodes=args.eval_episodes,
                start_confidence=args.start_confidence, critic_warmup=args.critic_warmup,
                intervention_penalty=args.intervention_penalty,
                progress=lambda step, total, last: update(step, total, f"return {last:.1f}" if last == last else ""),
            )
    except UnverifiedFallbackError as exc:  # the library's hint names Python; this one names commands
        raise InputError(
            exc.message, hint=f"repair it ('saferl repair {args.fallback} --spec {args.shield}') until "
            f"'saferl verify {args.fallback} --spec {args.shield}' says SAFE",
        ) from None
    save_model(args.output, result.manifest, result.tensors)
    record = {"model": str(args.model), "output": str(args.output), "seed": args.seed, "lambda": lam, **result.to_record()}
    (args.output / "finetune.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (args.output / "curve.json").write_text(json.dumps([asdict(p) for p in result.curve]) + "\n", encoding="utf-8")
    write_curve_png(result.curve, args.output / "curve.png", f"finetune {args.env} ({record['algo']})")
    if args.fmt == "json":
        out.write(json.dumps(record) + "\n")
        return EXIT_OK
    out.write(f"finetune {args.model} -> {args.output} ({args.env}, {record['algo']}, seed {args.seed})\n")
    out.write(f"  steps {result.steps}, episodes {len(result.curve)}\n")
    out.write(f"  greedy return {result.start_return:.2f} -> {result.final_return:.2f} ({args.eval_episodes} episodes)\n")
    if result.monitored:
        out.write(f"  violations during training {result.violations}")
        out.write(f" {json.dumps(result.violations_by_property)}\n" if result.violations_by_property else "\n")
    if result.shielded:
        out.write(f"  shield interventions {result.interventions}\n")
    out.write(f"  curve: {args.output / 'curve.json'}, {args.output / 'curve.png'}\n")
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: finetune(argv, out, err), err)
