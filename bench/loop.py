"""Benchmark of distill / finetune / loop against the targets of issue 11.

Experiments (``--only`` picks some; all print a table, then the figures as JSON on the
last line of stdout):

``distill``   distillation fidelity of MORL's CartPole levels (near_optimal, intermediate,
              worst) and of the repaired worst.pol: agreement on the network's visited
              states, return of both (100 evaluation episodes), training env steps.
``morl``      MORL's experiment: PPO from scratch, fine-tuned from the distilled
              unrepaired ``worst.pol`` and from the distilled repaired one (repaired here
              against specs/cartpole/pole_follow.yaml); env steps until the greedy return
              first reaches 475 (median over the seeds; None = not within the budget).
              Same PPO settings in every arm, greedy evaluation (5 episodes) after every
              update of 512 steps.  Each seed distils its own network (seed = the PPO
              seed; ``--distill-seed`` shares one).  Counted, per seed: ``total`` = the
              distillation's training env steps (``--distill rollouts``, the default: its
              DAgger rollouts; ``domain``: 0) + every fine-tuning / PPO training step (the softening
              episode and critic warm-up included); ``median`` counts the fine-tuning
              alone (MORL's curves start after behaviour cloning).  Never counted, in any
              arm: greedy evaluations, the distillation's evaluation episodes
              (``distill_eval_steps``).  The repair's own env steps (its before/after
              returns and its threshold tuning for return) are measured apart
              (``repair_env_steps``) and added in ``median_with_repair``.
``shield``    the repaired start fine-tuned behind the shield vs unshielded (monitored):
              violations during training, interventions, return.
``loop-cartpole`` / ``loop-mountaincar`` / ``loop-pendulum``
              ``saferl loop`` from the shipped oracle: best verified program's return over
              100 episodes, its size, wall time.
``loop-pendulum-program`` / ``loop-pendulum-energy``
              ``saferl loop`` from policies/pendulum/swing_up.pol / energy_swing.pol (tuned, it
              competes).

    python bench/loop.py                       # full budgets (hours on 2 cores)
    python bench/loop.py --quick               # small budgets (minutes; figures are rough)
    python bench/loop.py --only distill,shield --seeds 2
    python bench/loop.py --only morl --distill-seed 0      # the figures before per-seed distillation
    python bench/loop.py --only distill,morl --distill domain   # distilled without env steps
    python bench/loop.py --only morl --distill domain --soft-labels 0.03   # ... with soft targets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from saferl.learn.distill import DistillConfig, distill_program  # noqa: E402
from saferl.learn.evaluate import evaluate_policy  # noqa: E402
from saferl.learn.finetune import finetune_model  # noqa: E402
from saferl.learn.model import NeuralPolicy, policy_from_parts  # noqa: E402
from saferl.learn.ppo import PPOConfig, train_ppo  # noqa: E402
from saferl.policy import load_policy, parse_policy  # noqa: E402
from saferl.policy.evaluate import ProgramPolicy  # noqa: E402
from saferl.spec import load_spec  # noqa: E402

EXPERIMENTS = ("distill", "morl", "shield", "loop-cartpole", "loop-mountaincar", "loop-pendulum", "loop-pendulum-program",
               "loop-pendulum-energy", "loop-torcs")
POLE_FOLLOW = ROOT / "specs" / "cartpole" / "pole_follow.yaml"
LEVELS = ("near_optimal", "intermediate", "worst")
SOLVED = 475.0
LOOPS = {
    "loop-cartpole": ("CartPole-v1", "oracles/cartpole-ppo", "specs/cartpole/pole_follow.yaml", "tree"),
    "loop-mountaincar": ("MountainCarContinuous-v0", "oracles/mountaincar-td3", "specs/mountaincar/momentum.yaml", "tree"),
    "loop-pendulum": ("Pendulum-v1", "oracles/pendulum-td3", "specs/pendulum/upright.yaml", "tree"),
    # from a program instead of an oracle: the (tuned) start competes with the iterations
    "loop-pendulum-program": ("Pendulum-v1", "policies/pendulum/swing_up.pol", "specs/pendulum/upright.yaml", "tree"),
    "loop-pendulum-energy": ("Pendulum-v1", "policies/pendulum/energy_swing.pol", "specs/pendulum/upright.yaml", "tree"),
    # real TORCS, g-track-2: returns are minus the lap time in s (saferl/loop_torcs.py)
    "loop-torcs": ("saferl/Torcs-v0", "policies/torcs/propel_fast.pol", "specs/torcs/track.yaml", "program"),
}


def _distill_config(args: argparse.Namespace, eval_episodes: int) -> DistillConfig:
    """``--distill domain``: what ``saferl distill --states domain`` does (no env step);
    ``rollouts``: the DAgger of ``saferl distill``'s defaults (4 x 3 episodes with --quick)."""
    if args.distill == "domain":
        return DistillConfig(states="domain", iters=0, eval_episodes=eval_episodes,
                             domain_samples=20_000 if args.quick else 50_000, soft_label_noise=args.soft_labels)
    if args.distill == "augmented":  # saferl distill --iters 1 --episodes 2 --augment 40
        return DistillConfig(iters=1, episodes_per_iter=2, augment_copies=40, augment_scale=0.2,
                             eval_episodes=eval_episodes)
    return DistillConfig(iters=4 if args.quick else 8, episodes_per_iter=3 if args.quick else 5,
                         eval_episodes=eval_episodes)


def _distilled(program: Any, seed: int, args: argparse.Namespace) -> NeuralPolicy:
    return _distilled_counted(program, seed, args).policy


def _distilled_counted(program: Any, seed: int, args: argparse.Namespace) -> Any:
    """The distillation (its ``policy``, training and evaluation env steps, fidelity)."""
    r = distill_program(program, "CartPole-v1", seed=seed, config=_distill_config(args, 5), spec=load_spec(POLE_FOLLOW))
    return argparse.Namespace(policy=policy_from_parts(r.manifest, r.tensors), train_steps=r.train_env_steps,
                              eval_steps=r.eval_env_steps, agreement=r.agreement, network_return=r.network_return)


def bench_distill(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    programs = [(level, load_policy(ROOT / "policies" / "cartpole" / f"{level}.pol")) for level in LEVELS]
    programs.append(("worst-repaired", _repaired_worst()[0]))
    for level, program in programs:
        t0, cpu0 = time.perf_counter(), time.process_time()
        cfg = _distill_config(args, 10 if args.quick else 100)
        r = distill_program(program, "CartPole-v1", seed=0, config=cfg, spec=load_spec(POLE_FOLLOW))
        gap = abs(r.network_return - r.program_return) / max(1.0, abs(r.program_return))
        rows.append({"program": level, "states": cfg.states, "agreement": r.agreement,
                     "program_return": r.program_return, "network_return": r.network_return, "return_gap": gap,
                     "episodes": cfg.eval_episodes, "train_env_steps": r.train_env_steps,
                     "eval_env_steps": r.eval_env_steps, "seconds": time.perf_counter() - t0,
                     "cpu_s": time.process_time() - cpu0})
    return rows


class _Solved(Exception):
    """Raised from the progress callback to stop a run once its greedy return reached 475."""


def _steps_to_solve(run: Any) -> int | None:
    """Run a trainer with a progress callback; the first step whose greedy eval >= 475.

    The step is every environment step the trainer reports (fine-tuning: the softening's
    greedy episode included); the greedy evaluations themselves are not counted, in any arm.
    The run stops there: what comes after does not change the figure.
    """
    first: list[int] = []

    def progress(step: int, total: int, last: float) -> None:
        if last == last and last >= SOLVED:
            first.append(step)
            raise _Solved

    try:
        run(progress)
    except _Solved:
        pass
    return first[0] if first else None


def _repaired_worst() -> tuple[Any, int]:
    """worst.pol repaired against pole_follow.yaml, and the CartPole steps the repair took.

    The repair's env steps are counted at the environment (every ``CartPoleEnv.step`` call
    while it runs): it measures returns before and after, and tunes the thresholds it adds
    for return; it does not report them itself.
    """
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    from saferl.repair import RepairOptions, repair_policy

    worst = load_policy(ROOT / "policies" / "cartpole" / "worst.pol")
    calls = [0]
    step = CartPoleEnv.step

    def counted(self: Any, action: Any) -> Any:
        calls[0] += 1
        return step(self, action)

    CartPoleEnv.step = counted  # type: ignore[method-assign]
    try:
        r = repair_policy(worst, load_spec(POLE_FOLLOW), RepairOptions(env_id="CartPole-v1", env_episodes=20),
                          policy_path="worst.pol")
    finally:
        CartPoleEnv.step = step  # type: ignore[method-assign]
    if r.verdict.value != "SAFE":
        raise RuntimeError(f"repair of worst.pol ended {r.status}")
    return parse_policy(r.policy_text, "worst-repaired.pol"), calls[0]


def _median(values: list[int | None]) -> float | None:
    m = statistics.median([v if v is not None else float("inf") for v in values])
    return None if m == float("inf") else m


def bench_morl(args: argparse.Namespace) -> list[dict[str, Any]]:
    budget = args.timesteps or (30_000 if args.quick else 200_000)
    worst = load_policy(ROOT / "policies" / "cartpole" / "worst.pol")
    repaired, repair_steps = _repaired_worst()
    arms = {"scratch": (None, 0), "distilled-unrepaired": (worst, 0), "distilled-repaired": (repaired, repair_steps)}
    rows = []
    for name, (program, repair_env_steps) in arms.items():
        steps: list[int | None] = []
        totals: list[int | None] = []
        distill_steps, distill_eval, agreements, start_returns = [], [], [], []
        t0, cpu0 = time.perf_counter(), time.process_time()
        program_return = None if program is None else evaluate_policy(
            ProgramPolicy(program), "CartPole-v1", episodes=20, seed=0).mean
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            train_steps = 0
            if program is not None:
                d = _distilled_counted(program, seed if args.distill_seed is None else args.distill_seed, args)
                start, train_steps = d.policy, d.train_steps
                distill_steps.append(d.train_steps)
                distill_eval.append(d.eval_steps)
                agreements.append(round(d.agreement, 4))
                start_returns.append(evaluate_policy(start, "CartPole-v1", episodes=20, seed=0).mean)
            # the same PPO settings in every arm; greedy evaluation after every update (512 steps)
            cfg = PPOConfig(total_timesteps=budget, eval_every=1, eval_episodes=5, q_eval_transitions=0)
            if program is None:
                n = _steps_to_solve(lambda p, s=seed, c=cfg: train_ppo("CartPole-v1", s, c, p))
            else:
                n = _steps_to_solve(lambda p, s=seed, c=cfg, m=start: finetune_model(
                    m, "CartPole-v1", s, budget, trainer_config=c, eval_episodes=1, progress=p))
            steps.append(n)
            totals.append(None if n is None else n + train_steps)
        solved = [s for s in steps if s is not None]
        median_total = _median(totals)
        rows.append({"start": name, "program_return": program_return,
                     "start_return": statistics.median(start_returns) if start_returns else None,
                     "agreement": agreements or None, "distill": None if program is None else args.distill,
                     "distill_steps": distill_steps or None, "distill_eval_steps": distill_eval or None,
                     "finetune_steps": steps, "total": totals, "median": _median(steps), "median_total": median_total,
                     "soft_labels": None if program is None or args.distill != "domain" else args.soft_labels,
                     "repair_env_steps": repair_env_steps,
                     "median_with_repair": None if median_total is None else median_total + repair_env_steps,
                     "solved": f"{len(solved)}/{len(steps)}", "budget": budget, "seconds": time.perf_counter() - t0,
                     "cpu_s": time.process_time() - cpu0, "load1": os.getloadavg()[0]})
    return rows


def bench_shield(args: argparse.Namespace) -> list[dict[str, Any]]:
    budget = args.timesteps or (20_000 if args.quick else 200_000)
    spec = load_spec(POLE_FOLLOW)
    fallback = load_policy(ROOT / "policies" / "cartpole" / "near_optimal.pol")
    rows = []
    for start_name, program in (("worst", load_policy(ROOT / "policies" / "cartpole" / "worst.pol")),
                                ("worst-repaired", _repaired_worst()[0])):
        for seed in range(args.first_seed, args.first_seed + args.shield_seeds):
            start = _distilled(program, seed, args)
            for shielded in (False, True):
                t0, cpu0 = time.perf_counter(), time.process_time()
                cfg = PPOConfig(q_eval_transitions=0, eval_episodes=5)
                r = finetune_model(start, "CartPole-v1", seed, budget, fallback=fallback, trainer_config=cfg,
                                   shield_spec=spec if shielded else None, monitor_spec=None if shielded else spec,
                                   eval_episodes=20 if args.quick else 100)
                rows.append({"start": start_name, "seed": seed, "shielded": shielded, "violations": r.violations,
                             "interventions": r.interventions if shielded else None, "start_return": r.start_return,
                             "final_return": r.final_return, "steps": r.steps, "seconds": time.perf_counter() - t0,
                             "cpu_s": time.process_time() - cpu0})
    return rows


def bench_loop(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from saferl.loop import LoopConfig, run_loop

    env_id, oracle, spec, kind = LOOPS[name]
    cfg = LoopConfig(iters=2 if args.quick else 4, kind=kind, timesteps=args.timesteps or (5_000 if args.quick else 50_000),
                     final_episodes=100)  # the targets are over 100 episodes, even --quick
    if args.quick:
        cfg.extract_iters, cfg.extract_episodes, cfg.distill_iters = 4, 5, 4
        if env_id == "CartPole-v1":
            cfg.trainer_config = PPOConfig(q_eval_transitions=0, eval_every=4)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = ROOT / oracle
        if start.suffix == ".pol":
            records = run_loop(env_id, ROOT / spec, out, program_path=start, config=cfg)
        else:
            records = run_loop(env_id, ROOT / spec, out, oracle_dir=start, config=cfg)
        best_file = out / "best.json"
        best = json.loads(best_file.read_text()) if best_file.exists() else None
        best_size = None
        if best is not None:
            best_size = next((r["extract"]["size"] for r in records if r["iteration"] == best["iteration"]), "start")
    return [{"env": env_id, "iterations": len(records), "verdicts": [r["verdict"] for r in records],
             "returns": [round(r["program_return"], 2) for r in records],
             "best_return": None if best is None else best["program_return"], "best_size": best_size,
             "wall_s": time.perf_counter() - t0}]


def _table(name: str, rows: list[dict[str, Any]]) -> None:
    print(f"== {name}")
    if not rows:
        return
    keys = list(rows[0])
    print("  ".join(f"{k:>14}" for k in keys))
    for row in rows:
        cells = []
        for k in keys:
            v = row[k]
            cells.append(f"{v:>14.3f}" if isinstance(v, float) else f"{json.dumps(v) if isinstance(v, list) else v!s:>14}")
        print("  ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated experiments")
    parser.add_argument("--quick", action="store_true", help="small budgets (rough figures)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the morl experiment")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed of the morl experiment")
    parser.add_argument("--shield-seeds", type=int, default=1,
                        help="shield: seeds from --first-seed, each with its own distilled starts (default 1)")
    parser.add_argument("--timesteps", type=int, default=None, help="override the training budget")
    parser.add_argument("--distill", choices=("rollouts", "domain", "augmented"), default="rollouts",
                        help="how distill / morl / shield distil a program: DAgger rollouts (default; the documented "
                             "figures before domain distillation), from the spec's observation box (no env step), or "
                             "a short DAgger whose visited states bring 40 labelled neighbours each "
                             "(saferl distill --iters 1 --episodes 2 --augment 40)")
    parser.add_argument("--soft-labels", type=float, default=0.0, metavar="NOISE",
                        help="--distill domain: soft targets from Gaussian neighbours, NOISE x the box's width "
                             "(saferl distill --soft-labels; 0, the default: the program's action alone)")
    parser.add_argument("--distill-seed", type=int, default=None,
                        help="morl: one distillation seed shared by every PPO seed (default: each seed distils)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    chosen = [x for x in args.only.split(",") if x]
    unknown = [x for x in chosen if x not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {', '.join(EXPERIMENTS)}")
    results: dict[str, Any] = {"quick": args.quick}
    for name in chosen:
        if name == "distill":
            rows = bench_distill(args)
        elif name == "morl":
            rows = bench_morl(args)
        elif name == "shield":
            rows = bench_shield(args)
        else:
            rows = bench_loop(name, args)
        results[name] = rows
        _table(name, rows)
        sys.stdout.flush()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
