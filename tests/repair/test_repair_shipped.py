"""Every shipped policy that its directory's spec finds UNSAFE is repaired and re-verified.

Pairs are discovered (``policies/<family>/*.pol`` with ``specs/<family>/*.yaml``), so a new
UNSAFE example is covered as soon as it is committed.  The few pairs in ``HARD`` must give
an honest answer within a short budget (repaired and proved, or not repaired with what was
tried) instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saferl.errors import SaferlError
from saferl.policy import load_policy, parse_policy
from saferl.policy.ast import Program
from saferl.results import Verdict
from saferl.spec import load_spec
from saferl.verify import VerifyOptions, verify_policy

ROOT = Path(__file__).resolve().parents[2]

#: pairs whose repair exists but is found only late in the search, by a path that depends
#: on where the wall clock cuts the slowest solver calls (see docs/repair.md,
#: "Determinism"): held to an honest answer within a short budget instead
HARD = {
    # its repair (a split on trackPos whose branch no state takes) is found in 39 s alone on
    # this machine, in its own process, but took 237 s of its 360 s in the suite's CI run of
    # 2026-11-30: its bisections on the clipped PID terms run at 0.2-0.3 M z3 steps per
    # second, so the 4x wall cap decides its path (docs/repair.md, "Determinism")
    ("propel_prog.pol", "track.yaml"): 30.0,
    # the only repair found so far splits line 43 on trackPos and moves every gain
    # (cost ~105); its bisections run at 0.1 M z3 steps per second
    ("propel_prog.pol", "track_speed.yaml"): 30.0,
    # the caps that keep it SAFE against track_speed.yaml jump with trackPos and angle, which
    # the smoothness property leaves free; its only quick repair splits line 47 on rpm at the
    # end of rpm's domain ("accel = 0" everywhere), and its parametric repair (kp 3.059 ->
    # 0.80, found with --solver-timeout 40 in 170 s) comes from optimisations at 0.2-0.3 M
    # z3 steps per second, where the wall clock still decides
    ("propel_careful.pol", "smooth.yaml"): 30.0,
}


def _pairs() -> list[tuple[Path, Path]]:
    out = []
    for pol in sorted((ROOT / "policies").glob("*/*.pol")):
        for spec in sorted((ROOT / "specs" / pol.parent.name).glob("*.yaml")):
            out.append((pol, spec))
    return out


@pytest.mark.parametrize("pol, spec", _pairs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_unsafe_examples_are_repaired(pol: Path, spec: Path, tmp_path: Path) -> None:
    try:
        program = load_policy(pol)
        spec_obj = load_spec(spec)
        if not isinstance(program, Program):
            pytest.skip("gridworld programs are certified, not repaired")
        verdict = verify_policy(program, spec_obj, VerifyOptions(timeout_s=10)).verdict
    except SaferlError as exc:  # a spec written for another policy of the family
        pytest.skip(f"pair does not bind: {exc}")
    if verdict is not Verdict.UNSAFE:
        pytest.skip(f"{verdict.value}: nothing to repair")
    hard = HARD.get((pol.name, spec.name))
    budget = 360.0 if hard is None else hard
    # a repair as a user runs it: `saferl repair` in a process of its own, so what earlier
    # tests left in the process (z3's global context, pySMT's node numbers) cannot change
    # the search's path (a generous budget: the TORCS programs' repairs take 25-140 s on a
    # loaded 2-core machine, and a budget that ends first would read as a failure here)
    out = Path(tmp_path) / "repaired.pol"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "saferl", "repair", str(pol), "--spec", str(spec), "-o", str(out),
         "--timeout", str(budget), "--format", "json", "--quiet"],
        capture_output=True, text=True, timeout=budget * 1.5 + 60, cwd=ROOT,
    )
    elapsed = time.perf_counter() - t0
    assert proc.stdout.strip(), proc.stderr
    result = json.loads(proc.stdout)
    if hard is not None:
        assert elapsed <= 1.1 * hard + 5.0  # the budget holds (+ the process's start-up)
        assert result["status"] in ("repaired", "not-repaired"), result["reason"]
        if result["status"] == "not-repaired":
            assert "budget exhausted" in result["reason"] and result["attempts"], result["reason"]
            return
    assert result["status"] == "repaired", result["reason"]
    assert verify_policy(parse_policy(out.read_text()), spec_obj).verdict is Verdict.SAFE
