"""``saferl distill PROGRAM --env ID -o MODEL_DIR``: imitate a .pol program with a network.

The program is the expert (:mod:`saferl.learn.distill`): DAgger from the program's own
rollouts (``--states rollouts``, the default), or states drawn from the observation box
without the environment (``--states domain``, the box from ``--spec``'s ``observations:``,
the program's declared ranges or the environment's finite bounds), optionally followed by
``--iters`` DAgger iterations.  The network is written in saferl's model format, and the
report gives its agreement with the program on the states it visits, the mean return of
both, and the environment steps of training and of that evaluation.

Example:
    saferl distill policies/cartpole/near_optimal.pol --env CartPole-v1 -o models/cartpole-distilled
    saferl distill policies/cartpole/near_optimal.pol --env CartPole-v1 -o models/cartpole-domain \
        --states domain --spec specs/cartpole/pole_follow.yaml
    saferl distill policies/cartpole/near_optimal.pol --env CartPole-v1 -o models/cartpole-cheap \
        --iters 1 --episodes 2 --augment 40
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from saferl.cli._plain import Parser, parse_or_help, run_plain
from saferl.errors import InputError, MissingDependencyError

PROG = "saferl distill"
EXIT_OK, EXIT_ERROR = 0, 2


def parse_hidden(text: str, option: str = "--hidden") -> tuple[int, ...]:
    """``"64,64"`` -> ``(64, 64)``; InputError for anything but 1 to 8 widths in 1..4096."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"{option} must be comma-separated layer widths such as 64,64, got {text!r}") from None
    if not 1 <= len(widths) <= 8 or not all(1 <= w <= 4096 for w in widths):
        raise InputError(f"{option} must list 1 to 8 widths between 1 and 4096, got {text!r}")
    return widths


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(prog=PROG, add_help=False,
               description="Imitate a .pol program with a neural network (DAgger, or states drawn from the domain).")
    p.add_argument("program", type=Path, metavar="PROGRAM", help="the .pol program (the expert)")
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("--env", required=True, help="gymnasium id: CartPole-v1, MountainCarContinuous-v0, Pendulum-v1")
    p.add_argument("-o", "--output", type=Path, required=True, help="model directory to write (its parent must exist)")
    p.add_argument("--hidden", default="64,64", help="hidden layer widths (default 64,64)")
    p.add_argument("--states", default="rollouts", choices=("rollouts", "domain"),
                   help="where the first states come from: the program's rollouts (default) or the observation "
                        "box, without the environment")
    p.add_argument("--spec", type=Path, default=None, metavar="SPEC",
                   help="--states domain: the spec whose observations: ranges make the box")
    p.add_argument("--domain-samples", type=int, default=None, metavar="N",
                   help="--states domain: states drawn at first and in each refinement round (default 50000)")
    p.add_argument("--refine", type=int, default=None, metavar="K",
                   help="--states domain: refinement rounds on the network's disagreements (default 4)")
    p.add_argument("--soft-labels", type=float, default=None, metavar="NOISE",
                   help="--states domain, discrete actions: train on the program's action frequencies on Gaussian "
                        "neighbours (NOISE x the box's width, e.g. 0.03) rather than its action alone: the network's "
                        "confidence then falls off towards the program's decision boundaries (docs/loop.md: what it does "
                        "to fine-tuning)")
    p.add_argument("--augment", type=int, default=None, metavar="COPIES",
                   help="--states rollouts, stateless programs: add COPIES Gaussian neighbours of every visited "
                        "state, labelled by the program (no env step), e.g. 40 with --iters 1 --episodes 2: "
                        "agreement >= 99%% on CartPole from ~500 env steps instead of ~7,000 (docs/loop.md)")
    p.add_argument("--augment-scale", type=float, default=None, metavar="S",
                   help="--augment: the neighbours' spread, S x the visited states' standard deviation per "
                        "observation, drawn log-uniformly down to S/100 (default 0.2)")
    p.add_argument("--iters", type=int, default=None,
                   help="DAgger iterations (the network drives) after the first states (default 8; 0 with --states domain)")
    p.add_argument("--episodes", type=int, default=5, help="episodes per DAgger iteration (default 5)")
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes of the final report (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the run is reproducible from it")
    p.add_argument("-f", "--format", dest="fmt", default="text", help="text | json")
    return p


def distill(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Distil PROGRAM into a network and report agreement and returns."""
    args = parse_or_help(build_parser(), argv, out)
    if isinstance(args, int):
        return args
    if args.fmt not in ("text", "json"):
        raise InputError(f"unknown format {args.fmt!r}; formats: text, json")
    hidden = parse_hidden(args.hidden)
    domain = args.states == "domain"
    if not domain:
        for name in ("spec", "domain_samples", "refine", "soft_labels"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} applies to --states domain only")
    else:
        for name in ("augment", "augment_scale"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name.replace('_', '-')} applies to --states rollouts only")
    copies = 0 if args.augment is None else args.augment
    scale = 0.2 if args.augment_scale is None else args.augment_scale
    if not 0 <= copies <= 1000:
        raise InputError(f"--augment must be between 0 and 1000, got {copies}")
    if not 0.0 < scale <= 10.0:
        raise InputError(f"--augment-scale must be above 0 and at most 10, got {scale}")
    if args.augment_scale is not None and not copies:
        raise InputError("--augment-scale needs --augment COPIES")
    iters = args.iters if args.iters is not None else (0 if domain else 8)
    if not 0 <= iters <= 1000:
        raise InputError(f"--iters must be between 0 and 1000, got {iters}")
    samples = 50_000 if args.domain_samples is None else args.domain_samples
    refine = 4 if args.refine is None else args.refine
    if not 1 <= samples <= 10_000_000:
        raise InputError(f"--domain-samples must be between 1 and 10000000, got {samples}")
    if not 0 <= refine <= 100:
        raise InputError(f"--refine must be between 0 and 100, got {refine}")
    soft = 0.0 if args.soft_labels is None else args.soft_labels
    if not 0.0 <= soft <= 0.5:
        raise InputError(f"--soft-labels must be between 0 and 0.5 (a fraction of the box's width), got {soft}")
    for name in ("episodes", "eval_episodes"):
        if not 1 <= getattr(args, name) <= 10_000:
            raise InputError(f"--{name.replace('_', '-')} must be between 1 and 10000")
    from saferl.cli._common import check_output_path
    from saferl.learn.envs import env_signature
    from saferl.policy import load_policy
    from saferl.policy.ast import Program

    check_output_path(args.output, directory=True)
    program = load_policy(args.program)
    if not isinstance(program, Program):
        raise InputError(f"{args.program} is a gridworld subgoal program; distill needs a .pol program for a gymnasium env")
    sig = env_signature(args.env)
    spec = None
    if args.spec is not None:
        from saferl.spec import load_spec

        spec = load_spec(args.spec)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
    from saferl.learn.distill import DistillConfig, check_program_fits, distill_program
    from saferl.learn.model import save_model

    check_program_fits(program, sig)
    if soft > 0 and not sig.discrete:
        raise InputError(f"--soft-labels applies to discrete actions; {args.env}'s action is continuous")
    cfg = DistillConfig(hidden=hidden, iters=iters, episodes_per_iter=args.episodes, eval_episodes=args.eval_episodes,
                        states=args.states, domain_samples=samples, refine_rounds=refine,
                        soft_label_noise=soft, augment_copies=copies, augment_scale=scale)
    if domain:
        from saferl.learn.domain import observation_box

        observation_box(program, sig, spec)  # a spec or box that does not fit: exit 2 before any work
    from saferl.cli._progress import progress_bar

    with progress_bar(err, f"distill {args.env}", enabled=args.fmt == "text") as update:
        result = distill_program(
            program, args.env, seed=args.seed, config=cfg,
            progress=lambda it, n, agree: update(it, n, f"agreement {100 * agree:.1f}%" if agree == agree else ""),
            spec=spec,
        )
    save_model(args.output, result.manifest, result.tensors)
    record = {"program": str(args.program), "output": str(args.output), "seed": args.seed, **result.to_record()}
    (args.output / "distill.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if args.fmt == "json":
        out.write(json.dumps(record) + "\n")
        return EXIT_OK
    out.write(f"distill {args.program} -> {args.output} ({args.env}, seed {args.seed})\n")
    if result.box is not None:
        ranges = ", ".join(f"{n} [{lo:g}, {hi:g}] ({src})" for n, lo, hi, src in
                           zip(result.box.names, result.box.low, result.box.high, result.box.sources, strict=True))
        out.write(f"box: {ranges}\n")
    out.write(f"{'iter':>4}  {'states from':<11} {'states':>7} {'agreement':>9} {'return':>9} {'env steps':>9}\n")
    for it in result.iterations:
        agree = "-" if it.agreement != it.agreement else f"{100 * it.agreement:.1f}%"
        ret = "-" if it.mean_return != it.mean_return else f"{it.mean_return:.2f}"
        out.write(f"{it.iteration:>4}  {it.driver:<11} {it.total_states:>7} {agree:>9} {ret:>9} {it.env_steps:>9}\n")
    out.write(
        f"final: agreement {100 * result.agreement:.2f}% on {result.visited_states} visited states; "
        f"return network {result.network_return:.2f}, program {result.program_return:.2f} "
        f"({args.eval_episodes} episodes)\n"
        f"env steps: training {result.train_env_steps}, evaluation {result.eval_env_steps}\n"
    )
    return EXIT_OK


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: distill(argv, out, err), err)
