"""Benchmark of ``saferl repair`` on large trees against the targets of issue 13.

Generates synthetic CartPole decision trees of 128 and 511 leaves that are SAFE for
``specs/cartpole/pole_follow.yaml`` (the root splits on ``pole_angle <= 0``; every leaf
whose box meets a ``follow`` region pushes that way), breaks one such leaf (its action
flipped), and repairs it with and without ``--env CartPole-v1``.  Each repair runs in a
fresh subprocess (``saferl repair``), so the figures are whole-process CPU seconds; the
wall time is compared with ``--timeout`` (honoured within 10 %).  Prints a table, then
the same figures as JSON (last line of stdout).  ``repair s`` is the repair's own clock
(what ``--timeout`` bounds, within 10 %: ``held``); ``wall s`` adds the process start.

With ``--env`` the unbroken tree's return (``saferl eval``, the same 100 episodes from
seed 0 that repair rolls out) is measured too: ``kept`` says whether the repaired tree's
return is within 2 % of it.

    python bench/repair_scale.py                       # 128 and 511 leaves, both modes
    python bench/repair_scale.py --leaves 128 --timeout 30
    python bench/repair_scale.py --leaves 2048 --timeout 120
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs/cartpole/pole_follow.yaml"
DOMAIN = {
    "cart_position": (-2.4, 2.4),
    "cart_velocity": (-5.0, 5.0),
    "pole_angle": (-0.2095, 0.2095),
    "pole_angular_velocity": (-5.0, 5.0),
}
#: issue 13's targets, CPU seconds with --env CartPole-v1
TARGETS = {128: 10.0, 511: 30.0, 2048: 120.0}
#: the repaired tree's return must stay within this fraction of the unbroken tree's
RETURN_KEPT = 0.98
HEADER = """policy synthetic_{n}
obs cart_position: float32 in [-4.8, 4.8]
obs cart_velocity: float32
obs pole_angle: float32 in [-0.418, 0.418]
obs pole_angular_velocity: float32
act push: discrete {{left = 0, right = 1}}

"""


@dataclass
class Node:
    """A tree node: a split (``name <= threshold``) or a leaf (``action``)."""

    box: dict[str, tuple[float, float]]
    name: str | None = None
    threshold: float = 0.0
    low: Node | None = None
    high: Node | None = None
    action: str = "left"


def _region(box: dict[str, tuple[float, float]]) -> str | None:
    """Which follow region (``right``/``left``) the leaf's box meets, if any."""
    a_lo, a_hi = box["pole_angle"]
    v_lo, v_hi = box["pole_angular_velocity"]
    if a_hi > 0.02 and v_hi > 0.2:
        return "right"
    if a_lo < -0.02 and v_lo < -0.2:
        return "left"
    return None


def _split(node: Node, name: str, threshold: float) -> None:
    lo, hi = node.box[name]
    node.name, node.threshold = name, threshold
    node.low = Node({**node.box, name: (lo, threshold)})
    node.high = Node({**node.box, name: (threshold, hi)})


def make_tree(leaves: int, seed: int) -> Node:
    """A SAFE random tree with exactly ``leaves`` leaves (fixed by ``seed``)."""
    rng = random.Random(seed)
    root = Node(dict(DOMAIN))
    _split(root, "pole_angle", 0.0)
    open_leaves = [root.low, root.high]
    while len(open_leaves) < leaves:
        i = rng.randrange(len(open_leaves))
        leaf = open_leaves.pop(i)
        assert leaf is not None
        name = rng.choice(sorted(DOMAIN))
        lo, hi = leaf.box[name]
        thr = round(rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo)), 4)
        _split(leaf, name, thr)
        open_leaves += [leaf.low, leaf.high]
    for leaf in open_leaves:
        assert leaf is not None
        region = _region(leaf.box)
        if region is not None:
            leaf.action = region
        else:  # elsewhere the usual heuristic: push the way the pole falls
            a = sum(leaf.box["pole_angle"]) / 2 + 0.5 * sum(leaf.box["pole_angular_velocity"]) / 2
            leaf.action = "right" if a > 0 else "left"
    return root


def break_one(root: Node, seed: int) -> int:
    """Flip the action of one leaf that a follow region meets; its index in the walk order."""
    leaves = [n for n in _walk(root) if n.name is None]
    cands = [i for i, n in enumerate(leaves) if _region(n.box) is not None]
    i = random.Random(seed).choice(cands)
    leaves[i].action = "left" if leaves[i].action == "right" else "right"
    return i


def _walk(node: Node) -> list[Node]:
    out = [node]
    if node.low is not None and node.high is not None:
        out += _walk(node.low) + _walk(node.high)
    return out


def render(root: Node, n: int) -> str:
    """The tree as .pol text."""
    lines: list[str] = []

    def go(node: Node, ind: str) -> None:
        if node.name is None:
            lines.append(f"{ind}push = {node.action}")
            return
        assert node.low is not None and node.high is not None
        lines.append(f"{ind}if {node.name} <= {node.threshold} {{")
        go(node.low, ind + "  ")
        lines.append(f"{ind}}} else {{")
        go(node.high, ind + "  ")
        lines.append(f"{ind}}}")

    go(root, "")
    return HEADER.format(n=n) + "\n".join(lines) + "\n"


def run_one(leaves: int, env: str | None, timeout: float, seed: int, work: Path) -> dict[str, object]:
    """Repair one broken tree in a subprocess; CPU and wall seconds, status, reason."""
    root = make_tree(leaves, seed)
    unbroken = None
    if env:
        whole = work / f"unbroken{leaves}.pol"
        whole.write_text(render(root, leaves))
        done = subprocess.run([sys.executable, "-m", "saferl", "eval", str(whole), "-e", env, "-n", "100",
                               "--seed", "0", "-f", "json"], capture_output=True, text=True, cwd=ROOT)
        if done.returncode == 0:
            unbroken = float(json.loads(done.stdout)["mean_return"])
    broken_leaf = break_one(root, seed)
    pol = work / f"tree{leaves}.pol"
    pol.write_text(render(root, leaves))
    out = work / f"fixed{leaves}{'-env' if env else ''}.pol"
    cmd = [sys.executable, "-m", "saferl", "repair", str(pol), "--spec", str(SPEC), "-o", str(out),
           "--timeout", str(timeout), "--format", "json", "-q"]
    if env:
        cmd += ["--env", env]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status, reason = "error", proc.stderr.strip().splitlines()[-1:] or [""]
    try:
        report = json.loads(proc.stdout)
        status, reason = report.get("status", "?"), [report.get("reason", "")]
        ret = report.get("returns", {})
        repair_s = report.get("time_s")
    except json.JSONDecodeError:
        ret, repair_s = {}, None
    target = TARGETS.get(leaves) if env else None
    return {
        "leaves": leaves, "env": env or "-", "broken_leaf": broken_leaf, "status": status, "exit": proc.returncode,
        "cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "timeout_s": timeout,
        "repair_s": None if repair_s is None else round(float(repair_s), 2),
        "budget_held": repair_s is not None and float(repair_s) <= 1.1 * timeout, "target_cpu_s": target,
        "meets_target": bool(target is not None and status == "repaired" and cpu <= target),
        "return_unbroken": unbroken, "return_before": ret.get("before"), "return_after": ret.get("after"),
        "return_kept": None if unbroken is None or ret.get("after") is None
        else bool(float(ret["after"]) >= RETURN_KEPT * unbroken),
        "reason": reason[0][:90],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--leaves", type=int, nargs="*", default=[128, 511])
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-env", action="store_true", help="only the runs without --env")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.leaves:
            for env in ([None] if args.no_env else [None, "CartPole-v1"]):
                rows.append(run_one(n, env, args.timeout, args.seed, Path(tmp)))
                r = rows[-1]
                print(f"{r['leaves']:>6} {r['env']:<12} {r['status']:<13} cpu {r['cpu_s']:>7} wall {r['wall_s']:>7} "
                      f"/ {r['timeout_s']}  {r['reason']}", file=sys.stderr)
    print(f"{'leaves':>6} {'env':<12} {'status':<13} {'cpu s':>7} {'wall s':>7} {'repair s':>8} {'budget':>7} {'held':>5} "
          f"{'target':>6} {'ret whole':>9} {'ret before':>10} {'ret after':>9} {'kept':>5}")
    for r in rows:
        def f(x: object) -> str:
            return "-" if x is None else f"{x:.1f}" if isinstance(x, float) else str(x)
        print(f"{r['leaves']:>6} {r['env']:<12} {r['status']:<13} {f(r['cpu_s']):>7} {f(r['wall_s']):>7} {f(r['repair_s']):>8} "
              f"{f(r['timeout_s']):>7} {str(r['budget_held']):>5} {f(r['target_cpu_s']):>6} "
              f"{f(r['return_unbroken']):>9} {f(r['return_before']):>10} {f(r['return_after']):>9} {f(r['return_kept']):>5}")
    print(json.dumps({"rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
