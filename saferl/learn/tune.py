"""Tune a program's constants for return, keeping only programs the verifier proves SAFE.

:func:`tune_program` is a cross-entropy search in the space of a program's numeric
constants — thresholds, continuous leaf values, pid gains and targets, coefficients — with
the program's structure fixed.  Each generation samples candidates around the current
mean, scores them by the mean return of the same seeded episodes (common random numbers,
so two candidates are compared on the same starts), and moves the mean to the elites.
**Only verified candidates can be elites**: the candidates are checked against the spec in
order of return (:func:`saferl.verify.verify_policy`, results cached by digest) and an
unproved one is dropped, so the search stays inside the set of SAFE programs — the
projection of PROPEL's mirror descent, with the verifier as the constraint.

The engine, :func:`cross_entropy_search`, is shared: its scorer and gate are hooks
(:class:`SearchHooks`).  ``tune_program`` scores episode returns on a gymnasium env;
:mod:`saferl.learn.program_search` scores real TORCS laps, with ``gate_first`` (every
candidate proved before it races).

Closed-loop properties (``safety`` / ``reach`` over a dynamics model) take seconds to
prove, so they are checked once at the end, best candidate first, on at most
``final_checks`` candidates that passed the open-loop properties.

A cross-entropy search follows one basin of a return landscape that is only piecewise
smooth (one more swing, one branch switched off), so the search also sweeps each parameter
alone across its whole range — at the start and whenever the sampler has converged, before
it restarts around the best program.

The result is chosen among the best candidates by training score by their mean return on
fresh validation episodes (a program tuned on a few starts can be brittle on others); the
start competes, so a brittle improvement never replaces it.

The start must itself be SAFE (the loop calls this after verify / repair); the result is
the best-scoring SAFE program seen, which is the start when nothing beats it.  Scores come
from training seeds; callers report returns on separate evaluation seeds.

Discrete leaves (labels) are not searched: their changes are structural and belong to
extraction and repair.  This module imports gymnasium (through :mod:`saferl.learn.envs`)
but not torch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from saferl.errors import InputError
from saferl.learn.envs import env_signature, make_env
from saferl.learn.evaluate import to_env_action
from saferl.policy.ast import Param, Program
from saferl.spec.load import Spec

__all__ = [
    "TuneConfig", "TuneResult", "SearchHooks", "cross_entropy_search", "parameter_scale", "tunable_parameters",
    "tune_program",
]

TUNED_KINDS = ("threshold", "leaf", "gain", "target", "constant")


@dataclass
class TuneConfig:
    """Settings of :func:`tune_program`."""

    generations: int = 20
    """search generations (0: no search, the start comes back)"""
    population: int = 16
    """candidates per generation"""
    elites: int = 4
    """verified candidates the mean moves to"""
    episodes: int = 10
    """training episodes scoring each candidate (the same seeds for all)"""
    init_std: float = 0.3
    """initial standard deviation, as a fraction of each parameter's scale"""
    min_std: float = 0.002
    """the standard deviation never falls below this fraction of the scale"""
    restart_below: float = 0.03
    """when every standard deviation is below this fraction of its scale, restart the
    search around the best program with the initial spread"""
    verify_per_generation: int = 12
    """at most this many verifier calls per generation"""
    sweep_points: int = 9
    """values per parameter of a coordinate sweep (at the start and at every restart;
    0 or 1: no sweeps)"""
    sweep_max_params: int = 24
    """a sweep visits at most this many parameters (a random subset of a large program)"""
    simulated_starts: int = 256
    """initial states simulated per closed-loop property in the first tier"""
    final_checks: int = 8
    """finalists: the best candidates by training score, scored again on validation episodes
    (and, for closed-loop properties, proved against the whole spec, best first)"""
    validation_episodes: int = 40
    """fresh episodes scoring the finalists (the result is the best by this score)"""
    budget_s: float | None = None
    """wall-clock budget of the whole search (None: none); the best so far is kept"""
    seed: int = 0
    """seed of the sampler and of the training episodes"""
    gate_first: bool = False
    """check every candidate against the spec before it is scored (a rejected one is never
    rolled out: for costly scorers such as real TORCS laps); off: candidates are scored
    first and only those that can become elites are checked, best first"""
    digits: int = 4
    """significant digits kept per value (the printed program stays readable)"""


@dataclass
class TuneResult:
    """What :func:`tune_program` found."""

    program: Program
    """the best SAFE program seen (the start when nothing beat it)"""
    start_score: float
    """mean training return of the start"""
    score: float
    """mean training return of ``program`` (its validation return is ``validation``)"""
    evaluations: int
    """candidates rolled out"""
    verifications: int
    """verifier calls (cache misses)"""
    rejected: int
    """candidates the verifier did not prove SAFE"""
    history: list[float] = field(default_factory=list)
    """best SAFE training score after each generation"""
    validation_start: float = math.nan
    """mean return of the start on the validation episodes"""
    validation: float = math.nan
    """mean return of ``program`` on the validation episodes"""
    seconds: float = 0.0


def parameter_scale(program: Program, p: Param, spec: Spec | None) -> float:
    """A natural step size for one parameter: the width it moves in (an action's range for
    a leaf, a quarter of the observed domain for a threshold, else its magnitude)."""
    if p.kind == "leaf" and p.action is not None:
        act = program.action(p.action)
        if act.low is not None and act.high is not None and act.high > act.low:
            return float(act.high - act.low)
    if p.kind == "threshold":
        from saferl.repair.space import threshold_obs

        name = threshold_obs(program).get(p.id)
        if name is not None:
            if spec is not None and name in spec.domains:
                lo, hi = spec.domains[name]
                if math.isfinite(lo) and math.isfinite(hi) and hi > lo:
                    return float(hi - lo) / 4.0
            decl = program.observation(name)
            if decl.low is not None and decl.high is not None and decl.high > decl.low:
                return float(decl.high - decl.low) / 4.0
    return max(abs(p.value), 0.1)


def tunable_parameters(program: Program) -> list[Param]:
    """The parameters :func:`tune_program` searches (numeric ones; labels excluded)."""
    out = []
    for p in program.parameters():
        if p.kind not in TUNED_KINDS:
            continue
        if p.kind == "leaf" and p.action is not None and program.action(p.action).kind == "discrete":
            continue
        out.append(p)
    return out


def _bounds(program: Program, p: Param) -> tuple[float, float]:
    if p.kind == "leaf" and p.action is not None:
        act = program.action(p.action)
        lo = -math.inf if act.low is None else float(act.low)
        hi = math.inf if act.high is None else float(act.high)
        return lo, hi
    return -math.inf, math.inf


def _episode_return(program: Program, env: Any, discrete: bool, seeds: list[int]) -> float:
    from saferl.policy.evaluate import ProgramPolicy

    policy = ProgramPolicy(program)
    total = 0.0
    for s in seeds:
        obs, _ = env.reset(seed=s)
        policy.reset()
        done = False
        while not done:
            obs, r, term, trunc, _ = env.step(to_env_action(policy.act(obs), discrete))
            total += float(r)
            done = bool(term or trunc)
    return total / len(seeds)


@dataclass
class SearchHooks:
    """What :func:`cross_entropy_search` asks of its caller: how to score and how to gate."""

    score: Callable[[Program], float]
    """training score of a candidate, higher is better (a mean return; minus a lap cost)"""
    is_safe: Callable[[Program], bool]
    """the gate: whether the candidate is proved (called once per digest: the engine caches)"""
    validate: Callable[[Program], float] | None = None
    """score of the finalists on fresh episodes (None: finalists keep their training score)"""
    final_check: Callable[[Program], bool] | None = None
    """a last, costly proof a finalist must pass before it wins (closed-loop properties)"""
    on_candidate: Callable[[Program, float, bool | None], None] | None = None
    """called after every evaluation with the candidate, its score (``-inf``: rejected by
    the gate and never scored) and its verdict (None: not checked, score-first mode)"""


def cross_entropy_search(
    program: Program,
    params: Sequence[Param],
    hooks: SearchHooks,
    config: TuneConfig,
    *,
    scales: Sequence[float],
    lows: Sequence[float] | None = None,
    highs: Sequence[float] | None = None,
    sweep_bounds: Sequence[tuple[float, float]] | None = None,
    policy_path: str = "<tuned>",
    progress: Callable[[int, int, float], None] | None = None,
) -> TuneResult:
    """The constant search shared by ``saferl tune``, the loop and ``saferl torcs search``.

    Cross-entropy over the values of ``params`` (the program's structure fixed), scored by
    ``hooks.score`` and gated by ``hooks.is_safe``; coordinate sweeps (over
    ``sweep_bounds``, infinite ends replaced by two scales around the best value) at the
    start and at every restart; finalists re-scored by ``hooks.validate`` and checked by
    ``hooks.final_check``.  ``scales`` set each parameter's spread (``init_std`` /
    ``min_std`` are fractions of them), ``lows`` / ``highs`` clip the samples.  The start
    must be proved already (it is the fallback); the result is the best proved candidate
    by validation score, the start when nothing beats it.
    """
    from saferl.policy import format_policy, parse_policy, policy_digest

    cfg = config
    t0 = time.perf_counter()
    n = len(params)
    scale = np.asarray(scales, dtype=np.float64)
    low = np.full(n, -np.inf) if lows is None else np.asarray(lows, dtype=np.float64)
    high = np.full(n, np.inf) if highs is None else np.asarray(highs, dtype=np.float64)
    bounds = list(sweep_bounds) if sweep_bounds is not None else [(-math.inf, math.inf)] * n
    start_score = hooks.score(program)
    result = TuneResult(program, start_score, start_score, 1, 0, 0, [])
    if hooks.on_candidate is not None:
        hooks.on_candidate(program, start_score, True)
    if not params or cfg.generations <= 0:
        result.seconds = time.perf_counter() - t0
        return result

    rng = np.random.default_rng(cfg.seed)
    mean = np.array([p.value for p in params], dtype=np.float64)
    std = scale * cfg.init_std
    verdicts: dict[str, bool] = {policy_digest(program): True}
    best_program, best_score = program, start_score
    best_values = {p.id: p.value for p in params}
    passed: dict[str, tuple[float, Program]] = {}

    def over_budget() -> bool:
        return cfg.budget_s is not None and time.perf_counter() - t0 > cfg.budget_s

    def candidate(values: np.ndarray) -> Program:
        # through the printer and parser, so the candidate is exactly the text we would ship
        # (values rounded to cfg.digits significant digits; the rounded text is what is
        # scored and verified)
        moved = program.with_values({p.id: float(f"{v:.{cfg.digits}g}") for p, v in zip(params, values, strict=True)})
        return parse_policy(format_policy(moved), policy_path)

    def is_safe(prog: Program) -> bool:
        key = policy_digest(prog)
        if key not in verdicts:
            verdicts[key] = bool(hooks.is_safe(prog))
            result.verifications += 1
            if not verdicts[key]:
                result.rejected += 1
        return verdicts[key]

    def evaluate(prog: Program) -> tuple[float, bool | None]:
        # gate-first: an unproved candidate is never scored
        verdict: bool | None = None
        if cfg.gate_first:
            verdict = is_safe(prog)
            if not verdict:
                if hooks.on_candidate is not None:
                    hooks.on_candidate(prog, -math.inf, False)
                return -math.inf, False
        score = hooks.score(prog)
        result.evaluations += 1
        if hooks.on_candidate is not None:
            hooks.on_candidate(prog, score, verdict)
        return score, verdict

    def sweep() -> None:
        # One coordinate sweep: each parameter alone across its whole range (the rest at
        # the best values), the best SAFE improvement kept.  CEM follows a basin; a sweep
        # crosses to another when one parameter alone leads there (a threshold moved to
        # its domain's edge switches a branch off).
        nonlocal best_program, best_score
        order = list(range(n))
        if n > cfg.sweep_max_params:
            order = sorted(rng.choice(n, cfg.sweep_max_params, replace=False).tolist())
        for i in order:
            if over_budget():
                return
            centre = best_values[params[i].id]
            lo, hi = bounds[i]
            lo = lo if math.isfinite(lo) else centre - 2 * scale[i]
            hi = hi if math.isfinite(hi) else centre + 2 * scale[i]
            base = np.array([best_values[p.id] for p in params], dtype=np.float64)
            tried: list[tuple[float, int, Program, float]] = []
            for k, v in enumerate(np.linspace(lo, hi, cfg.sweep_points)):
                values = base.copy()
                values[i] = v
                prog = candidate(values)
                tried.append((evaluate(prog)[0], k, prog, float(v)))
            tried.sort(key=lambda t: (-t[0], t[1]))
            for score, _, prog, v in tried[:3]:
                if score <= best_score:
                    break
                if is_safe(prog):
                    passed.setdefault(policy_digest(prog), (score, prog))
                    best_program, best_score = prog, score
                    best_values[params[i].id] = v
                    break

    if cfg.sweep_points > 1:
        sweep()
        mean = np.array([best_values[p.id] for p in params], dtype=np.float64)
    for gen in range(cfg.generations):
        if over_budget():
            break
        samples = mean + std * rng.standard_normal((cfg.population, n))
        samples[0] = mean  # the mean itself competes
        samples = np.clip(samples, low, high)
        scored: list[tuple[float, int, Program]] = []
        for k, values in enumerate(samples):
            prog = candidate(values)
            scored.append((evaluate(prog)[0], k, prog))
        scored.sort(key=lambda t: (-t[0], t[1]))
        elites: list[int] = []
        checks = 0
        for score, k, prog in scored:
            if len(elites) >= cfg.elites or checks >= cfg.verify_per_generation or score == -math.inf:
                break
            if over_budget():
                break
            checks += 0 if policy_digest(prog) in verdicts else 1
            if is_safe(prog):
                elites.append(k)
                passed.setdefault(policy_digest(prog), (score, prog))
                if score > best_score:
                    best_program, best_score = prog, score
                    best_values = {p.id: float(v) for p, v in zip(params, samples[k], strict=True)}
        if elites:
            chosen = samples[elites]
            mean = chosen.mean(axis=0)
            spread = chosen.std(axis=0) if len(elites) > 1 else std * 0.5
            # the spread may shrink by at most 15 % a generation: a smooth landscape is
            # followed for several generations instead of freezing where the elites bunch
            std = np.maximum(np.maximum(spread, 0.85 * std), scale * cfg.min_std)
        else:  # nothing provable near the mean: search closer to it
            std = np.maximum(std * 0.5, scale * cfg.min_std)
        if float(np.max(std / scale)) < cfg.restart_below:
            # converged: restart around the best SAFE program with the initial spread, so
            # the search can leave a basin (a return landscape is piecewise smooth)
            if cfg.sweep_points > 1:
                sweep()
            mean = np.array([best_values[p.id] for p in params], dtype=np.float64)
            std = scale * cfg.init_std
        result.history.append(best_score)
        if progress is not None:
            progress(gen + 1, cfg.generations, best_score)
    # The choice: the best candidates by training score are scored again on fresh
    # validation episodes (a program tuned on a few starts can be brittle on others), and
    # the best by validation score that passes the final check wins; the start competes.
    def validation(prog: Program, training: float) -> float:
        return training if hooks.validate is None else hooks.validate(prog)

    ranked = sorted(passed.values(), key=lambda t: -t[0])[: cfg.final_checks]
    finalists = [(validation(program, start_score), 0, start_score, program)]
    for k, (score, prog) in enumerate(ranked):
        if prog is not program:
            finalists.append((validation(prog, score), k + 1, score, prog))
            result.evaluations += hooks.validate is not None
    finalists.sort(key=lambda t: (-t[0], t[1]))
    result.validation_start = next(f[0] for f in finalists if f[3] is program)
    best_program, best_score, result.validation = program, start_score, result.validation_start
    for val, _, score, prog in finalists:
        if val <= result.validation_start:
            break
        if hooks.final_check is not None:
            result.verifications += 1
            if not hooks.final_check(prog):
                result.rejected += 1
                continue
        best_program, best_score, result.validation = prog, score, val
        break
    result.program, result.score = best_program, best_score
    result.seconds = time.perf_counter() - t0
    return result


def tune_program(
    program: Program,
    env_id: str,
    spec: Spec,
    config: TuneConfig | None = None,
    *,
    policy_path: str = "<tuned>",
    progress: Callable[[int, int, float], None] | None = None,
) -> TuneResult:
    """Search the constants of a SAFE ``program`` for a higher return on ``env_id``.

    :func:`cross_entropy_search` with the mean return of seeded episodes as the score and
    the spec as the gate.  ``progress(generation, generations, best_score)`` is called
    after each generation.  InputError when the program does not fit the environment.
    """
    from saferl.results import Verdict
    from saferl.verify import verify_policy

    cfg = config or TuneConfig()
    sig = env_signature(env_id)
    if len(program.obs_names) != len(sig.obs_names):
        raise InputError(f"the program reads {len(program.obs_names)} observations; {env_id} has {len(sig.obs_names)}")
    params = tunable_parameters(program)
    seeds = [cfg.seed + k for k in range(max(1, cfg.episodes))]
    val_seeds = [cfg.seed + 100_000 + k for k in range(max(1, cfg.validation_episodes))]

    # Two tiers: candidates are checked against the spec's open-loop properties (fast); the
    # closed-loop ones (a proof over the dynamics takes seconds) are checked at the end,
    # best first, on the finalists.  The first tier also simulates every closed-loop
    # property from a few hundred initial states (corners, edges, random; the exact model
    # equals gymnasium's step): a refuted candidate is dropped at once, so the search does
    # not climb into brittle programs.
    open_spec = replace(spec, closed_loop=())
    simulations: list[tuple[Any, Any, Any, int]] = []
    if spec.closed_loop:
        from saferl.closedloop.engine import FOREVER_SIMULATION_STEPS
        from saferl.closedloop.falsify import initial_samples, simulate
        from saferl.dynamics import make_model

        for prop in spec.closed_loop:
            steps = prop.steps if prop.steps is not None else FOREVER_SIMULATION_STEPS
            simulations.append((make_model(prop.dynamics, prop.parameters), prop,
                                initial_samples(prop, cfg.simulated_starts, cfg.seed), steps))

    def is_safe(prog: Program) -> bool:
        if not all(simulate(model, prog, prop, starts, steps).violation is None
                   for model, prop, starts, steps in simulations):
            return False
        return not open_spec.properties or \
            verify_policy(prog, open_spec, policy_path=policy_path).verdict is Verdict.SAFE

    def whole_spec(prog: Program) -> bool:
        return verify_policy(prog, spec, policy_path=policy_path).verdict is Verdict.SAFE

    bounds = []
    for p in params:
        lo, hi = _bounds(program, p)
        if p.kind == "threshold":
            from saferl.repair.space import threshold_obs

            name = threshold_obs(program).get(p.id)
            dom = spec.domains.get(name) if name is not None else None
            if dom is not None and math.isfinite(dom[0]) and math.isfinite(dom[1]):
                lo, hi = dom
        bounds.append((float(lo), float(hi)))
    env = make_env(env_id)
    try:
        hooks = SearchHooks(
            score=lambda prog: _episode_return(prog, env, sig.discrete, seeds),
            is_safe=is_safe,
            validate=lambda prog: _episode_return(prog, env, sig.discrete, val_seeds),
            final_check=whole_spec if spec.closed_loop else None,
        )
        return cross_entropy_search(
            program, params, hooks, cfg,
            scales=[parameter_scale(program, p, spec) for p in params],
            lows=[_bounds(program, p)[0] for p in params], highs=[_bounds(program, p)[1] for p in params],
            sweep_bounds=bounds, policy_path=policy_path, progress=progress,
        )
    finally:
        env.close()
