"""Verify at scale: CartPole trees of growing size, whole-process CPU, against a plain reference.

Trees are random balanced trees over CartPole's four float32 observations (thresholds in
[-0.3, 0.3], leaves left/right), written to a temporary folder.  For each size:

* ``saferl``: ``saferl verify TREE --spec specs/cartpole/pole_follow.yaml`` as a child
  process; CPU = user + sys of the child (parse, encode, solve, replay, report);
* ``reference``: a plain z3 script in a child process: the tree as nested ``If`` over
  reals (no float32 snapping, no float64 rounding), one solver, push/pop per property.

The ratio is measured side by side in one run (median of 3).  Then a 10 MB policy (a
balanced tree of 65,536 leaves) is parsed in a child process: CPU and peak memory.  The
load average is printed with the figures (the machine is shared).  Prints a table and JSON.
``python bench/scale.py [MAX_DEPTH] [--cold]`` (default 13: 8,192 leaves).

Bytecode: both children read and write compiled modules in a cache of their own
(``PYTHONPYCACHEPREFIX`` in the temporary folder), filled by one untimed run of each
first — as an installed package runs, whose modules are compiled at install time.
``--cold`` keeps the environment as it is: under ``PYTHONDONTWRITEBYTECODE=1`` an
editable checkout's modules without a current ``.pyc`` are compiled on every run (z3's,
installed, are not).
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs/cartpole/pole_follow.yaml"
OBS = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
HEADER = (
    "policy scale\nobs cart_position: float32 in [-4.8, 4.8]\nobs cart_velocity: float32\n"
    "obs pole_angle: float32 in [-0.418, 0.418]\nobs pole_angular_velocity: float32\n"
    "act push: discrete {left = 0, right = 1}\n"
)

REFERENCE = r'''
import json, sys, z3
tree = json.load(open(sys.argv[1]))
x = {n: z3.Real(n) for n in ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]}
def term(t):
    if isinstance(t, int):
        return z3.IntVal(t)
    o, c, a, b = t
    return z3.If(x[o] <= z3.RealVal(c), term(a), term(b))
push = term(tree)
s = z3.Solver()
s.add(x["pole_angle"] >= -0.2095, x["pole_angle"] <= 0.2095)
for when, want in (((x["pole_angle"] > 0.02, x["pole_angular_velocity"] > 0.2), 1),
                   ((x["pole_angle"] < -0.02, x["pole_angular_velocity"] < -0.2), 0)):
    s.push(); s.add(*when, push != want); s.check(); s.pop()
s.push(); s.add(z3.And(push != 0, push != 1)); s.check(); s.pop()
'''


def gen(depth: int, rng: random.Random) -> object:
    if depth == 0:
        return rng.randint(0, 1)
    return [rng.choice(OBS), round(rng.uniform(-0.3, 0.3), 4), gen(depth - 1, rng), gen(depth - 1, rng)]


def pol_text(tree: object, indent: int = 0) -> str:
    pad = "  " * indent
    if isinstance(tree, int):
        return f"{pad}push = {'right' if tree else 'left'}\n"
    o, c, a, b = tree  # type: ignore[misc]
    return f"{pad}if {o} <= {c!r} {{\n{pol_text(a, indent + 1)}{pad}}} else {{\n{pol_text(b, indent + 1)}{pad}}}\n"


PARSE = r'''
import json, resource, sys, time
from saferl.policy import load_policy
start = time.process_time()
program = load_policy(sys.argv[1])
cpu = time.process_time() - start
print(json.dumps({"cpu_s": cpu, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def parse_row(tmp: Path) -> dict[str, object]:
    """Parse a 10 MB tree in a child process: its CPU and peak memory (median of 3 by CPU)."""
    pol = tmp / "t16.pol"
    text = HEADER + pol_text(gen(16, random.Random(16)))
    pol.write_text(text)
    script = tmp / "parse.py"
    script.write_text(PARSE)
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, str(script), str(pol)], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    runs.sort(key=lambda r: r["cpu_s"])
    mid = runs[1]
    return {
        "bytes": len(text.encode()), "lines": text.count("\n"), "leaves": 2**16,
        "parse_cpu_s": round(mid["cpu_s"], 3), "peak_rss_mb": round(mid["peak_rss_mb"], 1),
    }


def child_env(tmp: Path, cold: bool) -> dict[str, str]:
    """The children's environment: a bytecode cache of their own unless ``cold``."""
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def child_cpu(argv: list[str], env: dict[str, str] | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--cold"]
    cold = "--cold" in sys.argv[1:]
    max_depth = int(args[0]) if args else 13
    saferl = str(Path(sys.executable).with_name("saferl"))
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "reference.py"
        ref.write_text(REFERENCE)
        env = child_env(Path(tmp), cold)
        warm = True
        for depth in sorted({d for d in (3, 7, 9, 11, 13, 15) if d <= max_depth} | {max_depth}):
            tree = gen(depth, random.Random(depth))
            pol, js = Path(tmp) / f"t{depth}.pol", Path(tmp) / f"t{depth}.json"
            pol.write_text(HEADER + pol_text(tree))
            js.write_text(json.dumps(tree))
            if warm:  # fill the bytecode caches (untimed)
                child_cpu([saferl, "verify", str(pol), "--spec", str(SPEC)], env)
                child_cpu([sys.executable, str(ref), str(js)], env)
                warm = False
            ours = [child_cpu([saferl, "verify", str(pol), "--spec", str(SPEC)], env) for _ in range(3)]
            theirs = [child_cpu([sys.executable, str(ref), str(js)], env) for _ in range(3)]
            o, t = statistics.median(ours), statistics.median(theirs)
            rows.append({"leaves": 2**depth, "saferl_cpu_s": round(o, 3), "reference_cpu_s": round(t, 3), "ratio": round(o / t, 2)})
        parse = parse_row(Path(tmp))
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    bytecode = "as the environment has it (--cold)" if cold else "cached (PYTHONPYCACHEPREFIX, one untimed run first)"
    print(f"load average {load['before']} -> {load['after']} on {load['cpus']} CPUs; bytecode {bytecode}")
    print(f"{'leaves':>7} {'saferl CPU s':>13} {'reference CPU s':>16} {'ratio':>6}")
    for r in rows:
        print(f"{r['leaves']:>7} {r['saferl_cpu_s']:>13} {r['reference_cpu_s']:>16} {r['ratio']:>6}")
    print(
        f"parse {parse['bytes'] / 1e6:.1f} MB ({parse['lines']:,} lines, {parse['leaves']:,} leaves): "
        f"{parse['parse_cpu_s']} s CPU, peak {parse['peak_rss_mb']} MB"
    )
    print(json.dumps({"verify": rows, "parse_10mb": parse, "load": load, "bytecode": "cold" if cold else "cached"}))


if __name__ == "__main__":
    main()
