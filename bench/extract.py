"""Benchmark of saferl's oracles and extractors against the targets of issue 6.

Reads the shipped oracles (``oracles/``), scores each over 100 episodes, extracts a VIPER
tree for CartPole-v1 and trees and PID programs for MountainCarContinuous-v0 and
Pendulum-v1, writes them to ``policies/extracted/`` and prints a table, then the same
figures as JSON (last line of stdout).

    python bench/extract.py                 # everything (~10 minutes on 2 cores)
    python bench/extract.py --only cartpole # one environment
    python bench/extract.py --no-write      # do not touch policies/extracted/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.extract.synth import ProgramConfig, extract_program  # noqa: E402
from saferl.extract.viper import ViperConfig, extract_tree  # noqa: E402
from saferl.learn.evaluate import evaluate_policy  # noqa: E402
from saferl.learn.model import load_model  # noqa: E402

EPISODES = 100

#: (short name, env id, oracle directory, oracle target, extraction target, extractor kinds)
CASES = [
    ("cartpole", "CartPole-v1", "oracles/cartpole-ppo", 475.0, 495.0, ("tree",)),
    ("mountaincar", "MountainCarContinuous-v0", "oracles/mountaincar-td3", 90.0, 93.0, ("tree", "program")),
    ("pendulum", "Pendulum-v1", "oracles/pendulum-td3", -200.0, -200.0, ("tree", "program")),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[c[0] for c in CASES])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows: list[dict[str, object]] = []
    for short, env_id, oracle_dir, oracle_target, target, kinds in CASES:
        if args.only and args.only != short:
            continue
        oracle = load_model(ROOT / oracle_dir)
        start = time.perf_counter()
        stats = evaluate_policy(oracle, env_id, episodes=EPISODES, seed=5_000_000)
        rows.append({
            "env": env_id, "what": f"oracle {oracle_dir}", "return": stats.mean, "std": stats.std,
            "fidelity": 1.0, "size": int(sum(v.size for v in oracle.tensors.values())), "size_unit": "params",
            "wall_s": time.perf_counter() - start, "target": oracle_target, "ok": stats.mean >= oracle_target,
        })
        for kind in kinds:
            if kind == "tree":
                result = extract_tree(oracle, env_id, ViperConfig.for_env(env_id, seed=args.seed))
                name = f"{short}-viper.pol" if short == "cartpole" else f"{short}-tree.pol"
            else:
                result = extract_program(oracle, env_id, ProgramConfig.for_env(env_id, seed=args.seed))
                name = f"{short}-pid.pol"
            ok = result.mean_return >= target
            if short == "cartpole":
                ok = ok and result.size <= 8 and result.wall_seconds <= 60.0
            rows.append({
                "env": env_id, "what": f"{kind} -> policies/extracted/{name}", "return": result.mean_return,
                "std": result.std_return, "fidelity": result.fidelity, "size": result.size,
                "size_unit": result.size_unit, "wall_s": result.wall_seconds, "target": target, "ok": ok,
            })
            if not args.no_write:
                out = ROOT / "policies" / "extracted" / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(result.pol_text, encoding="utf-8")
    header = f"{'env':<26} {'what':<46} {'return (100 ep)':>18} {'fidelity':>8} {'size':>14} {'wall s':>7} {'target':>8}  ok"
    print(header)
    print("-" * len(header))
    for r in rows:
        ret = f"{r['return']:.2f} +- {r['std']:.2f}"
        size = f"{r['size']} {r['size_unit']}"
        print(f"{r['env']:<26} {r['what']:<46} {ret:>18} {r['fidelity']:>8.3f} {size:>14} {r['wall_s']:>7.1f} {r['target']:>8}  {'yes' if r['ok'] else 'NO'}")
    print(json.dumps({"bench": "extract", "episodes": EPISODES, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
