"""Race policies over PROPEL's five tracks x N seeds in real TORCS; PROPEL's table.

Run:  python bench/torcs_race.py [POLICY ...] [--seeds 5] [--laps 3] [--tracks T ...]
                                 [--max-steps N] [--json OUT.json] [--no-reference]

POLICY: any policy file saferl loads (.pol, a saferl model directory, ...); default
policies/torcs/propel_fast.pol.  For every policy, track and seed one race of ``--laps``
laps; a cell is PROPEL's: the median over the seeds of the best lap (a crashed race counts
as infinite, so "crash" when at least half crashed) / the share of races that crashed.

What a seed is: real TORCS is deterministic (the same actions give the same race bit for
bit), so the TORCS race seed would give N identical races.  Seed s is a start
perturbation instead (saferl.envs.torcs.race): 1-50 opening steps of random actions drawn
from numpy's default_rng(s) (steer in [-0.2, 0.2], throttle in [0, 1], no brake), then the
policy drives from its initial state.

Prints the table (with PROPEL's own rows, as published, for comparison), then JSON (to
stdout, or to --json), with every race's lap times, the CPU time of the races (this
process and the TORCS processes) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from saferl.envs.torcs.race import (  # noqa: E402
    PROPEL_TRACKS,
    format_propel_table,
    race_policy,
    summarize,
)

DEFAULT_POLICY = "policies/torcs/propel_fast.pol"


def _cpu_s() -> float:
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def race_all(policy_path: str, tracks: list[str], seeds: int, laps: int, max_steps: int | None) -> dict[str, Any]:
    from saferl.formats import load_policy_file

    policy = load_policy_file(policy_path)
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    results = []
    for track in tracks:
        for seed in range(seeds):
            result = race_policy(policy, track, laps=laps, seed=seed, max_steps=max_steps)
            results.append(result)
            print(f"  {policy_path} {track} seed {seed}: laps {[round(t, 2) for t in result.lap_times]}"
                  f"{' CRASH' if result.crashed else ''}", file=sys.stderr, flush=True)
    summaries = summarize(results)
    return {
        "policy": policy_path,
        "summaries": summaries,
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": _cpu_s() - cpu0,
        "steps": sum(r.steps for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policies", nargs="*", default=[DEFAULT_POLICY])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--laps", type=int, default=3)
    parser.add_argument("--tracks", nargs="*", default=list(PROPEL_TRACKS))
    parser.add_argument("--max-steps", type=int, default=None,
                        help="truncate each race (default: 15,000 steps per lap)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-reference", action="store_true", help="leave PROPEL's published rows out")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.laps < 1:
        parser.error("--seeds and --laps must be at least 1")

    runs = [race_all(p, args.tracks, args.seeds, args.laps, args.max_steps) for p in args.policies]
    table = format_propel_table({r["policy"]: r["summaries"] for r in runs}, reference=not args.no_reference)
    print(f"best lap of a {args.laps}-lap race in real TORCS (s) / crash ratio, median of {args.seeds} "
          "seeds (start perturbations)")
    print(table)
    for r in runs:
        print(f"{r['policy']}: {r['steps']} steps, {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU "
              f"({r['steps'] / max(r['wall_s'], 1e-9):.0f} steps/s)")
    report = {
        "laps": args.laps, "seeds": args.seeds, "tracks": args.tracks,
        "seed_meaning": "start perturbation: 1-50 random opening steps from numpy default_rng(seed)",
        "policies": [
            {"policy": r["policy"], "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "steps": r["steps"],
             "tracks": [s.to_record() for s in r["summaries"]]}
            for r in runs
        ],
    }
    text = json.dumps(report, indent=2)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
