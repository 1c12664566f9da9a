"""Keep behaviour: states the original policy visits, and how much a repair changes there.

States come from rollouts of the original policy in a gymnasium environment or from a
file of observations (``.npy`` read with ``allow_pickle=False``, or CSV).  For programs
with PID state the rows are taken as one trajectory, in order, so each state's PID state
is the original program's.  The behaviour term of the repair objective is the fraction of
visited states whose discrete action changes (or the mean relative change of continuous
actions), times a weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from pysmt.fnode import FNode
from pysmt.shortcuts import Equals, Ite, Minus, Times

from saferl.errors import InputError, MissingDependencyError
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy, cast_observations, interpret
from saferl.smt.encode import ProgramEncoder, real, term_abs
from saferl.smt.order import stable_order

__all__ = ["Visited", "visited_states", "load_states", "make_env", "rollout_states", "mean_return", "behaviour_terms", "changed_fraction"]

MAX_STATE_ROWS = 1_000_000


@dataclass(frozen=True)
class Visited:
    """Visited observations with the PID state entering each and the original actions."""

    obs: tuple[dict[str, float], ...]
    state_in: tuple[tuple[float, ...], ...]
    actions: tuple[dict[str, float], ...]

    def __len__(self) -> int:
        return len(self.obs)


def visited_states(program: Program, rows: np.ndarray, limit: int = 256, episodes: Sequence[int] | None = None) -> Visited:
    """Evaluate the original program along ``rows`` (one trajectory per episode id) and keep
    at most ``limit`` evenly spaced states."""
    obs_l: list[dict[str, float]] = []
    st_l: list[tuple[float, ...]] = []
    act_l: list[dict[str, float]] = []
    state: tuple[float, ...] = tuple(0.0 for _ in program.state_names)
    prev_ep = None
    for i, row in enumerate(rows):
        if episodes is not None and episodes[i] != prev_ep:
            state = tuple(0.0 for _ in program.state_names)
            prev_ep = episodes[i]
        obs = dict(zip(program.obs_names, cast_observations(program, [float(v) for v in row]), strict=True))
        acts, nxt, _ = interpret(program, obs, state)
        obs_l.append(obs)
        st_l.append(state)
        act_l.append({k: float(v) for k, v in acts.items()})
        state = nxt
    n = len(obs_l)
    idx = range(n) if n <= limit else sorted({int(round(j * (n - 1) / (limit - 1))) for j in range(limit)})
    return Visited(tuple(obs_l[i] for i in idx), tuple(st_l[i] for i in idx), tuple(act_l[i] for i in idx))


def load_states(path: Path, n_obs: int) -> np.ndarray:
    """A (rows, n_obs) float array of observations from .npy or CSV; never unpickles."""
    if not path.exists():
        raise InputError(f"states file not found: {path}")
    if path.is_dir():
        raise InputError(f"states file is a directory: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            arr = _load_csv(path)
        else:
            raise InputError(f"states file {path} must be .npy or .csv, not {suffix or 'no extension'!r}")
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(f"cannot read states file {path}: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise InputError(f"cannot read states file {path}: {exc.strerror or exc}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise InputError(f"states file {path} must hold numbers, found dtype {getattr(arr, 'dtype', '?')}")
    if arr.ndim == 1 and n_obs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_obs:
        raise InputError(f"states file {path} must have shape (rows, {n_obs}), found {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"states file {path} has no rows")
    if arr.shape[0] > MAX_STATE_ROWS:
        raise InputError(f"states file {path} has {arr.shape[0]} rows; at most {MAX_STATE_ROWS}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"states file {path} contains NaN or infinite values")
    return arr


def _load_csv(path: Path) -> np.ndarray:
    text = path.read_text(encoding="utf-8", errors="strict")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines:
        first = lines[0].split(",")
        try:
            [float(x) for x in first]
        except ValueError:
            lines = lines[1:]  # a header row
    rows = []
    width = None
    for n, ln in enumerate(lines, 1):
        try:
            row = [float(x) for x in ln.split(",")]
        except ValueError:
            raise InputError(f"{path}: row {n} is not a list of numbers") from None
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise InputError(f"{path}: row {n} has {len(row)} values, expected {width}")
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(rows), width or 0)


def make_env(env_id: str) -> Any:
    """A gymnasium environment; unknown ids are an InputError."""
    try:
        import gymnasium
    except ImportError:
        raise MissingDependencyError("gymnasium", "learn") from None
    try:
        # no passive checker: it re-checks every step's types, a third of a rollout's time
        return gymnasium.make(env_id, disable_env_checker=True)
    except Exception as exc:  # gymnasium raises several error types for bad ids
        raise InputError(f"cannot make environment {env_id!r}: {' '.join(str(exc).split())}") from None


def _check_env(program: Program, env: Any, env_id: str) -> None:
    shape = getattr(env.observation_space, "shape", None)
    if shape is None or len(shape) != 1 or shape[0] != len(program.observations):
        raise InputError(
            f"environment {env_id} gives observations of shape {shape}; policy {program.name!r} "
            f"declares {len(program.observations)} observations"
        )
    discrete = hasattr(env.action_space, "n")
    if discrete != all(a.kind == "discrete" for a in program.actions):
        raise InputError(f"environment {env_id} and policy {program.name!r} disagree on discrete vs continuous actions")


def _to_env_action(out: Any, discrete: bool) -> Any:
    if discrete:
        return int(np.asarray(out).reshape(-1)[0])
    return np.asarray(out, dtype=np.float32).reshape(-1)


def rollout_states(program: Program, env: Any, env_id: str, episodes: int, seed: int) -> tuple[np.ndarray, list[int], list[float]]:
    """Visited observations, their episode ids and the returns of ``episodes`` rollouts."""
    _check_env(program, env, env_id)
    discrete = hasattr(env.action_space, "n")
    pol = ProgramPolicy(program)
    rows: list[np.ndarray] = []
    eps: list[int] = []
    returns: list[float] = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        pol.reset()
        total, done = 0.0, False
        while not done:
            rows.append(np.asarray(obs, dtype=np.float64).reshape(-1))
            eps.append(ep)
            obs, r, term, trunc, _ = env.step(_to_env_action(pol.act(obs), discrete))
            total += float(r)
            done = bool(term or trunc)
        returns.append(total)
    return np.array(rows), eps, returns


def mean_return(program: Program, env: Any, env_id: str, episodes: int, seed: int) -> float:
    """Mean return of ``program`` over seeds ``seed .. seed+episodes-1``."""
    _, _, returns = rollout_states(program, env, env_id, episodes, seed)
    return float(np.mean(returns))


def behaviour_terms(program: Program, symbolic: Sequence[int], visited: Visited, weight: float) -> list[FNode]:
    """Cost terms over the parameter symbols: how much each visited state's actions change."""
    if not len(visited) or weight <= 0:
        return []
    enc = ProgramEncoder(program, symbolic=tuple(symbolic))
    w = real(Fraction(weight).limit_denominator(10**9) / len(visited))
    scale = {a.name: _action_scale(program, a.name, visited) for a in program.actions}
    terms: list[FNode] = []
    for obs, st, acts in zip(visited.obs, visited.state_in, visited.actions, strict=True):
        out, _ = enc.step({k: real(v) for k, v in obs.items()}, tuple(real(x) for x in st))
        for a in program.actions:
            term = stable_order(out[a.name].simplify())
            if term.is_constant():
                continue
            orig = real(acts[a.name])
            if a.kind == "discrete":
                terms.append(Ite(Equals(term, orig), real(0), w))
            else:
                terms.append(Times(w, real(Fraction(1 / scale[a.name]).limit_denominator(10**9)), term_abs(Minus(term, orig))))
    return terms


def _action_scale(program: Program, name: str, visited: Visited) -> float:
    decl = program.action(name)
    if decl.low is not None and decl.high is not None and decl.high > decl.low:
        return decl.high - decl.low
    vals = [abs(a[name]) for a in visited.actions]
    return max(max(vals, default=1.0), 1e-6)


def changed_fraction(program: Program, visited: Visited, tolerance: float = 0.01) -> float:
    """The fraction of visited states where ``program`` acts differently from the original:
    another label, or a continuous action moved by more than ``tolerance`` of its scale."""
    if not len(visited):
        return 0.0
    tol = {
        a.name: 0.0 if a.kind == "discrete" else tolerance * _action_scale(program, a.name, visited)
        for a in program.actions
    }
    changed = 0
    for obs, st, acts in zip(visited.obs, visited.state_in, visited.actions, strict=True):
        new, _, _ = interpret(program, obs, st)
        if any(abs(float(new[k]) - acts[k]) > tol.get(k, 0.0) for k in acts):
            changed += 1
    return changed / len(visited)


