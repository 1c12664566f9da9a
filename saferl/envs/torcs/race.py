"""Race a policy in real TORCS: lap times, crashes, and seeded start perturbations.

Real TORCS is deterministic (the same actions give the same race, bit for bit), so the
TORCS race seed alone gives five identical races.  A *seed* here is a start
perturbation instead: seed ``s`` draws, from ``numpy.random.default_rng(s)``, a number of
opening steps ``n`` in ``[1, PERTURB_MAX_STEPS]`` and for each of them a random action
(steer uniform in ``[-0.2, 0.2]``, throttle uniform in ``[0, 1]``, no brake); the policy
drives from step ``n + 1`` on, from its initial (zero) controller state.  The car
therefore starts the policy's part of the race at a slightly different speed, heading and
lateral position for every seed, and the races diverge from there.

Example:
    result = race_policy(policy, "g-track-2", laps=3, seed=0)
    result.best_lap_s, result.crashed
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "PERTURB_MAX_STEPS", "PROPEL_TRACKS", "PROPEL_TABLE", "RaceResult", "TrackSummary",
    "race_policy", "perturbation", "summarize", "format_propel_table",
]

#: PROPEL's five tracks (TORCS names) and the names its table gives them
PROPEL_TRACKS = {"g-track-2": "G-Track", "eroad": "E-Road", "aalborg": "Aalborg",
                 "ruudskogen": "Ruudskogen", "alpine-2": "Alpine-2"}
#: PROPEL's Table 1 (25 seeds): median best lap (s; None = crash) and crash ratio per track
PROPEL_TABLE: dict[str, dict[str, tuple[float | None, float]]] = {
    "PROPEL-Prog": {"g-track-2": (93.67, 0.04), "eroad": (119.17, 0.04), "aalborg": (147.28, 0.12),
                    "ruudskogen": (124.58, 0.16), "alpine-2": (256.59, 0.16)},
    "PROPEL-Tree": {"g-track-2": (78.33, 0.04), "eroad": (79.39, 0.04), "aalborg": (109.83, 0.16),
                    "ruudskogen": (118.80, 0.24), "alpine-2": (236.01, 0.36)},
    "DDPG": {"g-track-2": (78.82, 0.24), "eroad": (89.71, 0.28), "aalborg": (101.06, 0.40),
             "ruudskogen": (None, 1.0), "alpine-2": (None, 1.0)},
}

#: the longest random opening (steps of 20 ms) a seed draws
PERTURB_MAX_STEPS = 50


class _Driver(Protocol):
    def act(self, obs: Any) -> Any: ...


@dataclass(frozen=True)
class RaceResult:
    """One race: completed lap times (s), whether it crashed, distance (m), steps, wall time."""

    track: str
    seed: int | None
    lap_times: tuple[float, ...]
    crashed: bool
    dist_raced: float
    steps: int
    wall_s: float

    @property
    def best_lap_s(self) -> float:
        """The best completed lap, ``inf`` after a crash or with no lap (PROPEL's metric)."""
        if self.crashed or not self.lap_times:
            return math.inf
        return min(self.lap_times)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (``best_lap_s`` is ``None`` for ``inf``)."""
        best = self.best_lap_s
        return {
            "track": self.track, "seed": self.seed, "lap_times": list(self.lap_times),
            "best_lap_s": None if math.isinf(best) else best, "crashed": self.crashed,
            "dist_raced": self.dist_raced, "steps": self.steps, "wall_s": self.wall_s,
        }


def perturbation(seed: int) -> list[tuple[float, float, float]]:
    """The opening actions of seed ``seed`` (``[steer, accel, brake]`` per step)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, PERTURB_MAX_STEPS + 1))
    return [(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(0.0, 1.0)), 0.0) for _ in range(n)]


def race_policy(
    policy: _Driver, track: str, *, laps: int = 1, seed: int | None = None,
    max_steps: int | None = None, timeout_s: float = 10.0,
) -> RaceResult:
    """Race ``policy`` (``act(obs)``; ``reset()`` first if it has one) for ``laps`` laps on ``track``.

    ``seed=None`` races from the grid with no perturbation.  ``max_steps`` truncates the
    race (default: 15,000 steps, five simulated minutes, per lap).  TORCS is killed when the
    race ends, whatever happens.
    """
    import numpy as np

    from saferl.envs.torcs.env import TorcsEnv

    limit = max_steps if max_steps is not None else 15000 * laps
    opening = perturbation(seed) if seed is not None else []
    env = TorcsEnv(track=track, laps=laps, max_steps=limit, timeout_s=timeout_s)
    start = time.perf_counter()
    steps = 0
    try:
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset()
        obs, info = env.reset()
        done = False
        for action in opening:
            obs, _, terminated, truncated, info = env.step(np.asarray(action, dtype=np.float32))
            steps += 1
            if terminated or truncated:
                done = True
                break
        while not done:
            obs, _, terminated, truncated, info = env.step(np.asarray(policy.act(obs), dtype=np.float32))
            steps += 1
            done = terminated or truncated
    finally:
        env.close()
    return RaceResult(
        track=track, seed=seed, lap_times=tuple(float(t) for t in info["lap_times"]),
        crashed=bool(info["crashed"]), dist_raced=float(info["dist_raced"]), steps=steps,
        wall_s=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class TrackSummary:
    """PROPEL's figures for one track: the median over seeds of the best lap (``inf`` when
    at least half the races crashed or completed no lap) and the share of races that
    crashed (a race cut short by ``max_steps`` without a crash is not one)."""

    track: str
    median_best_lap_s: float
    crash_ratio: float
    races: tuple[RaceResult, ...]

    def to_record(self) -> dict[str, Any]:
        best = self.median_best_lap_s
        return {"track": self.track, "median_best_lap_s": None if math.isinf(best) else best,
                "crash_ratio": self.crash_ratio, "races": [r.to_record() for r in self.races]}


def summarize(results: list[RaceResult]) -> list[TrackSummary]:
    """Group races by track (first-seen order) into :class:`TrackSummary` rows."""
    import statistics

    tracks: dict[str, list[RaceResult]] = {}
    for r in results:
        tracks.setdefault(r.track, []).append(r)
    out = []
    for track, races in tracks.items():
        best = [r.best_lap_s for r in races]
        crashes = sum(1 for r in races if r.crashed)
        out.append(TrackSummary(track, statistics.median(best), crashes / len(races), tuple(races)))
    return out


def _cell(best: float | None, ratio: float) -> str:
    if best is None or math.isinf(best):
        lap = "crash" if ratio >= 0.5 else "no lap"
    else:
        lap = f"{best:.2f}"
    return f"{lap} / {ratio:.2f}"


def format_propel_table(rows: dict[str, list[TrackSummary]], *, reference: bool = True) -> str:
    """A Markdown table in PROPEL's format (best lap s / crash ratio per track), one row
    per policy, PROPEL's own rows first when ``reference``."""
    tracks: list[str] = []
    for summaries in rows.values():
        for t in summaries:
            if t.track not in tracks:
                tracks.append(t.track)
    head = "| policy | " + " | ".join(PROPEL_TRACKS.get(t, t) for t in tracks) + " |"
    lines = [head, "|---" * (len(tracks) + 1) + "|"]
    if reference:
        for name, table in PROPEL_TABLE.items():
            cells = [_cell(*table[t]) if t in table else "-" for t in tracks]
            lines.append(f"| {name} (paper) | " + " | ".join(cells) + " |")
    for name, summaries in rows.items():
        by = {t.track: t for t in summaries}
        cells = [_cell(by[t].median_best_lap_s, by[t].crash_ratio) if t in by else "-" for t in tracks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
