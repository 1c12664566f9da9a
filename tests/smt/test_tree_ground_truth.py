"""Decision trees against an independent ground truth: no SAFE that a float32 point breaks.

Random trees over two float32 observations, with thresholds and spec constants drawn from
values that round badly (0.1, 1/3, float32 neighbours of 0.1, 1e-8 …) and every comparison
operator.  For each SAFE verdict, every combination of those constants' float32 values and
their two neighbours on either side (plus random points) is run through the compiled policy
and judged by the runtime monitor (saferl.shield.monitor), which shares no code with the
tree decomposition or the SMT encoding.  Any violation is a wrong SAFE.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np

from saferl.policy import parse_policy
from saferl.policy.evaluate import ProgramPolicy
from saferl.results import Verdict
from saferl.shield.monitor import ViolationMonitor
from saferl.spec import load_spec
from saferl.verify import verify_policy

NASTY = [0.1, 0.2, 0.3, -0.1, 1 / 3, -2 / 3, 0.0, 0.5, float(np.float32(0.1)),
         float(np.nextafter(np.float32(0.1), np.float32(1))), float(np.nextafter(np.float32(0.1), np.float32(-1))),
         0.30000001192092896, 0.7, -0.45, 1e-8, -1e-8]
OPS = ["<", "<=", ">", ">=", "==", "!="]


def _neighbours(c: float) -> list[float]:
    f = np.float32(c)
    out = [f]
    for direction in (np.float32(2), np.float32(-2)):
        x = f
        for _ in range(2):
            x = np.nextafter(x, direction)
            out.append(x)
    return [float(x) for x in out if -1 <= x <= 1]


def test_no_safe_tree_is_broken_at_a_float32_point(tmp_path: Path) -> None:
    rng = random.Random(2026)

    def const() -> float:
        return rng.choice(NASTY) if rng.random() < 0.8 else round(rng.uniform(-1, 1), rng.choice([1, 2, 7]))

    def tree(depth: int) -> object:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(["left", "right"])
        return (rng.choice(["a", "b"]), rng.choice(OPS), const(), tree(depth - 1), tree(depth - 1))

    def emit(t: object, ind: int, out: list[str], consts: list[float]) -> None:
        if isinstance(t, str):
            out.append(" " * ind + f"push = {t}")
            return
        o, op, c, left, right = t  # type: ignore[misc]
        consts.append(c)
        out.append(" " * ind + f"if {o} {op} {c!r} {{")
        emit(left, ind + 2, out, consts)
        out.append(" " * ind + "} else {")
        emit(right, ind + 2, out, consts)
        out.append(" " * ind + "}")

    verdicts = {"SAFE": 0, "UNSAFE": 0}
    for case in range(300):
        body: list[str] = []
        c1, c2 = const(), const()
        consts = [c1, c2]
        emit(tree(3), 0, body, consts)
        program = parse_policy("policy adv\nobs a: float32 in [-1, 1]\nobs b: float32 in [-1, 1]\n"
                               "act push: discrete {left = 0, right = 1}\n\n" + "\n".join(body) + "\n", "adv.pol")
        spec_path = tmp_path / f"s{case}.yaml"
        spec_path.write_text(
            "spec: adv\nobservations:\n  a: [-1, 1]\n  b: [-1, 1]\nproperties:\n  - id: p\n    kind: invariant\n"
            f"    when: a {rng.choice(OPS)} {c1!r} {rng.choice(['and', 'or'])} b {rng.choice(OPS)} {c2!r}\n"
            f"    require: push == {rng.choice(['left', 'right'])}\n")
        spec = load_spec(spec_path)
        verdict = verify_policy(program, spec).verdict
        verdicts[verdict.value] = verdicts.get(verdict.value, 0) + 1
        if verdict is not Verdict.SAFE:
            continue
        values = sorted({v for c in consts for v in _neighbours(c)} | {-1.0, 1.0})
        points = list(itertools.product(values, values))
        points += [(float(np.float32(rng.uniform(-1, 1))), float(np.float32(rng.uniform(-1, 1)))) for _ in range(100)]
        policy, monitor = ProgramPolicy(program), ViolationMonitor(spec, program)
        for a, b in points:
            obs = np.array([a, b], dtype=np.float32)
            monitor.reset(obs)
            assert not monitor.step(policy.act(obs), obs), f"wrong SAFE at a={a!r}, b={b!r}:\n" + "\n".join(body)
    # both verdicts occur often enough for the check to mean something
    assert verdicts["SAFE"] >= 60 and verdicts["UNSAFE"] >= 60, verdicts
