"""`saferl verify` checks the closed-loop properties of a spec too: a spec whose properties
are all closed-loop is never a vacuous SAFE."""

from __future__ import annotations

import io
from pathlib import Path

from saferl.cli import run
from saferl.policy import load_policy
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import VerifyOptions, verify_policy

ROOT = Path(__file__).resolve().parents[2]


def test_verify_policy_includes_closed_loop_properties() -> None:
    spec = load_spec(ROOT / "specs/closedloop/cartpole.yaml")
    result = verify_policy(load_policy(ROOT / "policies/cartpole/worst.pol"), spec, VerifyOptions(timeout_s=5))
    assert [r.property_id for r in result.results] == [p.id for p in spec.closed_loop]
    assert result.verdict is Verdict.UNSAFE
    assert all(r.counterexample is not None and r.counterexample.replayed for r in result.results)


def test_cli_verify_exit_code_on_a_closed_loop_spec() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["verify", str(ROOT / "policies/cartpole/worst.pol"), "--spec", str(ROOT / "specs/closedloop/cartpole.yaml"),
                "--timeout", "5", "--format", "json"], out, err)
    assert code == 1, err.getvalue()
    assert '"verdict": "UNSAFE"' in out.getvalue()
