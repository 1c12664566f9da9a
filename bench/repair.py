"""Benchmark of ``saferl repair`` against the targets of issue 3.

Repairs the shipped UNSAFE CartPole trees (with CartPole-v1 for the behaviour term and
the returns), the PID throttle program of ``policies/repair`` against PROPEL's
smoothness property, a broken copy of the shipped PROPEL TORCS program, and a batch of
randomly broken copies of the SAFE near-optimal tree.  Every repaired policy is
re-verified.  Prints a table, then the same figures as JSON (last line of stdout).

    python bench/repair.py              # everything (~10-20 s on 2 cores)
    python bench/repair.py --only worst # one case
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.policy import load_policy, parse_policy  # noqa: E402
from saferl.repair import RepairOptions, repair_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import load_spec  # noqa: E402
from saferl.verify import verify_policy  # noqa: E402

#: (name, policy, spec, env id or None, time target in s, return target or None)
CASES = [
    ("worst", "policies/cartpole/worst.pol", "specs/cartpole/pole_follow.yaml", "CartPole-v1", 10.0, 100.0),
    ("intermediate", "policies/cartpole/intermediate.pol", "specs/cartpole/pole_follow.yaml", "CartPole-v1", None, None),
    ("pid-smooth", "policies/repair/pid_accel.pol", "specs/repair/pid_smooth.yaml", None, 10.0, None),
    ("propel-ki3", "policies/torcs/propel_prog.pol", "specs/torcs/smooth.yaml", None, None, None),
]


def _program(name: str, path: Path):  # type: ignore[no-untyped-def]
    text = path.read_text()
    if name == "propel-ki3":  # break the shipped SAFE program: a large integral gain on accel
        text = text.replace("pid(rpm, 0.45, 3.54, 0.03, 53.39)", "pid(rpm, 0.45, 3.54, 3, 53.39)")
    return parse_policy(text, str(path)), text


def run_case(name: str, policy: str, spec_path: str, env: str | None, timeout: float) -> dict[str, object]:
    path = ROOT / policy
    if not path.exists():
        return {"case": name, "status": "missing", "policy": policy}
    program, text = _program(name, path)
    spec = load_spec(ROOT / spec_path)
    start = time.perf_counter()
    result = repair_policy(program, spec, RepairOptions(env_id=env, timeout_s=timeout), source_text=text)
    wall = time.perf_counter() - start
    verdict = None
    if result.status != "unrepairable":
        verdict = verify_policy(parse_policy(result.policy_text), spec).verdict.value
    return {
        "case": name,
        "policy": policy,
        "spec": spec_path,
        "status": result.status,
        "reverified": verdict,
        "time_s": round(wall, 2),
        "iterations": result.iterations,
        "shape": result.reason,
        "changes": len(result.changes),
        "edits": len(result.edits),
        "return_before": result.returns.get("before"),
        "return_after": result.returns.get("after"),
    }


def run_perturbed(n: int, seed: int) -> dict[str, object]:
    """Break the SAFE near-optimal tree ``n`` times (thresholds moved, leaves flipped)."""
    safe = load_policy(ROOT / "policies/cartpole/near_optimal.pol")
    spec = load_spec(ROOT / "specs/cartpole/pole_follow.yaml")
    params = safe.parameters()
    rng = random.Random(seed)
    times: list[float] = []
    outcome = {"repaired": 0, "already-safe": 0, "unrepairable": 0, "not-repaired": 0, "reverified_safe": 0}
    for _ in range(n):
        chosen = rng.sample(range(len(params)), rng.randint(1, 4))
        values = {k: (1.0 - params[k].value) if params[k].kind == "leaf" else round(params[k].value + rng.uniform(-1, 1), 3)
                  for k in chosen}
        broken = safe.with_values(values)
        start = time.perf_counter()
        res = repair_policy(broken, spec, RepairOptions(timeout_s=30))
        times.append(time.perf_counter() - start)
        outcome[res.status] += 1
        if res.status != "unrepairable" and verify_policy(parse_policy(res.policy_text), spec).verdict is Verdict.SAFE:
            outcome["reverified_safe"] += 1
    return {
        "case": f"near_optimal x{n} perturbed",
        **outcome,
        "median_time_s": round(statistics.median(times), 2),
        "max_time_s": round(max(times), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", choices=[c[0] for c in CASES] + ["perturbed"])
    parser.add_argument("--perturbed", type=int, default=20, help="how many broken near-optimal trees")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    rows = []
    for name, policy, spec, env, t_target, r_target in CASES:
        if args.only and args.only != name:
            continue
        row = run_case(name, policy, spec, env, args.timeout)
        row["target_time_s"] = t_target
        row["target_return"] = r_target
        ok_time = t_target is None or (row.get("reverified") == "SAFE" and float(row["time_s"]) <= t_target)  # type: ignore[arg-type]
        ok_ret = r_target is None or (row.get("return_after") or 0) >= r_target  # type: ignore[operator]
        row["meets_targets"] = bool(ok_time and ok_ret and row.get("reverified") == "SAFE")
        rows.append(row)
    perturbed = None
    if not args.only or args.only == "perturbed":
        perturbed = run_perturbed(args.perturbed, seed=0)
    print(f"{'case':<14} {'status':<13} {'verify':<7} {'time s':>7} {'iters':>5} {'ret before':>10} {'ret after':>9}  shape")
    for r in rows:
        def f(x: object) -> str:
            return "-" if x is None else f"{x:.1f}" if isinstance(x, float) else str(x)
        print(f"{r['case']:<14} {r['status']:<13} {f(r.get('reverified')):<7} {f(r.get('time_s')):>7} "
              f"{f(r.get('iterations')):>5} {f(r.get('return_before')):>10} {f(r.get('return_after')):>9}  {r.get('shape', '')}")
    if perturbed is not None:
        print(f"{perturbed['case']}: repaired {perturbed['repaired']}, already safe {perturbed['already-safe']}, "
              f"unrepairable {perturbed['unrepairable']}, re-verified SAFE {perturbed['reverified_safe']}, "
              f"median {perturbed['median_time_s']} s, max {perturbed['max_time_s']} s")
    print(json.dumps({"cases": rows, "perturbed": perturbed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
