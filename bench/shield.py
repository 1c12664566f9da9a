"""Benchmark of the runtime shield on CartPole-v1 (issue 4's targets).

    .venv/bin/python bench/shield.py                 # full run: 10^6 shielded steps per policy
    .venv/bin/python bench/shield.py --quick         # a smoke run (10^4 steps)

Three measurements, printed as a table and then as JSON (``--json FILE`` also writes it):

1. **violations** — a random and a deliberately unsafe policy (policies/cartpole/worst.pol)
   run behind the shield for ``--steps`` steps each; every action the environment
   receives is judged by an independent monitor (the reference evaluator ``eval_sexpr``,
   not the shield's generated code).  The same policies run unshielded for
   ``--unshielded-steps`` steps for contrast.  Target: 0 violations shielded.
2. **overhead** — per-step wall time of (policy inference + env.step), unshielded and
   shielded, measured side by side in one run: alternating blocks of steps on two
   environments so that machine load hits both alike.  Added time = median(shielded) −
   median(unshielded).  Targets: ≤ 5 µs and ≤ 10 % of the unshielded step.
3. **returns** — a good neural policy (oracles/cartpole-ppo; near_optimal.pol when the
   oracle is missing, and then the table says so) over ``--episodes`` seeded episodes,
   with and without the shield.  Target: shielded mean return within 1 % of unshielded.
4. **continuous** — the general (not generated) path: MountainCarContinuous-v0, a random
   policy, a spec with a bounds range, an invariant and a history smoothness property
   (the bang-bang fallback is not proved SAFE for it — it is there to exercise
   projection); violations and side-by-side overhead, for information (no target).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.policy import ProgramPolicy, load_policy  # noqa: E402
from saferl.shield import Shield, ViolationMonitor  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

ENV_ID = "CartPole-v1"
SPEC = ROOT / "specs/cartpole/pole_follow.yaml"
FALLBACK = ROOT / "policies/cartpole/near_optimal.pol"
WORST = ROOT / "policies/cartpole/worst.pol"
ORACLE = ROOT / "oracles/cartpole-ppo"


class RandomPolicy:
    """Uniform random actions from a seeded action space."""

    def __init__(self, space: Any, seed: int):
        self.space = space
        self.space.seed(seed)

    def act(self, obs: Any) -> Any:
        return self.space.sample()


def good_policy() -> tuple[Any, str]:
    """The CartPole oracle if it is present, else the near-optimal program."""
    if (ORACLE / "manifest.json").exists():
        from saferl.learn.model import load_model

        return load_model(ORACLE), "oracles/cartpole-ppo (neural, PPO)"
    return ProgramPolicy(load_policy(FALLBACK)), "policies/cartpole/near_optimal.pol (oracle missing)"


def make_policy(name: str, env: Any, seed: int) -> Any:
    if name == "random":
        return RandomPolicy(env.action_space, seed)
    if name == "worst":
        return ProgramPolicy(load_policy(WORST))
    if name == "near_optimal":
        return ProgramPolicy(load_policy(FALLBACK))
    return good_policy()[0]


# -- 1. violations ----------------------------------------------------------------------

def count_violations(name: str, steps: int, shielded: bool, ctx: dict[str, Any], seed: int) -> dict[str, Any]:
    base = gym.make(ENV_ID)
    env: Any = Shield(base, ctx["spec"], fallback=ctx["fallback"], proof=ctx["proof"]) if shielded else base
    policy = make_policy(name, env, seed)
    monitor = ViolationMonitor(ctx["spec"], ctx["fallback"])
    obs, _ = env.reset(seed=seed)
    monitor.reset(obs)
    episodes = 0
    start = time.perf_counter()
    for _ in range(steps):
        action = policy.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        monitor.step(info["saferl"].executed if shielded else action, obs)
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset()
            monitor.reset(obs)
    out = {
        "policy": name,
        "shielded": shielded,
        "steps": steps,
        "episodes": episodes,
        "violations": monitor.total,
        "violating_steps": monitor.violating_steps,
        "violations_by_property": dict(monitor.violations),
        "time_s": round(time.perf_counter() - start, 1),
    }
    if shielded:
        totals = env.totals
        out.update(interventions=totals.interventions, unsafe_steps=totals.unsafe_steps,
                   interventions_by_property=dict(totals.by_property), interventions_by_source=dict(totals.by_source))
    return out


# -- 2. overhead ------------------------------------------------------------------------

def _timed_block(env: Any, policy: Any, state: dict[str, Any], n: int, out: np.ndarray) -> None:
    clock = time.perf_counter_ns
    obs = state["obs"]
    step = env.step
    act = policy.act
    for i in range(n):
        t0 = clock()
        obs, _, terminated, truncated, _ = step(act(obs))
        out[i] = clock() - t0
        if terminated or truncated:
            obs, _ = env.reset()
            step = env.step  # the shield installs its fast path on reset
    state["obs"] = obs


def overhead(name: str, blocks: int, block: int, ctx: dict[str, Any], seed: int) -> dict[str, Any]:
    plain = gym.make(ENV_ID)
    shield = Shield(gym.make(ENV_ID), ctx["spec"], fallback=ctx["fallback"], proof=ctx["proof"])
    pol_plain, pol_shield = make_policy(name, plain, seed), make_policy(name, shield, seed)
    sp = {"obs": plain.reset(seed=seed)[0]}
    ss = {"obs": shield.reset(seed=seed)[0]}
    u = np.empty((blocks, block))
    s = np.empty((blocks, block))
    _timed_block(plain, pol_plain, sp, block, u[0])  # warm-up
    _timed_block(shield, pol_shield, ss, block, s[0])
    for b in range(blocks):
        if b % 2:
            _timed_block(plain, pol_plain, sp, block, u[b])
            _timed_block(shield, pol_shield, ss, block, s[b])
        else:
            _timed_block(shield, pol_shield, ss, block, s[b])
            _timed_block(plain, pol_plain, sp, block, u[b])
    mu, ms = float(np.median(u)) / 1e3, float(np.median(s)) / 1e3
    # the per-block differences of medians show how stable the figure is under load
    per_block = [float(np.median(s[b]) - np.median(u[b])) / 1e3 for b in range(blocks)]
    totals = shield.totals
    return {
        "policy": name,
        "steps_each": blocks * block,
        "unshielded_median_us": round(mu, 3),
        "shielded_median_us": round(ms, 3),
        "added_median_us": round(ms - mu, 3),
        "added_percent": round(100 * (ms - mu) / mu, 2),
        "added_per_block_us_quartiles": [round(q, 3) for q in statistics.quantiles(per_block, n=4)],
        "intervention_rate": round(totals.interventions / max(totals.steps, 1), 4),
    }


# -- 4. the general path: a continuous action space -------------------------------------

MC_POL = """\
policy mc_bang
obs position: float32
obs velocity: float32
act force: continuous [-1, 1]

if velocity >= 0 { force = 1 } else { force = -1 }
"""

MC_SPEC = """\
spec: mountaincar-push-along
observations: {position: [-1.2, 0.6], velocity: [-0.07, 0.07]}
properties:
  - {id: force-range, kind: bounds, action: force, range: [-0.9, 0.9]}
  - {id: push-along, kind: invariant, when: velocity > 0.01, require: force >= 0}
  - {id: smooth, kind: smoothness, require: "abs(force[t] - force[t-1]) <= 1.5"}
"""


def continuous(steps: int, blocks: int, block: int, seed: int) -> dict[str, Any]:
    """MountainCarContinuous-v0, random policy: violations and overhead on the general
    path (continuous actions, a history property, projection)."""
    from saferl.policy import parse_policy
    from saferl.spec import parse_spec

    program, spec = parse_policy(MC_POL, "mc_bang.pol"), parse_spec(MC_SPEC, "mountaincar.yaml")
    shield = Shield(gym.make("MountainCarContinuous-v0"), spec, fallback=program, allow_unverified=True)
    monitor = ViolationMonitor(spec, program)
    policy = RandomPolicy(shield.action_space, seed)
    obs, _ = shield.reset(seed=seed)
    monitor.reset(obs)
    for _ in range(steps):
        obs, _, terminated, truncated, info = shield.step(policy.act(obs))
        monitor.step(info["saferl"].executed, obs)
        if terminated or truncated:
            obs, _ = shield.reset()
            monitor.reset(obs)
    totals = shield.totals
    plain = gym.make("MountainCarContinuous-v0")
    timing_shield = Shield(gym.make("MountainCarContinuous-v0"), spec, fallback=program, allow_unverified=True)
    pp, ps = RandomPolicy(plain.action_space, seed), RandomPolicy(timing_shield.action_space, seed)
    sp, ss = {"obs": plain.reset(seed=seed)[0]}, {"obs": timing_shield.reset(seed=seed)[0]}
    u, s = np.empty((blocks, block)), np.empty((blocks, block))
    for b in range(blocks):
        _timed_block(plain, pp, sp, block, u[b])
        _timed_block(timing_shield, ps, ss, block, s[b])
    mu, ms = float(np.median(u)) / 1e3, float(np.median(s)) / 1e3
    return {
        "env": "MountainCarContinuous-v0",
        "policy": "random",
        "steps": steps,
        "violations": monitor.total,
        "interventions": totals.interventions,
        "interventions_by_source": dict(totals.by_source),
        "unsafe_steps": totals.unsafe_steps,
        "unshielded_median_us": round(mu, 3),
        "shielded_median_us": round(ms, 3),
        "added_median_us": round(ms - mu, 3),
        "added_percent": round(100 * (ms - mu) / mu, 2),
    }


# -- 3. returns -------------------------------------------------------------------------

def returns(episodes: int, ctx: dict[str, Any], seed: int) -> dict[str, Any]:
    policy, label = good_policy()
    result: dict[str, Any] = {"policy": label, "episodes": episodes}
    for shielded in (False, True):
        base = gym.make(ENV_ID)
        env: Any = Shield(base, ctx["spec"], fallback=ctx["fallback"], proof=ctx["proof"]) if shielded else base
        rets = []
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            total = 0.0
            while True:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
                total += float(reward)
                if terminated or truncated:
                    break
            rets.append(total)
        key = "shielded" if shielded else "unshielded"
        result[f"{key}_mean_return"] = float(np.mean(rets))
        if shielded:
            result["interventions"] = env.totals.interventions
    un, sh = result["unshielded_mean_return"], result["shielded_mean_return"]
    result["difference_percent"] = round(100 * (sh - un) / un, 3) if un else 0.0
    return result


# -- report -----------------------------------------------------------------------------

def table(report: dict[str, Any]) -> str:
    lines = ["saferl shield benchmark — CartPole-v1, spec cartpole-pole-follow, fallback near_optimal.pol", ""]
    lines.append("violations (independent monitor: eval_sexpr)")
    lines.append(f"  {'policy':<8} {'shield':<7} {'steps':>9} {'episodes':>9} {'violations':>11} {'interventions':>14} {'unsafe':>7}")
    for r in report["violations"]:
        lines.append(
            f"  {r['policy']:<8} {'on' if r['shielded'] else 'off':<7} {r['steps']:>9} {r['episodes']:>9} "
            f"{r['violations']:>11} {r.get('interventions', '-'):>14} {r.get('unsafe_steps', '-'):>7}"
        )
    lines.append("")
    lines.append("overhead per step (policy inference + env.step), side by side")
    lines.append(f"  {'policy':<13} {'unshielded':>11} {'shielded':>9} {'added':>8} {'added %':>8} {'interv.':>8}")
    for r in report["overhead"]:
        lines.append(
            f"  {r['policy']:<13} {r['unshielded_median_us']:>9.2f}us {r['shielded_median_us']:>7.2f}us "
            f"{r['added_median_us']:>6.2f}us {r['added_percent']:>7.1f}% {r['intervention_rate']:>8.3f}"
        )
    r = report["returns"]
    if r is not None:
        lines.append("")
        lines.append(f"returns of a good policy: {r['policy']}, {r['episodes']} episodes")
        lines.append(
            f"  unshielded {r['unshielded_mean_return']:.2f}   shielded {r['shielded_mean_return']:.2f}   "
            f"difference {r['difference_percent']:+.3f}%   interventions {r['interventions']}"
        )
    c = report["continuous"]
    if c is not None:
        lines.append("")
        lines.append(f"general path: {c['env']}, random policy, bounds + invariant + history smoothness")
        lines.append(
            f"  {c['steps']} steps  violations {c['violations']}  interventions {c['interventions']} "
            f"{c['interventions_by_source']}  unsafe {c['unsafe_steps']}"
        )
        lines.append(
            f"  unshielded {c['unshielded_median_us']:.2f}us  shielded {c['shielded_median_us']:.2f}us  "
            f"added {c['added_median_us']:.2f}us ({c['added_percent']:.1f}%)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000, help="shielded steps per adversarial policy")
    parser.add_argument("--unshielded-steps", type=int, default=100_000, help="unshielded steps per adversarial policy")
    parser.add_argument("--blocks", type=int, default=60, help="timing blocks per side")
    parser.add_argument("--block", type=int, default=2000, help="steps per timing block")
    parser.add_argument("--episodes", type=int, default=100, help="episodes for the return comparison")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON report here")
    parser.add_argument("--sections", default="violations,overhead,returns,continuous", help="comma-separated subset to run")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.unshielded_steps, args.blocks, args.block, args.episodes = 10_000, 5_000, 10, 500, 5
    spec, fallback = load_spec(SPEC), load_policy(FALLBACK)
    proof = verify_policy(fallback, spec)
    ctx = {"spec": spec, "fallback": fallback, "proof": proof}
    report: dict[str, Any] = {
        "env": ENV_ID,
        "fallback_verdict": proof.verdict.value,
        "python": platform.python_version(),
        "gymnasium": gym.__version__,
        "machine": platform.machine(),
        "violations": [],
        "overhead": [],
        "returns": None,
    }
    sections = set(args.sections.split(","))
    if "violations" in sections:
        for name in ("random", "worst"):
            report["violations"].append(count_violations(name, args.steps, True, ctx, args.seed))
            report["violations"].append(count_violations(name, args.unshielded_steps, False, ctx, args.seed))
    if "overhead" in sections:
        report["overhead"] = [overhead(name, args.blocks, args.block, ctx, args.seed) for name in ("random", "worst", "near_optimal", "good")]
        report["overhead"][-1]["policy"] = "good (" + good_policy()[1].split(" ")[0].split("/")[-1] + ")"
    if "returns" in sections:
        report["returns"] = returns(args.episodes, ctx, args.seed)
    report["continuous"] = None
    if "continuous" in sections:
        report["continuous"] = continuous(args.unshielded_steps, args.blocks // 2, args.block, args.seed)
    print(table(report))
    print()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
