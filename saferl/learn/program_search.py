"""Search a program's parameters by real rollouts, every candidate verified before it counts.

PROPEL's programs are templates with numeric parameters (gains, targets, thresholds).
:func:`search_parameters` tunes chosen parameters of a .pol program with the
cross-entropy method — the engine of :func:`saferl.learn.tune.cross_entropy_search`, here
in gate-first mode: each round samples candidates around the current mean (a Gaussian
relative to each value), *verifies* each against the specs (:func:`verify_gate`: every
property SAFE, else the candidate is discarded without a rollout), scores the verified ones
with a cost function (lower is better; :func:`torcs_lap_cost` races them in real TORCS),
and moves the mean to the best few.  The best verified candidate is returned, so the result
is always a proved program (or the start program, if nothing better was found).

Example:
    gate = verify_gate([load_spec("specs/torcs/track.yaml"), load_spec("specs/torcs/smooth.yaml")])
    cost = torcs_lap_cost(["aalborg", "g-track-2"])
    result = search_parameters(program, tunable_parameters(program), cost, gate, SearchOptions())
    print(format_policy(result.best.program))

No torch: this module imports numpy and the verifier only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from saferl.errors import InputError
from saferl.policy.ast import Program

__all__ = [
    "SearchOptions", "Candidate", "SearchResult", "search_parameters", "tunable_parameters",
    "verify_gate", "torcs_lap_cost", "cpu_seconds", "CRASH_COST_S",
]

#: the cost of a track the car did not finish: this minus half of it times the share covered
CRASH_COST_S = 1000.0

CostFn = Callable[[Program], tuple[float, dict[str, Any]]]
GateFn = Callable[[Program], tuple[bool, str]]


@dataclass(frozen=True)
class SearchOptions:
    """How to search.

    ``iterations`` rounds of ``population`` candidates; the ``elite`` best verified ones
    (the best so far included) set the next mean and spread.  ``sigma`` is the initial
    spread relative to each parameter's magnitude, never below ``min_sigma`` of it.
    ``digits`` significant digits are kept per value (the printed program stays
    readable).  ``budget_s`` stops the search after that much wall time.
    """

    iterations: int = 8
    population: int = 8
    elite: int = 3
    sigma: float = 0.15
    min_sigma: float = 0.02
    seed: int = 0
    digits: int = 4
    budget_s: float | None = None

    def __post_init__(self) -> None:
        if self.iterations < 1 or self.population < 1 or self.elite < 1:
            raise InputError("iterations, population and elite must be at least 1")
        if not (self.sigma > 0 and self.min_sigma >= 0):
            raise InputError("sigma must be positive and min_sigma non-negative")


@dataclass(frozen=True)
class Candidate:
    """One evaluated candidate: its values, program, whether it verified, cost and details."""

    index: int
    values: dict[int, float]
    program: Program
    verified: bool
    cost: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """The best verified candidate and every candidate in order; ``wall_s`` and CPU seconds."""

    best: Candidate
    candidates: tuple[Candidate, ...]
    wall_s: float
    cpu_s: float


def tunable_parameters(program: Program) -> list[int]:
    """Default parameters to tune: every non-zero constant except ``±1`` and the bounds of
    ``clip`` / ``min`` / ``max`` calls' constant arguments (ranges, caps)."""
    from saferl.policy.ast import Call, Num, walk

    fixed: set[int] = set()
    for node in walk(program.body):
        if isinstance(node, Call) and node.func in ("clip", "min", "max"):
            for arg in node.args:
                if isinstance(arg, Num):
                    fixed.add(id(arg))
    return [
        p.id for p in program.parameters()
        if p.value not in (0.0, 1.0, -1.0) and id(p.node) not in fixed and p.kind != "leaf"
    ]


def verify_gate(specs: Sequence[Any], timeout_s: float = 10.0) -> GateFn:
    """A gate that passes a program only when every property of every spec is SAFE."""
    from saferl.results import Verdict
    from saferl.verify import VerifyOptions, verify_policy

    def gate(program: Program) -> tuple[bool, str]:
        for spec in specs:
            result = verify_policy(program, spec, VerifyOptions(timeout_s=timeout_s))
            if result.verdict is not Verdict.SAFE:
                failed = [r.property_id for r in result.results if r.verdict is not Verdict.SAFE]
                return False, f"{spec.name}: {result.verdict.value} ({', '.join(failed)})"
        return True, "SAFE"

    return gate


def torcs_lap_cost(
    tracks: Sequence[str], laps: int = 1, seeds: Sequence[int | None] = (None,),
    stop_on_crash: bool = True, max_steps: int | None = None,
) -> CostFn:
    """Cost of a program in real TORCS: the sum over ``tracks`` of the mean over ``seeds``
    (start perturbations, :func:`saferl.envs.torcs.race.race_policy`; ``None`` = none) of
    the race time (s) of ``laps`` laps, a race not finished costing
    ``CRASH_COST_S * (1 - share covered / 2)``.

    With ``stop_on_crash`` the tracks after the first crash are not raced and cost
    ``CRASH_COST_S`` each (put the hardest track first).  ``max_steps`` cuts every race
    short (a race cut short costs like a crash at the distance reached).  ``detail`` maps
    each track to the list of its races' records (``None`` when skipped).
    """
    from saferl.envs.torcs.geometry import load_track
    from saferl.envs.torcs.race import race_policy
    from saferl.policy.evaluate import ProgramPolicy

    if not seeds:
        raise InputError("torcs_lap_cost needs at least one seed (None: no start perturbation)")
    lengths = {t: load_track(t).length for t in tracks}

    def cost(program: Program) -> tuple[float, dict[str, Any]]:
        total, crashed = 0.0, False
        detail: dict[str, Any] = {}
        for track in tracks:
            if crashed and stop_on_crash:
                total += CRASH_COST_S
                detail[track] = None
                continue
            races = []
            for seed in seeds:
                result = race_policy(ProgramPolicy(program), track, laps=laps, seed=seed, max_steps=max_steps)
                if len(result.lap_times) >= laps and not result.crashed:
                    total += sum(result.lap_times) / len(seeds)
                else:
                    crashed = True
                    share = min(max(result.dist_raced / (lengths[track] * laps), 0.0), 1.0)
                    total += CRASH_COST_S * (1.0 - share / 2.0) / len(seeds)
                races.append(result.to_record())
            detail[track] = races
        return total, detail

    return cost


def search_parameters(
    program: Program, parameters: Sequence[int], cost: CostFn, gate: GateFn,
    options: SearchOptions | None = None,
    on_candidate: Callable[[Candidate], None] | None = None,
) -> SearchResult:
    """Cross-entropy search over ``parameters`` (ids of :meth:`Program.parameters`).

    The engine of :func:`saferl.learn.tune.cross_entropy_search` in gate-first mode, with
    ``-cost`` as its score: each candidate passes ``gate`` before ``cost`` races it.  The
    start program is checked first and must pass (a search from an unproved program would
    have nothing to fall back on); it is raced and competes.  No coordinate sweeps, no
    restarts, no validation races: the result is the verified candidate of least cost.
    """
    from saferl.learn.tune import SearchHooks, TuneConfig, cross_entropy_search
    from saferl.policy import policy_digest

    opts = options or SearchOptions()
    by_id = {p.id: p for p in program.parameters()}
    unknown = [i for i in parameters if i not in by_id]
    if unknown:
        raise InputError(f"no parameter with id {unknown[0]} (the program has {len(by_id)})")
    if not parameters:
        raise InputError("no parameters to tune")
    ids = list(dict.fromkeys(parameters))
    ok, why = gate(program)
    if not ok:
        raise InputError(f"the start program does not verify: {why}")
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    candidates: list[Candidate] = []
    details: dict[int, dict[str, Any]] = {}
    reasons: dict[str, str] = {}

    def score(prog: Program) -> float:
        c, detail = cost(prog)
        details[id(prog)] = detail
        return -c

    def is_safe(prog: Program) -> bool:
        passed, reason = gate(prog)
        if not passed:
            reasons[policy_digest(prog)] = reason
        return passed

    def record(prog: Program, value: float, verdict: bool | None) -> None:
        by = {p.id: p.value for p in prog.parameters()}
        verified = verdict is not False
        detail = details.pop(id(prog), None) if verified else {"rejected": reasons.get(policy_digest(prog), "not proved")}
        cand = Candidate(len(candidates), {i: by[i] for i in ids}, prog, verified,
                         -value if verified else math.inf, detail or {})
        candidates.append(cand)
        if on_candidate is not None:
            on_candidate(cand)

    config = TuneConfig(generations=opts.iterations, population=opts.population, elites=opts.elite,
                        init_std=opts.sigma, min_std=opts.min_sigma, restart_below=0.0,
                        verify_per_generation=opts.population, sweep_points=0, final_checks=0,
                        budget_s=opts.budget_s, seed=opts.seed, gate_first=True, digits=opts.digits)
    params = [by_id[i] for i in ids]
    cross_entropy_search(program, params, SearchHooks(score, is_safe, on_candidate=record), config,
                         scales=[max(abs(p.value), 1e-3) for p in params], policy_path=program.name)
    best = min((c for c in candidates if c.verified), key=lambda c: (c.cost, c.index))
    return SearchResult(best, tuple(candidates), time.perf_counter() - wall0, cpu_seconds() - cpu0)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (the TORCS races)."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
