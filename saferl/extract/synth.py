"""Program synthesis in PROPEL's PID language, by imitation of a neural oracle.

Verma et al., "Imitation-Projected Programmatic Reinforcement Learning" (NeurIPS 2019)
project a neural policy onto programs of the form ``if b then π1 else π2`` over PID
controllers.  This module does that projection for one continuous action:

1. *Shapes.*  A program is a decision list ``if c1 { B1 } elif c2 { B2 } else { B3 }``
   with at most ``max_conditions`` conditions; a branch is
   ``clip(bias + Σ pid(obs[s], 0, kp, ki, kd), low, high)`` over a subset of at most
   ``max_terms`` observations; a condition is ``obs <= τ``, ``obs > τ`` or
   ``abs(obs) <= τ`` with τ a quantile of the data.  Lists grow greedily: the ``beam``
   best lists by imitation error are extended by one more condition splitting their
   ``else`` branch.
2. *Constants.*  With the targets fixed at 0, a pid term's error, integral and difference
   depend only on the observations the branch ran on, so (bias, kp, ki, kd) enter the
   output linearly: least squares fits them, and ``scipy.optimize.least_squares`` then
   refines them through the clip.  The data are trajectories aggregated by DAgger: each
   round rolls out the chosen program and labels its states with the oracle.
3. *Choice.*  The ``top_k`` shapes with the lowest imitation error are rolled out and the
   one with the best return is kept; the ``finalists`` best programs over all rounds are
   re-scored on fresh episodes and the best wins (its reported figures come from yet
   other episodes).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.errors import InputError, MissingDependencyError
from saferl.extract.programs import Condition, PidBranch, PidProgram, PidTerm, PolHeader
from saferl.extract.rollout import collect, fidelity
from saferl.extract.viper import ExtractResult, check_oracle, header_for
from saferl.learn.envs import env_signature

__all__ = ["ProgramConfig", "extract_program"]


@dataclass
class ProgramConfig:
    """Settings of :func:`extract_program`."""

    iters: int = 6
    """DAgger rounds (the first uses the oracle's own trajectories)"""
    episodes_per_iter: int = 5
    """rollouts gathered per round"""
    max_terms: int = 2
    """pid controllers per branch"""
    max_conditions: int = 2
    """conditions of the decision list (0: a single branch)"""
    thresholds: int = 7
    """quantiles tried as τ for each observation (and its absolute value)"""
    beam: int = 3
    """decision lists extended at each level of the greedy search"""
    integral: bool = False
    """fit the integral gains too (off: ki = 0, PD controllers)"""
    top_k: int = 6
    """shapes rolled out per round to choose by return"""
    eval_episodes: int = 5
    """episodes scoring each rolled-out shape"""
    final_episodes: int = 100
    """episodes scoring the chosen program"""
    finalists: int = 3
    """best programs (by their round's score) re-scored on ``final_episodes`` fresh episodes"""

    @classmethod
    def for_env(cls, env_id: str, seed: int = 0) -> ProgramConfig:
        """Defaults per environment (short Pendulum episodes afford more scoring)."""
        if env_id == "Pendulum-v1":
            return cls(iters=8, episodes_per_iter=5, eval_episodes=10, seed=seed)
        return cls(seed=seed)
    seed: int = 0
    """seed of the rollouts"""


@dataclass(frozen=True)
class _Trajectory:
    states: np.ndarray  # float32 (T, obs_dim)
    labels: np.ndarray  # float64 (T,)


def _branch_features(
    trajs: list[_Trajectory], mask_per_traj: list[np.ndarray], signals: tuple[int, ...], integral: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix [1, e, (I), D per signal] over the steps where the branch ran."""
    cols_per = 3 if integral else 2
    rows: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for traj, mask in zip(trajs, mask_per_traj, strict=True):
        x = traj.states[mask].astype(np.float64)
        if len(x) == 0:
            continue
        feats = np.empty((len(x), 1 + cols_per * len(signals)))
        feats[:, 0] = 1.0
        for k, s in enumerate(signals):
            err = -x[:, s]
            prev = np.concatenate([[0.0], err[:-1]])
            base = 1 + cols_per * k
            feats[:, base] = err
            if integral:
                feats[:, base + 1] = np.cumsum(err)
            feats[:, base + cols_per - 1] = err - prev
        rows.append(feats)
        ys.append(traj.labels[mask])
    if not rows:
        return np.zeros((0, 1 + cols_per * len(signals))), np.zeros(0)
    return np.concatenate(rows), np.concatenate(ys)


def _fit_branch(
    feats: np.ndarray, y: np.ndarray, low: float, high: float, refine: bool
) -> tuple[np.ndarray, float]:
    """Least squares, optionally refined through the clip; return (coefficients, MSE)."""
    if len(y) == 0:
        return np.zeros(feats.shape[1]), 0.0
    scale = np.maximum(np.abs(feats).max(axis=0), 1e-9)
    a = feats / scale
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)

    def residual(c: np.ndarray) -> np.ndarray:
        return np.clip(a @ c, low, high) - y

    if refine and np.mean(np.abs(residual(coef))) > 1e-9:
        try:
            from scipy.optimize import least_squares
        except ImportError:
            raise MissingDependencyError("scipy", "learn") from None
        # a smooth stand-in for the clip keeps gradients alive on saturated samples
        mid, half = (high + low) / 2.0, (high - low) / 2.0

        def soft(c: np.ndarray) -> np.ndarray:
            return mid + half * np.tanh((a @ c - mid) / half) - y

        for start in (coef, coef * 3.0):
            fitted = least_squares(soft, start, method="trf", max_nfev=100)
            if np.mean(residual(fitted.x) ** 2) < np.mean(residual(coef) ** 2):
                coef = fitted.x
    mse = float(np.mean(residual(coef) ** 2))
    return coef / scale, mse


def _branch_from(coef: np.ndarray, signals: tuple[int, ...], integral: bool) -> PidBranch:
    cols_per = 3 if integral else 2
    terms = []
    for k, s in enumerate(signals):
        base = 1 + cols_per * k
        kp = float(coef[base])
        ki = float(coef[base + 1]) if integral else 0.0
        kd = float(coef[base + cols_per - 1])
        terms.append(PidTerm(s, 0.0, kp, ki, kd))
    return PidBranch(tuple(terms), float(coef[0]))


def _branch_index(trajs: list[_Trajectory], conditions: tuple[Condition, ...]) -> list[np.ndarray]:
    """Per trajectory, the branch each step runs (the first condition that holds)."""
    out = []
    for t in trajs:
        x = t.states.astype(np.float64)  # exact values of the float32 observations
        idx = np.full(len(x), len(conditions))
        for i in reversed(range(len(conditions))):
            c = conditions[i]
            v = np.abs(x[:, c.feature]) if c.absolute else x[:, c.feature]
            holds = v <= c.threshold if c.op == "<=" else v > c.threshold
            idx[holds] = i
        out.append(idx)
    return out


class _Fitter:
    """Fits the best branch (subset of pid signals and constants) on a set of steps."""

    def __init__(self, trajs: list[_Trajectory], header: PolHeader, cfg: ProgramConfig):
        self.trajs = trajs
        self.cfg = cfg
        self.low, self.high = float(header.low or 0.0), float(header.high or 0.0)
        n_obs = len(header.obs_names)
        # the empty subset is a constant branch (bang-bang programs need it)
        self.subsets = [s for r in range(0, cfg.max_terms + 1) for s in itertools.combinations(range(n_obs), r)]

    def best(self, masks: list[np.ndarray], refine: bool) -> tuple[float, PidBranch, int]:
        """(score, branch, number of steps) of the best subset; score is the clipped MSE
        with a small premium per controller, so that extra terms must earn their place."""
        best: tuple[float, PidBranch, int] | None = None
        for signals in self.subsets:
            feats, y = _branch_features(self.trajs, masks, signals, self.cfg.integral)
            coef, mse = _fit_branch(feats, y, self.low, self.high, refine)
            score = mse * (1.0 + 0.02 * len(signals)) + 1e-9 * len(signals)
            if best is None or score < best[0]:
                best = (score, _branch_from(coef, signals, self.cfg.integral), len(y))
        if best is None:  # pragma: no cover - subsets is never empty (max_terms >= 1)
            raise InputError("no program shape to fit")
        return best

    def fit_list(self, conditions: tuple[Condition, ...], refine: bool) -> tuple[float, tuple[PidBranch, ...]] | None:
        """Fit every branch of a decision list; None when a branch would run on no step."""
        index = _branch_index(self.trajs, conditions)
        total, branches, steps = 0.0, [], 0
        for b in range(len(conditions) + 1):
            masks = [i == b for i in index]
            score, branch, n = self.best(masks, refine)
            if n == 0:
                return None
            total += score * n
            steps += n
            branches.append(branch)
        return total / max(steps, 1), tuple(branches)


def _condition_pool(trajs: list[_Trajectory], n_obs: int, cfg: ProgramConfig) -> list[Condition]:
    """``obs <= τ`` and ``abs(obs) <= τ`` at a few quantiles of the data (τ a float32 value)."""
    states = np.concatenate([t.states for t in trajs]).astype(np.float64)
    pool = []
    qs = np.linspace(0, 1, cfg.thresholds + 2)[1:-1]
    for f in range(n_obs):
        for absolute in (False, True):
            values = np.abs(states[:, f]) if absolute else states[:, f]
            for tau in np.unique(np.quantile(values, qs).astype(np.float32)):
                pool.append(Condition(f, float(tau), "<=", absolute))
    return pool


def _candidates(trajs: list[_Trajectory], header: PolHeader, cfg: ProgramConfig) -> list[tuple[float, PidProgram]]:
    """Decision lists grown greedily (beam search), refined, lowest imitation error first."""
    fitter = _Fitter(trajs, header, cfg)
    scored: list[tuple[float, tuple[Condition, ...]]] = []
    single = fitter.fit_list((), refine=False)
    if single is not None:
        scored.append((single[0], ()))
    pool = _condition_pool(trajs, len(header.obs_names), cfg) if cfg.max_conditions > 0 else []
    frontier: list[tuple[Condition, ...]] = [()]
    for _ in range(cfg.max_conditions):
        grown: list[tuple[float, tuple[Condition, ...]]] = []
        for prefix in frontier:
            for cond in pool:
                # both polarities matter for the first condition (the else side is split next)
                for op in ("<=", ">") if not prefix else ("<=",):
                    conds = (*prefix, Condition(cond.feature, cond.threshold, op, cond.absolute))
                    fitted = fitter.fit_list(conds, refine=False)
                    if fitted is not None:
                        grown.append((fitted[0], conds))
        grown.sort(key=lambda item: item[0])
        scored += grown[: cfg.top_k]
        frontier = [c for _, c in grown[: cfg.beam]]
    scored.sort(key=lambda item: item[0])
    out = []
    seen = set()
    for _, conds in scored:
        if conds in seen:
            continue
        seen.add(conds)
        refined = fitter.fit_list(conds, refine=True)
        if refined is not None:
            out.append((refined[0], PidProgram(header, refined[1], conds)))
        if len(out) >= cfg.top_k:
            break
    out.sort(key=lambda item: item[0])
    return out


def extract_program(
    oracle: Any,
    env_id: str,
    config: ProgramConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> ExtractResult:
    """Synthesise a PID program imitating ``oracle``; return the best by return."""
    cfg = config or ProgramConfig()
    if cfg.iters < 1 or cfg.episodes_per_iter < 1 or cfg.top_k < 1 or cfg.final_episodes < 1:
        raise InputError("iterations, episode counts and top-k must be at least 1")
    if cfg.max_terms < 1:
        raise InputError("a branch needs at least one pid term (--max-terms >= 1)")
    check_oracle(oracle, env_id)
    if oracle.discrete:
        raise InputError(f"PID programs need a continuous action; {env_id} is discrete", hint="use --kind tree")
    start = time.perf_counter()
    sig = env_signature(env_id)
    span = float(sig.action_high or 1.0) - float(sig.action_low or 0.0)
    header = header_for(oracle, env_id, f"{env_id.split('-')[0].lower()}_pid")

    trajs: list[_Trajectory] = []
    student: Any = oracle
    round_bests: list[tuple[float, PidProgram]] = []
    history: list[dict[str, float]] = []
    for it in range(cfg.iters):
        # 1. visit states with the current student and label them with the oracle
        visited = collect(student, env_id, cfg.episodes_per_iter, cfg.seed * 100_000 + it * 1_000)
        labels = oracle.act_batch(visited.states)[:, 0].astype(np.float64)
        for ep in np.unique(visited.episode):
            mask = visited.episode == ep
            trajs.append(_Trajectory(visited.states[mask], labels[mask]))
        # 2. fit every shape; roll out the best few by imitation error; keep the best return
        round_best: tuple[float, PidProgram] | None = None
        for _, program in _candidates(trajs, header, cfg)[: cfg.top_k]:
            scored = collect(program, env_id, cfg.eval_episodes, 7_000_000 + cfg.seed * 1_000)
            if round_best is None or scored.mean_return > round_best[0]:
                round_best = (scored.mean_return, program)
        if round_best is None:  # pragma: no cover - the single-branch shape always fits
            raise InputError("no program could be fitted to the oracle's data")
        round_bests.append(round_best)
        student = round_best[1]
        history.append({"iter": it, "samples": sum(len(t.labels) for t in trajs), "return": round_best[0], "size": student.size})
        if progress is not None:
            progress(it + 1, cfg.iters, f"return {round_best[0]:.1f} size {student.size}")
    # 3. re-score the finalists on fresh episodes, then report on yet other episodes
    round_bests.sort(key=lambda item: item[0], reverse=True)
    best: tuple[float, PidProgram] | None = None
    for _, candidate in round_bests[: max(1, cfg.finalists)]:
        rescored = collect(candidate, env_id, cfg.final_episodes, 8_000_000 + cfg.seed * 1_000)
        if best is None or rescored.mean_return > best[0]:
            best = (rescored.mean_return, candidate)
    program = best[1]  # type: ignore[index]
    final = collect(program, env_id, cfg.final_episodes, 9_000_000 + cfg.seed * 1_000)
    fid = fidelity(np.asarray([_replay(program, final.states, final.episode)]).reshape(-1), oracle.act_batch(final.states)[:, 0], False, span)
    comment = (
        f"PID program for {env_id}: {program.size} controllers+conditions, fidelity {fid:.3f}, "
        f"return {final.mean_return:.2f} +- {final.std_return:.2f} over {cfg.final_episodes} episodes"
    )
    program = PidProgram(PolHeader(**{**header.__dict__, "comment": comment}), program.branches, program.conditions)
    return ExtractResult(
        policy=program,
        pol_text=program.to_pol(),
        kind="program",
        mean_return=final.mean_return,
        std_return=final.std_return,
        episodes=cfg.final_episodes,
        fidelity=fid,
        size=program.size,
        size_unit="pid+if",
        wall_seconds=time.perf_counter() - start,
        history=history,
    )


def _replay(program: PidProgram, states: np.ndarray, episode: np.ndarray) -> np.ndarray:
    """The program's actions along recorded trajectories (state reset at each episode)."""
    out = np.empty(len(states))
    current = None
    for i, (obs, ep) in enumerate(zip(states, episode, strict=True)):
        if ep != current:
            program.reset()
            current = ep
        out[i] = float(program.act(obs)[0])
    program.reset()
    return out
