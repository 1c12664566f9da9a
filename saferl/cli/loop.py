"""``saferl loop --env ID --spec SPEC (--oracle MODEL | --program P) --out DIR``.

Iterations of finetune -> extract -> verify -> repair -> tune -> distill (:mod:`saferl.loop`); one
JSON record per iteration in ``DIR/iterations.jsonl``, the best verified program at
``DIR/best.pol``; rerunning the same command resumes a killed run.  Progress lines go to
stderr, the final summary to stdout.

Example:
    saferl loop --env CartPole-v1 --spec specs/cartpole/pole_follow.yaml \\
        --program policies/cartpole/worst.pol --out runs/cartpole-loop --iters 3
    saferl loop --env saferl/Torcs-v0 --spec specs/torcs/track.yaml --kind program \\
        --program policies/torcs/propel_fast.pol --track g-track-2 --out runs/torcs-loop
    saferl loop --env saferl/Torcs-v0 --spec specs/torcs/track_speed.yaml --kind tree \\
        --program policies/torcs/propel_careful.pol --track g-track-2 --out runs/torcs-tree
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TextIO

from saferl.cli._plain import Parser, parse_or_help, run_plain
from saferl.errors import InputError, MissingDependencyError

PROG = "saferl loop"
EXIT_OK, EXIT_UNSAFE, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The command's options."""
    p = Parser(prog=PROG, add_help=False,
               description="Finetune -> extract -> verify -> repair -> tune -> distill, resumable. Exit 0 with a verified "
                           "best.pol, 1 when no iteration produced a SAFE program, 2 bad input or tool error.")
    p.add_argument("-h", "--help", action="help", help="show this help and exit")
    p.add_argument("--env", required=True,
                   help="gymnasium id: CartPole-v1, MountainCarContinuous-v0, Pendulum-v1, saferl/Torcs-v0 (real TORCS)")
    p.add_argument("--spec", type=Path, required=True, help="the YAML spec every projection is verified against")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--oracle", type=Path, help="a saferl model directory to start from")
    start.add_argument("--program", type=Path, help="a .pol program to start from (distilled first)")
    p.add_argument("--score-tracks", default=None, metavar="T1,T2,...",
                   help="saferl/Torcs-v0: tracks the lap-time search and the scoring race drive, hardest first "
                        "(the cost is the sum; default: --track)")
    p.add_argument("--score-seeds", type=int, default=0, metavar="N",
                   help="saferl/Torcs-v0: race each scored track from N perturbed starts, the cost their mean "
                        "(default 0: from the grid)")
    p.add_argument("--tree-depth", type=int, default=1, metavar="N",
                   help="saferl/Torcs-v0 --kind tree: depth of the split grown from a flat program, 1-3 (default 1)")
    p.add_argument("--template", type=Path,
                   help="saferl/Torcs-v0 with --oracle: the PID program whose structure the projections keep")
    p.add_argument("--out", type=Path, required=True, help="output directory (its parent must exist; reused to resume)")
    p.add_argument("--iters", type=int, default=3, help="iterations in all, finished ones included (default 3)")
    p.add_argument("--kind", default="tree", help="tree (VIPER; on saferl/Torcs-v0: PROPEL-Tree, a split grown from the "
                   "PID program) | program (PID synthesis, continuous actions)")
    p.add_argument("--timesteps", type=int, default=50_000, help="fine-tuning steps per iteration (default 50000)")
    p.add_argument("--lambda", dest="lam", type=float, default=1.0, help="imitation weight towards the last program")
    p.add_argument("--episodes", type=int, default=100, help="episodes scoring each iteration's program (default 100)")
    p.add_argument("--tune", type=int, default=20, metavar="GENERATIONS",
                   help="generations of the verified constant search after each projection (0: none; default 20)")
    p.add_argument("--ci", action="store_true", help="CI-sized budgets (seconds per iteration; figures are rough)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the run is reproducible from it")
    p.add_argument("--track", default=None, help="saferl/Torcs-v0: the track every stage drives (default g-track-2)")
    p.add_argument("-f", "--format", dest="fmt", default="text", help="text | json")
    return p


def _check_out(out: Path) -> None:
    from saferl.cli._common import check_output_path

    check_output_path(out, "--out", directory=True)
    if out.exists() and not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--out {out} is not writable")
    if not out.exists() and not os.access(out.parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: directory {out.parent} is not writable")


def loop(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run or resume the loop and summarise its iterations."""
    args = parse_or_help(build_parser(), argv, out)
    if isinstance(args, int):
        return args
    if args.fmt not in ("text", "json"):
        raise InputError(f"unknown format {args.fmt!r}; formats: text, json")
    if args.kind not in ("tree", "program"):
        raise InputError(f"unknown kind {args.kind!r}; kinds: tree, program")
    if not 1 <= args.iters <= 1000:
        raise InputError(f"--iters must be between 1 and 1000, got {args.iters}")
    if not 1 <= args.timesteps <= 100_000_000:
        raise InputError(f"--timesteps must be between 1 and 100000000, got {args.timesteps}")
    if not 0 <= args.lam <= 1e6:
        raise InputError(f"--lambda must be between 0 and 1e6, got {args.lam}")
    if not 0 <= args.tune <= 10_000:
        raise InputError(f"--tune must be between 0 and 10000, got {args.tune}")
    if not 1 <= args.episodes <= 100_000:
        raise InputError("--episodes must be between 1 and 100000")
    _check_out(args.out)
    from saferl.learn.envs import env_signature

    env_signature(args.env)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise MissingDependencyError("torch", "learn") from None
    from saferl.loop import BEST_NAME, LoopConfig, run_loop

    cfg = LoopConfig(iters=args.iters, kind=args.kind, timesteps=args.timesteps, lam=args.lam,
                     final_episodes=args.episodes, seed=args.seed, tune_generations=args.tune)
    if args.env != "saferl/Torcs-v0" and (args.track is not None or args.score_tracks is not None or args.score_seeds):
        raise InputError("--track, --score-tracks and --score-seeds are for --env saferl/Torcs-v0")
    if not 0 <= args.score_seeds <= 100:
        raise InputError(f"--score-seeds must be between 0 and 100, got {args.score_seeds}")
    if not 1 <= args.tree_depth <= 3:
        raise InputError(f"--tree-depth must be 1, 2 or 3, got {args.tree_depth}")
    if args.tree_depth != 1 and (args.env != "saferl/Torcs-v0" or args.kind != "tree"):
        raise InputError("--tree-depth is for --env saferl/Torcs-v0 --kind tree")
    if args.env == "saferl/Torcs-v0":
        from saferl.envs.torcs.tracks import find_track

        args.track = args.track or "g-track-2"
        from saferl.loop_torcs import TorcsLoopConfig

        find_track(args.track)
        scored: tuple[str, ...] = ()
        if args.score_tracks is not None:
            scored = tuple(t.strip() for t in args.score_tracks.split(",") if t.strip())
            if not scored:
                raise InputError("--score-tracks names no track")
            for name in scored:
                find_track(name)
        cfg.torcs = TorcsLoopConfig(track=args.track, tune_iterations=min(args.tune, 4), score_tracks=scored,
                                    score_seeds=args.score_seeds, tree_depth=args.tree_depth)
        cfg.timesteps = args.timesteps if "--timesteps" in argv else 5_000
        if args.ci:  # a few seconds of TORCS per stage: races and episodes of 500 steps (10 s simulated)
            cfg.torcs = TorcsLoopConfig(track=args.track, episode_steps=500, race_steps=500, project_states=500,
                                        project_generations=3, tune_iterations=min(args.tune, 1), tune_population=2,
                                        score_tracks=scored, score_seeds=args.score_seeds,
                                        tree_depth=args.tree_depth)
            cfg.timesteps = min(cfg.timesteps, 500)
            cfg.distill_iters, cfg.distill_hidden = 1, (32, 32)
            cfg.repair_timeout_s = 20.0
    elif args.ci:
        from saferl.learn.ppo import PPOConfig

        cfg.timesteps = min(cfg.timesteps, 2_048)
        cfg.extract_iters, cfg.extract_episodes = 3, 3
        cfg.final_episodes = min(cfg.final_episodes, 10)
        cfg.distill_iters, cfg.distill_hidden = 3, (32, 32)
        cfg.repair_timeout_s = 20.0
        cfg.tune_generations, cfg.tune_episodes, cfg.tune_population = min(cfg.tune_generations, 2), 3, 6
        if env_signature(args.env).discrete:
            cfg.trainer_config = PPOConfig(q_eval_transitions=0, eval_every=2, eval_episodes=2)
    t0 = time.perf_counter()

    def progress(it: int, stage: str, message: str) -> None:
        err.write(f"{PROG}: [{time.perf_counter() - t0:7.1f} s] iteration {it + 1}/{args.iters} {stage}"
                  f"{': ' + message if message else ''}\n")
        err.flush()

    try:
        args.out.mkdir(exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {args.out}: {exc.strerror}") from None
    records = run_loop(args.env, args.spec, args.out, oracle_dir=args.oracle, program_path=args.program,
                       template_path=args.template, config=cfg, progress=progress)
    best_file = args.out / "best.json"
    best = json.loads(best_file.read_text(encoding="utf-8")) if best_file.exists() else None
    if args.fmt == "json":
        out.write(json.dumps({"out": str(args.out), "iterations": records, "best": best}) + "\n")
    else:
        out.write(f"{'iter':>4}  {'extracted':<9} {'repair':<12} {'verdict':<8} {'return':>9} {'size':>5} {'seconds':>8}\n")
        for r in records:
            repair = "-" if r["repair"] is None else r["repair"]["status"]
            out.write(f"{r['iteration'] + 1:>4}  {r['extracted_verdict']:<9} {repair:<12} {r['verdict']:<8} "
                      f"{r['program_return']:>9.2f} {r['extract']['size']:>5} {r['wall_s']:>8.1f}\n")
        if best is None:
            out.write("no iteration produced a program the verifier proved SAFE; no best.pol\n")
        else:
            where = "the starting program, tuned" if best["iteration"] == -1 else f"iteration {best['iteration'] + 1}"
            out.write(f"best verified program: {args.out / BEST_NAME} ({where}, "
                      f"return {best['program_return']:.2f}, {best['verdict']})\n")
    return EXIT_OK if best is not None else EXIT_UNSAFE


def run(argv: list[str], out: TextIO, err: TextIO) -> int:
    """Entry point used by ``saferl.cli``: bad input is one line on stderr and exit 2."""
    return run_plain(PROG, lambda: loop(argv, out, err), err, "interrupted (rerun the same command to resume)")
