"""Why a distilled start fine-tunes fast or slowly: MORL's repaired CartPole program, per seed.

For each way of distilling the repaired ``worst.pol`` (``rollouts``: DAgger, 8 x 5 episodes;
``augmented``: DAgger, 1 x 2 episodes, 40 labelled neighbours per visited state;
``domain``: ``saferl distill --states domain``; ``domain-soft``: the same with
``--soft-labels``), and each seed, it distils a network and measures, on the states of 5 of
the program's own episodes:

* the softened start's margins (the logit gap towards the program's action, after
  ``finetune``'s softening to a median preferred-action probability of 0.55), split into
  the states where the program departs from "push toward the lean" (``pole_angle > 0 ->
  right``: the repair's decisions) and the rest;
* then fine-tunes it (``finetune_model``, the morl experiment's PPO settings, a greedy
  evaluation after every update) and, after each of the first ``--updates`` policy updates,
  the greedy return and the network's agreement with the program and with "push toward the
  lean" (which alone returns about 42); and the env steps to a greedy 475 (None: not within
  ``--timesteps``).

    python bench/morl_start.py                          # seeds 0-2, all three distillations
    python bench/morl_start.py --seeds 1 --only domain-soft --soft-labels 0.05

Prints a table, then the figures as JSON on the last line.  The program is the text below
(what ``saferl repair worst.pol --spec pole_follow.yaml --env CartPole-v1`` returned, and
bench/loop.py's morl experiment repairs), so that no repair runs here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from saferl.extract.rollout import collect  # noqa: E402
from saferl.learn.distill import DistillConfig, distill_program  # noqa: E402
from saferl.learn.domain import label_states  # noqa: E402
from saferl.learn.finetune import finetune_model, soften_actor  # noqa: E402
from saferl.learn.model import policy_from_parts  # noqa: E402
from saferl.learn.ppo import PPOConfig  # noqa: E402
from saferl.policy import parse_policy  # noqa: E402
from saferl.policy.evaluate import ProgramPolicy  # noqa: E402
from saferl.spec import load_spec  # noqa: E402

REPAIRED_WORST = """policy cartpole_worst_repaired
obs cart_position: float32 in [-4.8, 4.8]
obs cart_velocity: float32
obs pole_angle: float32 in [-0.418, 0.418]
obs pole_angular_velocity: float32
act push: discrete {left = 0, right = 1}

if pole_angle <= 0 {
  push = left
} else {
  if cart_velocity <= 0.5 {
    if pole_angular_velocity <= -0.0781 {
      push = left
    } else {
      push = right
    }
  } else {
    push = right
  }
}
"""
KINDS = ("rollouts", "domain", "domain-soft", "augmented")
SOLVED = 475.0


def _config(kind: str, args: argparse.Namespace) -> DistillConfig:
    if kind == "rollouts":
        return DistillConfig(iters=8, episodes_per_iter=5, eval_episodes=5)
    if kind == "augmented":
        return DistillConfig(iters=args.aug_iters, episodes_per_iter=args.aug_episodes, eval_episodes=5,
                             augment_copies=args.aug_copies, augment_scale=args.aug_scale)
    soft = args.soft_labels
    return DistillConfig(states="domain", iters=0, eval_episodes=5, domain_samples=50_000,
                         soft_label_noise=soft if kind == "domain-soft" else 0.0)


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def run_one(kind: str, seed: int, args: argparse.Namespace, program: Any, states: np.ndarray) -> dict[str, Any]:
    t0 = time.perf_counter()
    r = distill_program(program, "CartPole-v1", seed=seed, config=_config(kind, args),
                        spec=load_spec(ROOT / "specs" / "cartpole" / "pole_follow.yaml"))
    start = policy_from_parts(r.manifest, r.tensors)
    labels = label_states(program, states, True)[:, 0]
    lean = (states[:, 2] > 0).astype(np.int64)
    repair = labels != lean
    sign = np.where(labels == 1, 1.0, -1.0)
    actor = {k: v for k, v in r.tensors.items() if k.startswith("actor.")}
    soft = policy_from_parts(r.manifest, {**r.tensors, **soften_actor(start, actor, "CartPole-v1", seed, 0.55)})
    logits = soft.actor_output(states)
    margin = (logits[:, 1] - logits[:, 0]) * sign

    updates: list[dict[str, Any]] = []
    returns: list[float] = []
    first: list[int] = []

    def observe(step: int, net: Any) -> None:
        if len(updates) < args.updates:
            with torch.no_grad():
                out = net(torch.as_tensor(states)).numpy()
            act = (out[:, 1] > out[:, 0]).astype(np.int64)
            updates.append({"step": step, "agree_program": float(np.mean(act == labels)),
                            "agree_lean": float(np.mean(act == lean))})

    class Solved(Exception):
        pass

    def progress(step: int, total: int, last: float) -> None:
        returns.append(last)
        if last == last and last >= SOLVED:
            first.append(step)
            raise Solved

    cfg = PPOConfig(total_timesteps=args.timesteps, eval_every=1, eval_episodes=5, q_eval_transitions=0)
    try:
        finetune_model(start, "CartPole-v1", seed, args.timesteps, trainer_config=cfg, eval_episodes=1,
                       progress=progress, observer=observe)
    except Solved:
        pass
    # progress: the start's evaluation, the critic warm-up's, then one per policy update
    for i, u in enumerate(updates):
        u["greedy_return"] = returns[2 + i] if 2 + i < len(returns) else None
    return {"distill": kind, "seed": seed, "agreement": r.agreement, "network_return": r.network_return,
            "program_return": r.program_return, "start_return": returns[0] if returns else None,
            "margin_repair": _median(margin[repair]), "margin_rest": _median(margin[~repair]),
            "repair_share": float(np.mean(repair)), "updates": updates,
            "steps_to_475": first[0] if first else None,
            "distill_env_steps": r.train_env_steps, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--only", default=",".join(KINDS), help=f"comma-separated: {', '.join(KINDS)}")
    parser.add_argument("--soft-labels", type=float, default=0.03, metavar="NOISE", help="domain-soft's noise")
    parser.add_argument("--aug-iters", type=int, default=1, help="augmented: DAgger iterations (default 1)")
    parser.add_argument("--aug-episodes", type=int, default=2, help="augmented: episodes per iteration (default 2)")
    parser.add_argument("--aug-copies", type=int, default=40, help="augmented: neighbours per state (default 40)")
    parser.add_argument("--aug-scale", type=float, default=0.2, help="augmented: their spread (default 0.2)")
    parser.add_argument("--updates", type=int, default=3, help="policy updates to follow (default 3)")
    parser.add_argument("--timesteps", type=int, default=20_000, help="fine-tuning budget (default 20000)")
    args = parser.parse_args(argv)
    kinds = [k for k in args.only.split(",") if k]
    if any(k not in KINDS for k in kinds):
        parser.error(f"--only takes {', '.join(KINDS)}")
    torch.set_num_threads(1)
    program = parse_policy(REPAIRED_WORST)
    states = collect(ProgramPolicy(program), "CartPole-v1", episodes=5, seed=4242).states
    rows = [run_one(kind, seed, args, program, states) for kind in kinds for seed in range(args.seeds)]
    print(f"{'distill':>12} {'seed':>4} {'agree':>6} {'m_repair':>8} {'m_rest':>7}  "
          "updates (return / agree program / agree lean)                       to 475")
    for row in rows:
        ups = "  ".join(f"{u['greedy_return']:.0f}/{u['agree_program']:.3f}/{u['agree_lean']:.3f}"
                        if u["greedy_return"] is not None else "-" for u in row["updates"])
        print(f"{row['distill']:>12} {row['seed']:>4} {row['agreement']:>6.3f} {row['margin_repair']:>8.3f} "
              f"{row['margin_rest']:>7.3f}  start {row['start_return']:.0f}  {ups:<56} {row['steps_to_475']} (+{row['distill_env_steps']} distill)")
    print(json.dumps({"morl_start": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
