"""Soundness of float64 arithmetic: a random corpus of arithmetic programs × specs
(tests/smt/float_corpus.py) checked against an independent IEEE ground truth.

* a SAFE verdict is checked by an independent z3 floating-point encoding built from the
  generator's own trees: it must not find a violation (0 wrong SAFE);
* an UNSAFE verdict's counterexample is re-evaluated by the generator's own Python
  evaluation: it must violate the property (0 bogus UNSAFE);
* UNKNOWN is allowed (a proof that did not fit the time limit) and counted.

``SAFERL_FLOAT_CASES`` sets the number of cases (default 150 on z3 and 50 on cvc5 here;
``python bench/soundness.py`` runs 1,000 per solver and prints the figures).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from float_corpus import gen_case, ground_truth, violated  # noqa: E402

from saferl.errors import SaferlError  # noqa: E402
from saferl.policy import parse_policy  # noqa: E402
from saferl.results import Verdict  # noqa: E402
from saferl.spec import parse_spec  # noqa: E402
from saferl.verify import VerifyOptions, verify_policy  # noqa: E402

CASES = int(os.environ.get("SAFERL_FLOAT_CASES", "150"))


def run_corpus(solver: str, n: int, first_seed: int = 0, timeout_s: float = 2.0) -> dict[str, list[int]]:
    """Verify ``n`` cases; seeds by outcome (wrong-safe, bogus-unsafe, safe, unsafe, unknown, rejected)."""
    out: dict[str, list[int]] = {k: [] for k in ("wrong-safe", "bogus-unsafe", "safe", "unsafe", "unknown", "rejected")}
    for seed in range(first_seed, first_seed + n):
        case = gen_case(seed)
        try:
            program, spec = parse_policy(case.policy), parse_spec(case.spec)
        except SaferlError:
            out["rejected"].append(seed)  # e.g. a constant the spec grammar bounds
            continue
        result = verify_policy(program, spec, VerifyOptions(solver=solver, timeout_s=timeout_s)).results[0]
        if result.verdict is Verdict.SAFE:
            out["safe"].append(seed)
            if ground_truth(case, timeout_s=3.0) == "unsafe":
                out["wrong-safe"].append(seed)
        elif result.verdict is Verdict.UNSAFE:
            out["unsafe"].append(seed)
            assert result.counterexample is not None
            if not violated(case, result.counterexample.steps[-1].observations):
                out["bogus-unsafe"].append(seed)
        else:
            out["unknown"].append(seed)
    return out


@pytest.mark.parametrize(("solver", "n"), [("z3", CASES), ("cvc5", max(1, CASES // 3))])
def test_no_wrong_safe_and_no_bogus_unsafe(solver: str, n: int) -> None:
    out = run_corpus(solver, n, first_seed=0 if solver == "z3" else 100_000)
    assert out["wrong-safe"] == [], f"wrong SAFE on seeds {out['wrong-safe']}"
    assert out["bogus-unsafe"] == [], f"bogus UNSAFE on seeds {out['bogus-unsafe']}"
    decided = len(out["safe"]) + len(out["unsafe"])
    # the corpus exercises both verdicts, and undecided cases stay the exception
    assert out["safe"] and out["unsafe"]
    assert len(out["unknown"]) <= 0.15 * (decided + len(out["unknown"]))
