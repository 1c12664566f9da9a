"""The observation box a program is distilled on without the environment.

A .pol program is a total function of the observation: any state can be labelled, not only
the ones an environment visits.  :func:`observation_box` picks, for every observation of the
program, a finite range -- from the spec's ``observations:`` (the verified domain) when it
names one, else from the program's own declaration (``obs x: float32 in [lo, hi]``), else
from the environment's finite observation bounds -- and :func:`sample_box` draws states from
it.  :func:`label_states` labels them with the program.

Only stateless programs can be labelled this way: a PID program's action depends on its
integral and previous error, which a single observation does not carry.

This module imports numpy only; no torch, no gymnasium.

Example:
    >>> from saferl.learn.envs import env_signature
    >>> from saferl.policy import load_policy
    >>> box = observation_box(load_policy("policies/mountaincar/bang_bang.pol"),
    ...                       env_signature("MountainCarContinuous-v0"))  # doctest: +SKIP
    >>> box.sources                                                          # doctest: +SKIP
    ('env', 'env')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.errors import InputError, SpecError
from saferl.learn.envs import EnvSignature
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy

__all__ = ["ObservationBox", "observation_box", "sample_box", "boundary_states", "label_states", "jitter_states",
           "soft_labels"]


@dataclass(frozen=True)
class ObservationBox:
    """Per observation (in the environment's order): its name, range and where the range came from."""

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    sources: tuple[str, ...]
    """``spec`` (the spec's ``observations:``), ``program`` (its declaration) or ``env``"""

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready description: ``{name: {"range": [lo, hi], "from": source}}``."""
        return {n: {"range": [lo, hi], "from": s}
                for n, lo, hi, s in zip(self.names, self.low, self.high, self.sources, strict=True)}


def _finite(lo: float | None, hi: float | None) -> bool:
    return lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi) and lo <= hi


def observation_box(program: Program, sig: EnvSignature, spec: Any = None) -> ObservationBox:
    """The box to sample ``program``'s observations from; InputError when it cannot be had.

    ``spec`` (a :class:`saferl.spec.Spec`, optional) must fit the program: its ``observations:``
    may only name the program's observations (a SpecError at the offending YAML line
    otherwise).  An observation with no finite range anywhere, or an empty range, is an
    InputError naming it.
    """
    if program.pid_sites:
        raise InputError(
            f"policy {program.name!r} keeps pid state; domain samples are single observations and cannot label it",
            hint="distil it from rollouts (--states rollouts)",
        )
    if len(program.observations) != len(sig.obs_names):
        raise InputError(
            f"policy {program.name!r} declares {len(program.observations)} observations; "
            f"{sig.env_id} has {len(sig.obs_names)}",
            hint="pass a program written for this environment",
        )
    domains: dict[str, tuple[float, float]] = {}
    if spec is not None:
        from saferl.spec.bind import bind_spec

        bind_spec(spec, program)  # names the spec's stray observation at its YAML line
        domains = dict(spec.domains)
    env_bounds = sig.obs_bounds or (None,) * len(sig.obs_names)
    low, high, sources = [], [], []
    for decl, bounds in zip(program.observations, env_bounds, strict=True):
        lo: float | None
        hi: float | None
        if decl.name in domains:
            (lo, hi), source = domains[decl.name], "spec"
            if not _finite(lo, hi):
                raise SpecError(f"observation {decl.name!r} has the range [{lo}, {hi}]; "
                                "domain sampling needs a finite range",
                                spec.locations.get(f"observations.{decl.name}"))
        elif _finite(decl.low, decl.high):
            lo, hi, source = decl.low, decl.high, "program"
        elif bounds is not None and _finite(*bounds):
            (lo, hi), source = bounds, "env"
        else:
            raise InputError(
                f"observation {decl.name!r} of policy {program.name!r} has no finite range to sample from",
                hint=f"give it one under 'observations:' in --spec (e.g. {decl.name}: [-5, 5])",
            )
        low.append(float(lo))  # type: ignore[arg-type]
        high.append(float(hi))  # type: ignore[arg-type]
        sources.append(source)
    return ObservationBox(program.obs_names, tuple(low), tuple(high), tuple(sources))


def sample_box(box: ObservationBox, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` states drawn uniformly from the box, as float32 (what the environments give)."""
    low, high = np.asarray(box.low), np.asarray(box.high)
    return (low + rng.random((n, len(low))) * (high - low)).astype(np.float32)


def jitter_states(states: np.ndarray, box: ObservationBox, copies: int, scale: float,
                  rng: np.random.Generator) -> np.ndarray:
    """``copies`` Gaussian neighbours of each state, clipped into the box, as float32.

    Each neighbour's standard deviation is a fraction of the box's width per observation,
    drawn log-uniformly between ``scale / 100`` and ``scale``: a program's decision boundary
    is sharp, and the states a controller visits often lie right on it (it switches there).
    """
    low, high = np.asarray(box.low), np.asarray(box.high)
    base = np.repeat(np.asarray(states, dtype=np.float64), copies, axis=0)
    sigma = scale * 10.0 ** (-2.0 * rng.random((len(base), 1)))
    noise = rng.standard_normal(base.shape) * sigma * (high - low)
    return np.clip(base + noise, low, high).astype(np.float32)


def _differ(a: np.ndarray, b: np.ndarray, discrete: bool, tolerance: np.ndarray | None) -> np.ndarray:
    if discrete or tolerance is None:
        return np.any(a != b, axis=1)
    return np.any(np.abs(a - b) > tolerance, axis=1)


def boundary_states(program: Program, box: ObservationBox, n: int, discrete: bool, rng: np.random.Generator,
                    tolerance: np.ndarray | None = None, bisections: int = 24, scale: float = 0.01) -> np.ndarray:
    """About ``n`` states near the program's decision boundaries, found without an environment.

    Pairs of uniform states whose actions differ (continuous: by more than ``tolerance`` in
    some value) are bisected ``bisections`` times along the segment between them; both ends of
    the final interval lie on either side of a boundary.  Each end then gets Gaussian
    neighbours (:func:`jitter_states`, standard deviation ``scale / 100`` to ``scale`` of the
    box's width), so the boundary is covered from very close to a little further away.
    Empty when the program acts the same on every pair drawn (a constant program).
    """
    if n <= 0:
        return np.zeros((0, len(box.low)), dtype=np.float32)
    a = sample_box(box, n, rng)
    b = sample_box(box, n, rng)
    la, lb = label_states(program, a, discrete), label_states(program, b, discrete)
    keep = _differ(la, lb, discrete, tolerance)
    a, b, la = a[keep].astype(np.float64), b[keep].astype(np.float64), la[keep]
    if not len(a):
        return np.zeros((0, len(box.low)), dtype=np.float32)
    for _ in range(bisections):
        mid = (a + b) / 2.0
        same = ~_differ(label_states(program, mid, discrete), la, discrete, tolerance)
        a[same] = mid[same]
        b[~same] = mid[~same]
    ends = np.concatenate([a, b]).astype(np.float32)
    copies = max(1, int(np.ceil(n / len(ends))) - 1)
    near = np.concatenate([ends, jitter_states(ends, box, copies, scale, rng)])
    return near[rng.permutation(len(near))[:n]]


def label_states(program: Program, states: np.ndarray, discrete: bool) -> np.ndarray:
    """The program's action on every state: shape (n, 1) int64 (discrete) or (n, k) float32."""
    policy = ProgramPolicy(program)
    step = policy.act_raw
    rows = [step(x) for x in np.asarray(states, dtype=np.float32)]
    if discrete:
        return np.asarray(rows, dtype=np.float64).astype(np.int64).reshape(len(rows), -1)
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


def soft_labels(program: Program, states: np.ndarray, labels: np.ndarray, box: ObservationBox, n_actions: int,
                noise: float, floor: float, rng: np.random.Generator, draws: int = 16) -> np.ndarray:
    """Discrete actions: per state, the program's action frequencies on ``draws`` Gaussian
    neighbours (standard deviation ``noise`` times the box's width per observation, clipped
    into the box), with the program's own action (``labels``, shape (n, 1)) raised to ``floor``
    where it is less (the other actions share the rest in proportion).  Rows sum to 1.

    Far from the program's decision boundaries that is its action with certainty; near them
    the target's confidence falls off with the distance, on the program's side of the
    boundary (``floor`` > 0.5 keeps the target's preferred action the program's).
    """
    low, high = np.asarray(box.low), np.asarray(box.high)
    x = np.asarray(states, dtype=np.float64)
    rows = np.arange(len(x))
    freq = np.zeros((len(x), n_actions))
    for _ in range(draws):
        near = np.clip(x + rng.standard_normal(x.shape) * noise * (high - low), low, high).astype(np.float32)
        freq[rows, label_states(program, near, True)[:, 0]] += 1.0 / draws
    own = np.zeros_like(freq)
    own[rows, labels[:, 0]] = 1.0
    p_own = np.maximum(freq[rows, labels[:, 0]], floor)
    rest = freq * (1.0 - own)
    total = rest.sum(axis=1)
    scale = np.divide(1.0 - p_own, total, out=np.zeros_like(total), where=total > 0)
    return own * p_own[:, None] + rest * scale[:, None]
