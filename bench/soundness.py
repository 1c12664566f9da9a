"""Soundness and cost of float64 modelling (issue: soundness hardening).

1. The adversarial corpus (tests/smt/float_corpus.py): N random arithmetic programs × specs
   per solver.  A SAFE verdict is checked by an independent z3 floating-point encoding of
   the generator's own trees (a violation it finds is a *wrong SAFE*); an UNSAFE verdict's
   counterexample is re-evaluated by the generator's own Python evaluation (one that does
   not violate is a *bogus UNSAFE*).
2. The shipped examples: solver time per property with the sound float64 model against the
   plain real model (the semantics before), side by side in one run, median of 5.

Prints a table and JSON.  ``python bench/soundness.py [N]`` (default N = 1000).
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "smt"))

from float_corpus import gen_case, ground_truth, violated  # noqa: E402

from saferl.errors import SaferlError  # noqa: E402
from saferl.policy import load_policy, parse_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.smt.encode import ProgramEncoder  # noqa: E402
from saferl.smt.props import encode_property  # noqa: E402
from saferl.smt.solve import solve  # noqa: E402
from saferl.spec import load_spec, parse_spec  # noqa: E402
from saferl.spec.bind import bind_spec  # noqa: E402
from saferl.verify import VerifyOptions, verify_policy  # noqa: E402

SHIPPED = [
    ("policies/torcs/propel_prog.pol", "specs/torcs/smooth.yaml"),
    ("policies/cartpole/near_optimal.pol", "specs/cartpole/pole_follow.yaml"),
    ("policies/cartpole/worst.pol", "specs/cartpole/pole_follow.yaml"),
    ("policies/mountaincar/bang_bang.pol", "specs/mountaincar/momentum.yaml"),
]


def cpu_now() -> float:
    """CPU seconds (user + sys) of this process and of its finished children (the
    bit-precise stage runs in forked, time-limited children)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def corpus(solver: str, n: int, first_seed: int) -> dict[str, object]:
    counts = {k: 0 for k in ("cases", "safe", "unsafe", "unknown", "rejected", "wrong_safe", "bogus_unsafe", "truth_unknown")}
    bad: list[int] = []
    cpu0 = cpu_now()
    wall0 = time.perf_counter()
    for seed in range(first_seed, first_seed + n):
        case = gen_case(seed)
        counts["cases"] += 1
        try:
            program, spec = parse_policy(case.policy), parse_spec(case.spec)
        except SaferlError:
            counts["rejected"] += 1
            continue
        r = verify_policy(program, spec, VerifyOptions(solver=solver, timeout_s=2.0)).results[0]
        if r.verdict is Verdict.SAFE:
            counts["safe"] += 1
            truth = ground_truth(case, timeout_s=5.0)
            counts["truth_unknown"] += truth == "unknown"
            if truth == "unsafe":
                counts["wrong_safe"] += 1
                bad.append(seed)
        elif r.verdict is Verdict.UNSAFE:
            counts["unsafe"] += 1
            assert r.counterexample is not None
            if not violated(case, r.counterexample.steps[-1].observations):
                counts["bogus_unsafe"] += 1
                bad.append(seed)
        else:
            counts["unknown"] += 1
    return {
        "solver": solver, **counts, "bad_seeds": bad,
        "cpu_s": round(cpu_now() - cpu0, 1), "wall_s": round(time.perf_counter() - wall0, 1),
    }


def shipped() -> list[dict[str, object]]:
    rows = []
    for pol, spec_path in SHIPPED:
        program, spec = load_policy(ROOT / pol), load_spec(ROOT / spec_path)
        binding = bind_spec(spec, program)
        for prop in spec.properties:
            sound, real = [], []
            for _ in range(5):
                for rounding, out in ((True, sound), (False, real)):
                    formula, frame = encode_property(prop, spec, binding, ProgramEncoder(program, rounding=rounding))
                    outcome = solve(formula, frame.free_symbols(), "z3", 30.0)
                    out.append(outcome.time_s)
            verdict = verify_policy(program, spec).results[[p.id for p in spec.properties].index(prop.id)]
            rows.append({
                "policy": Path(pol).name, "property": prop.id, "verdict": verdict.verdict.value,
                "solver_s_float64": round(statistics.median(sound), 4), "solver_s_reals": round(statistics.median(real), 4),
            })
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = [corpus("z3", n, 0), corpus("cvc5", n, 100_000)]
    ship = shipped()
    print(f"{'solver':<6} {'cases':>6} {'SAFE':>5} {'UNSAFE':>6} {'UNKNOWN':>7} {'rejected':>8} {'wrong SAFE':>10} {'bogus UNSAFE':>12} {'CPU s':>7}")
    for r in runs:
        print(f"{r['solver']:<6} {r['cases']:>6} {r['safe']:>5} {r['unsafe']:>6} {r['unknown']:>7} {r['rejected']:>8} "
              f"{r['wrong_safe']:>10} {r['bogus_unsafe']:>12} {r['cpu_s']:>7}")
    print()
    print(f"{'policy':<20} {'property':<18} {'verdict':<8} {'float64 s':>10} {'reals s':>8}")
    for row in ship:
        print(f"{row['policy']:<20} {row['property']:<18} {row['verdict']:<8} {row['solver_s_float64']:>10} {row['solver_s_reals']:>8}")
    print(json.dumps({"corpus": runs, "shipped": ship}))


if __name__ == "__main__":
    main()
