"""Fuzz saferl's readers through the real command line: no traceback, no hang, exit 0-3.

Mutates the shipped policies (``policies/**/*.pol``), specs (``specs/**/*.yaml``) and model
manifests (``oracles/*/manifest.json``) with seeded random edits (insertions of tokens that
stress a parser, deletions, duplicated or swapped lines, truncation, deep nesting, huge
numbers, YAML tags, control characters), adds the file-system traps of issue 10 (a FIFO,
``/dev/zero``, a directory, a 5,000-character name, a 10 MB policy), and runs each input
in-process through ``saferl.cli.run``:

* policies: ``saferl verify MUTANT.pol --spec SPEC --timeout 0.5``
* specs:    ``saferl verify POLICY --spec MUTANT.yaml --timeout 0.5``
* models:   ``saferl eval MUTANT_DIR --env ENV -n 1 --max-steps 5`` (half the manifests
  edited as text, half by replacing or dropping one JSON value)

It counts tracebacks on stderr, internal errors (crashes the CLI caught: exit 2, one
line, but still bugs), hangs (over 5 s), exit-2 messages longer than one line, and the
exit codes, then prints a table and the same figures as JSON (last line of stdout).

    python bench/fuzz.py                 # 1,500 inputs (+18 traps), about a minute on 2 cores
    python bench/fuzz.py --n 90 --seed 3 # fewer, another seed
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from saferl.cli import run  # noqa: E402

HANG_S = 5.0
GUARD_S = 60

#: policy -> the spec it is verified against (and the reverse for spec mutants)
PAIRS = {
    "policies/cartpole/near_optimal.pol": "specs/cartpole/pole_follow.yaml",
    "policies/cartpole/worst.pol": "specs/cartpole/pole_follow.yaml",
    "policies/cartpole/intermediate.pol": "specs/cartpole/pole_follow.yaml",
    "policies/extracted/cartpole-viper.pol": "specs/cartpole/pole_follow.yaml",
    "policies/mountaincar/bang_bang.pol": "specs/mountaincar/momentum.yaml",
    "policies/extracted/mountaincar-tree.pol": "specs/mountaincar/momentum.yaml",
    "policies/extracted/mountaincar-pid.pol": "specs/mountaincar/momentum.yaml",
    "policies/torcs/propel_prog.pol": "specs/torcs/smooth.yaml",
    "policies/torcs/prior.pol": "specs/torcs/smooth.yaml",
    "policies/repair/pid_accel.pol": "specs/repair/pid_smooth.yaml",
    "policies/pendulum/swing_up.pol": "specs/pendulum/upright.yaml",
    "policies/extracted/pendulum-tree.pol": "specs/pendulum/upright.yaml",
}
SPEC_POLICY = {
    "specs/cartpole/pole_follow.yaml": "policies/cartpole/near_optimal.pol",
    "specs/mountaincar/momentum.yaml": "policies/mountaincar/bang_bang.pol",
    "specs/torcs/smooth.yaml": "policies/torcs/propel_prog.pol",
    "specs/repair/pid_smooth.yaml": "policies/repair/pid_accel.pol",
    "specs/pendulum/upright.yaml": "policies/pendulum/swing_up.pol",
}
ORACLE_ENV = {
    "oracles/cartpole-ppo": "CartPole-v1",
    "oracles/mountaincar-td3": "MountainCarContinuous-v0",
    "oracles/pendulum-td3": "Pendulum-v1",
}

#: text a mutation may insert: parser stress, numbers, YAML and JSON oddities
SNIPPETS = [
    "(", ")", "{", "}", "[", "]", ",", ":", "=", "..", "'", "#", "|", ">", '"', "\\", "-", "- ",
    "if x <= 0 {", "elif", "else", "not ", "and", "or", "abs(", "min(", "max(", "clip(", "pid(",
    "sum(k = 0..5, ", "sum(k = 0..999999999, ", "[t-", "t-1]", "x[t-1]", "true", "false",
    "1e309", "1e-30", "-0.0", "nan", "inf", "0x1F", "1_000", "1" * 400, "9" * 5000, "²", "٣",
    "\x00", "\n", "\t", "\r", "\ufeff", "é", "\u202e", "\x7f",
    "!!python/object:os.system ", "!custom ", "&a ", "*a ", "? ", "~", "null", "{}", "[]",
    "NaN", "Infinity", "-Infinity", "1e999", '{"a": ', "[" * 50,
]
DEEP = ["(", "[", "{", "not ", "- ", "abs(", "if x <= 0 { ", "sum(k = 0..9, "]


def _mutate(text: str, rng: random.Random) -> str:
    """One to four random edits of ``text``."""
    for _ in range(rng.randint(1, 4)):
        n = len(text)
        at = rng.randint(0, n)
        op = rng.random()
        if op < 0.35:
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif op < 0.5:
            text = text[:at] + text[at + rng.randint(1, 30) :]
        elif op < 0.6:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
            text = "\n".join(lines)
        elif op < 0.68:
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op < 0.74:
            text = text[:at]
        elif op < 0.84:
            if n:
                text = text[:at] + chr(rng.choice([rng.randint(32, 126), rng.randint(0, 0x2FFF)])) + text[at + 1 :]
        elif op < 0.94:
            text = text[:at] + rng.choice(DEEP) * rng.choice([70, 300, 5000]) + text[at:]
        else:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines[i:i] = [lines[i]] * rng.choice([10, 200, 3000])
            text = "\n".join(lines)
    return text


#: values a structural manifest mutation puts in place of one value
ODD_VALUES: list[object] = [
    None, True, False, -1, 0, 1, 2**70, 1e308, -1e-320, float("nan"), float("inf"), "", "x" * 10_000, "é",
    [], {}, [1.0] * 5000, [[[[[[[[]]]]]]]], {"a": {"b": {"c": None}}},
]


def _mutate_json(text: str, rng: random.Random) -> str:
    """Replace or drop one value somewhere in the JSON document ``text``."""
    doc = json.loads(text)
    parent: object = doc
    key: object = None
    node: object = doc
    while isinstance(node, dict | list) and node and rng.random() < 0.75:
        parent = node
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        node = node[key]  # type: ignore[index]
    if key is None:
        return json.dumps(rng.choice(ODD_VALUES))
    if isinstance(parent, dict) and rng.random() < 0.25:
        del parent[key]
    else:
        parent[key] = rng.choice(ODD_VALUES)  # type: ignore[index]
    return json.dumps(doc)


@dataclass
class Tally:
    """The figures of one kind of input."""

    inputs: int = 0
    tracebacks: int = 0
    internal_errors: int = 0
    hangs: int = 0
    multi_line_errors: int = 0
    exit_codes: Counter[int] = field(default_factory=Counter)
    max_s: float = 0.0
    examples: list[str] = field(default_factory=list)


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Hang


def _run_one(argv: list[str], tally: Tally, label: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    signal.alarm(GUARD_S)
    try:
        code = run(argv, out, err)
    except _Hang:
        code = -1
    finally:
        signal.alarm(0)
    elapsed = time.perf_counter() - start
    text = err.getvalue()
    tally.inputs += 1
    tally.exit_codes[code] += 1
    tally.max_s = max(tally.max_s, elapsed)
    bad = []
    if "Traceback" in text:
        tally.tracebacks += 1
        bad.append("traceback")
    if "internal error" in text:
        tally.internal_errors += 1
        bad.append("internal error: " + text.strip().splitlines()[-1][:160])
    if elapsed > HANG_S or code == -1:
        tally.hangs += 1
        bad.append(f"took {elapsed:.1f} s")
    if code == 2 and len([ln for ln in text.splitlines() if ln.strip()]) != 1:
        tally.multi_line_errors += 1
        bad.append(f"{len(text.splitlines())} stderr lines")
    if code not in (0, 1, 2, 3):
        bad.append(f"exit {code}")
    if bad and len(tally.examples) < 8:
        tally.examples.append(f"{label}: {'; '.join(bad)}")


def fuzz(n: int, seed: int, work: Path) -> dict[str, Tally]:
    """Run ``n`` mutated inputs (a third of each kind) plus the file-system traps."""
    rng = random.Random(seed)
    tallies = {"policy": Tally(), "spec": Tally(), "model": Tally(), "file": Tally()}
    per_kind = max(1, n // 3)
    policies = sorted(PAIRS)
    for k in range(per_kind):
        src = rng.choice(policies)
        path = work / f"p{k}.pol"
        path.write_text(_mutate((ROOT / src).read_text(encoding="utf-8"), rng), encoding="utf-8", errors="surrogatepass")
        _run_one(["verify", str(path), "--spec", str(ROOT / PAIRS[src]), "--timeout", "0.5"], tallies["policy"], f"{src}#{k}")
    specs = sorted(SPEC_POLICY)
    for k in range(per_kind):
        src = rng.choice(specs)
        path = work / f"s{k}.yaml"
        path.write_text(_mutate((ROOT / src).read_text(encoding="utf-8"), rng), encoding="utf-8", errors="surrogatepass")
        argv = ["verify", str(ROOT / SPEC_POLICY[src]), "--spec", str(path), "--timeout", "0.5"]
        _run_one(argv, tallies["spec"], f"{src}#{k}")
    oracles = sorted(ORACLE_ENV)
    for k in range(per_kind):
        src = rng.choice(oracles)
        model = work / f"m-{Path(src).name}"
        if not model.exists():
            shutil.copytree(ROOT / src, model)
        manifest = (ROOT / src / "manifest.json").read_text(encoding="utf-8")
        mutant = _mutate_json(manifest, rng) if rng.random() < 0.5 else _mutate(manifest, rng)
        (model / "manifest.json").write_text(mutant, encoding="utf-8", errors="surrogatepass")
        argv = ["eval", str(model), "--env", ORACLE_ENV[src], "-n", "1", "--max-steps", "5", "-f", "json"]
        _run_one(argv, tallies["model"], f"{src}#{k}")
    spec = str(ROOT / "specs/cartpole/pole_follow.yaml")
    big = work / "big.pol"
    head = (ROOT / "policies/cartpole/near_optimal.pol").read_text(encoding="utf-8")
    big.write_text(head + "#" * (10 * 1024 * 1024) + "\n", encoding="utf-8")
    fifo = work / "fifo.pol"
    os.mkfifo(fifo)
    traps = {
        "fifo": str(fifo), "dev-zero": "/dev/zero", "directory": str(work), "long-name": "p" * 5000 + ".pol",
        "10MB": str(big), "nul-in-name": "a\x00b.pol",
    }
    for label, target in traps.items():
        _run_one(["verify", target, "--spec", spec], tallies["file"], label)
        _run_one(["verify", str(ROOT / "policies/cartpole/near_optimal.pol"), "--spec", target], tallies["file"], label + " (spec)")
        _run_one(["eval", target, "--env", "CartPole-v1", "-n", "1", "--max-steps", "5"], tallies["file"], label + " (model)")
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500, help="mutated inputs in all (a third of each kind)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="saferl-fuzz-") as tmp:
        tallies = fuzz(args.n, args.seed, Path(tmp))
    wall = time.perf_counter() - start
    cols = ("kind", "inputs", "tracebacks", "internal", "hangs", "multi-line", "max s", "exit codes")
    rows = [
        (kind, t.inputs, t.tracebacks, t.internal_errors, t.hangs, t.multi_line_errors, f"{t.max_s:.2f}",
         " ".join(f"{c}:{k}" for c, k in sorted(t.exit_codes.items())))
        for kind, t in tallies.items()
    ]
    total = Tally()
    for t in tallies.values():
        total.inputs += t.inputs
        total.tracebacks += t.tracebacks
        total.internal_errors += t.internal_errors
        total.hangs += t.hangs
        total.multi_line_errors += t.multi_line_errors
        total.exit_codes.update(t.exit_codes)
        total.max_s = max(total.max_s, t.max_s)
    rows.append(("all", total.inputs, total.tracebacks, total.internal_errors, total.hangs, total.multi_line_errors,
                 f"{total.max_s:.2f}", " ".join(f"{c}:{k}" for c, k in sorted(total.exit_codes.items()))))
    widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
    for r in [cols, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)))
    for t in tallies.values():
        for ex in t.examples:
            print("  !", ex)
    record = {
        "seed": args.seed,
        "wall_s": round(wall, 1),
        "inputs": total.inputs,
        "tracebacks": total.tracebacks,
        "internal_errors": total.internal_errors,
        "hangs": total.hangs,
        "multi_line_errors": total.multi_line_errors,
        "exit_codes": {str(c): k for c, k in sorted(total.exit_codes.items())},
        "by_kind": {
            kind: {"inputs": t.inputs, "tracebacks": t.tracebacks, "internal_errors": t.internal_errors,
                   "hangs": t.hangs, "exit_codes": {str(c): k for c, k in sorted(t.exit_codes.items())}}
            for kind, t in tallies.items()
        },
    }
    print(json.dumps(record))
    return 0 if total.tracebacks == total.hangs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
