"""Races over tracks x seeds (saferl.envs.torcs.race, bench/torcs_race.py) in real TORCS."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saferl.envs.torcs.race import (
    PERTURB_MAX_STEPS,
    RaceResult,
    format_propel_table,
    perturbation,
    race_policy,
    summarize,
)
from saferl.policy import load_policy
from saferl.policy.evaluate import ProgramPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torcs_support import live_torcs_children, needs_torcs  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_perturbations_are_seeded_and_bounded() -> None:
    for seed in range(20):
        opening = perturbation(seed)
        assert opening == perturbation(seed)
        assert 1 <= len(opening) <= PERTURB_MAX_STEPS
        assert all(-0.2 <= s <= 0.2 and 0 <= a <= 1 and b == 0 for s, a, b in opening)
    assert perturbation(0) != perturbation(1)


def test_summary_and_table_follow_propel() -> None:
    def race(seed: int, laps: tuple[float, ...], crashed: bool) -> RaceResult:
        return RaceResult("aalborg", seed, laps, crashed, 0.0, 0, 0.0)

    rows = summarize([race(0, (120.0, 110.0), False), race(1, (115.0,), True), race(2, (130.0, 125.0), False)])
    (row,) = rows
    assert row.median_best_lap_s == 125.0 and row.crash_ratio == pytest.approx(1 / 3)
    text = format_propel_table({"p.pol": rows})
    assert text.splitlines()[0] == "| policy | Aalborg |"
    assert "| PROPEL-Prog (paper) | 147.28 / 0.12 |" in text
    assert text.splitlines()[-1] == "| p.pol | 125.00 / 0.33 |"
    crashed = summarize([race(0, (), True), race(1, (), True), race(2, (100.0,), False)])
    assert math.isinf(crashed[0].median_best_lap_s)
    assert format_propel_table({"q": crashed}, reference=False).splitlines()[-1] == "| q | crash / 0.67 |"


@needs_torcs
def test_seeds_perturb_the_start_and_no_torcs_outlives_a_race() -> None:
    policy = ProgramPolicy(load_policy(ROOT / "policies/torcs/propel_prog.pol"))
    plain = [race_policy(policy, "aalborg", seed=None, max_steps=150) for _ in range(2)]
    # real TORCS is deterministic: the unperturbed race repeats bit for bit
    assert plain[0].dist_raced == plain[1].dist_raced and plain[0].steps == 150
    seeded = [race_policy(policy, "aalborg", seed=s, max_steps=150) for s in (0, 1)]
    assert len({plain[0].dist_raced, seeded[0].dist_raced, seeded[1].dist_raced}) == 3
    assert not any(r.crashed for r in plain + seeded)
    assert not live_torcs_children()

    class Failing:
        def __init__(self) -> None:
            self.steps = 0

        def act(self, obs: np.ndarray) -> np.ndarray:
            self.steps += 1
            if self.steps > 10:
                raise RuntimeError("the policy failed")
            return np.array([0.0, 0.5, 0.0])

    with pytest.raises(RuntimeError, match="the policy failed"):
        race_policy(Failing(), "aalborg", seed=3)
    assert not live_torcs_children()


@needs_torcs
def test_bench_prints_propel_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "race.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench/torcs_race.py"), str(ROOT / "policies/torcs/propel_prog.pol"),
         "--seeds", "2", "--laps", "1", "--tracks", "aalborg", "--max-steps", "200", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == "| policy | Aalborg |"
    assert lines[-2].endswith("propel_prog.pol | no lap / 0.00 |")
    report = json.loads(out.read_text())
    (pol,) = report["policies"]
    (track,) = pol["tracks"]
    assert track["track"] == "aalborg" and track["crash_ratio"] == 0.0
    assert [r["seed"] for r in track["races"]] == [0, 1] and all(r["steps"] == 200 for r in track["races"])
    assert pol["steps"] == 400 and pol["cpu_s"] > 0
