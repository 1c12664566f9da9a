"""Falsification: vectorized simulation of many initial states, and the replay of a
violating trajectory in the real gymnasium environment before anyone calls it UNSAFE."""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from saferl.closedloop.condition import cond_points
from saferl.closedloop.policybox import act_points
from saferl.dynamics.base import Model
from saferl.errors import InternalError
from saferl.policy.ast import Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["Trajectory", "initial_samples", "simulate", "replay_in_gymnasium", "SimulationSummary"]


@dataclass
class Trajectory:
    """A concrete run: states[0..T] and the actions taken between them; ``reason`` says
    what it shows (the step where ``always`` failed, or the goal never reached)."""

    states: np.ndarray
    actions: np.ndarray
    reason: str


@dataclass
class SimulationSummary:
    """What the simulation saw: the first violation (if any), state ranges, throughput."""

    violation: Trajectory | None
    low: np.ndarray
    high: np.ndarray
    steps_simulated: int
    seconds: float


def initial_samples(prop: ClosedLoopProperty, count: int, seed: int = 0) -> np.ndarray:
    """Corners, edge midpoints and uniform random points of the initial boxes (count, n)."""
    rng = np.random.default_rng(seed)
    pts: list[np.ndarray] = []
    for box in prop.initial:
        lo = np.array([b[0] for b in box])
        hi = np.array([b[1] for b in box])
        mid = (lo + hi) / 2
        for corner in itertools.product(*[(a, b) for a, b in box]):
            pts.append(np.array(corner))
        for d in range(len(box)):
            for v in (lo[d], hi[d]):
                p = mid.copy()
                p[d] = v
                pts.append(p)
        pts.append(mid)
    special = np.array(pts)
    per_box = max(1, (count - len(special)) // len(prop.initial))
    rand = [rng.uniform([b[0] for b in box], [b[1] for b in box], size=(per_box, len(box))) for box in prop.initial]
    return np.concatenate([special, *rand])[: max(count, len(special))]


def simulate(
    model: Model, program: Program, prop: ClosedLoopProperty, starts: np.ndarray, steps: int
) -> SimulationSummary:
    """Run every start for ``steps`` steps (vectorized); stop at the first violation."""
    import time

    t0 = time.perf_counter()
    names = model.state_names
    s = starts.astype(np.float64).copy()
    n = s.shape[0]
    traj = [s.copy()]
    acts: list[np.ndarray] = []
    reached = np.zeros(n, dtype=bool)
    done = 0
    violation: Trajectory | None = None
    for t in range(steps + 1):
        cols = {name: s[:, i] for i, name in enumerate(names)}
        if prop.kind == "safety":
            bad = ~cond_points(prop.always, cols)  # type: ignore[arg-type]
        else:
            reached |= cond_points(prop.eventually, cols)  # type: ignore[arg-type]
            bad = ~reached & cond_points(prop.avoid, cols) if prop.avoid is not None else np.zeros(n, bool)
            if t == steps:
                bad = bad | ~reached
        if bad.any():
            i = int(np.argmax(bad))
            what = "never reaches the goal" if prop.kind == "reach" and not reached[i] and t == steps else "violates the property"
            violation = Trajectory(np.stack([x[i] for x in traj]), np.array([a[i] for a in acts]), f"{what} at step {t}")
            break
        if t == steps or (prop.kind == "reach" and reached.all()):
            break
        obs = model.concrete_observe(s)
        a = act_points(program, obs)
        s = model.concrete_step(s, a, fresh=(t == 0))
        done += n
        acts.append(a)
        traj.append(s.copy())
    # the ranges once at the end, one strided reduction per variable (per step, or over the
    # leading axes of a block, the reductions cost as much as the simulation)
    low = np.full(s.shape[1], np.inf)
    high = np.full(s.shape[1], -np.inf)
    for chunk in range(0, len(traj), 256):
        block = np.stack(traj[chunk:chunk + 256])
        low = np.fmin(low, [block[..., j].min() for j in range(block.shape[-1])])
        high = np.fmax(high, [block[..., j].max() for j in range(block.shape[-1])])
    return SimulationSummary(violation, low, high, done, time.perf_counter() - t0)


def replay_in_gymnasium(model: Model, program: Program, prop: ClosedLoopProperty, traj: Trajectory) -> Trajectory:
    """Replay ``traj`` from its initial state in gymnasium with the compiled policy.

    Returns the replayed trajectory (states and actions as gymnasium produced them).
    Raises InternalError when gymnasium disagrees with the model or the violation does
    not reproduce: a counterexample that does not replay is a tool error.
    """
    from saferl.policy import ProgramPolicy

    env = model.make_env()
    policy = ProgramPolicy(program)
    env.state = model.env_state(traj.states[0], fresh=True)
    states = [np.asarray(env.state, dtype=np.float64).copy()]
    actions: list[float] = []
    names = model.state_names
    obs = model.env_observation(env)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _t in range(len(traj.actions)):
            a = float(policy.act(obs))
            actions.append(a)
            obs, *_ = env.step(model.env_action(a))
            states.append(np.asarray(env.state, dtype=np.float64).copy())
    got = np.stack(states)
    if got.shape != traj.states.shape or not np.array_equal(got, traj.states) or not np.array_equal(
        np.array(actions), traj.actions
    ):
        raise InternalError(f"gymnasium's {model.env_id} did not reproduce the simulated trajectory ({traj.reason})")
    cols = {name: got[:, i] for i, name in enumerate(names)}
    if prop.kind == "safety":
        ok = not bool((~cond_points(prop.always, cols)).any())  # type: ignore[arg-type]
    else:
        hit = cond_points(prop.eventually, cols)  # type: ignore[arg-type]
        first = int(np.argmax(hit)) if hit.any() else len(hit)
        avoid = cond_points(prop.avoid, cols)[:first] if prop.avoid is not None else np.zeros(0, bool)
        ok = bool(hit.any()) and not avoid.any()
    if ok:
        raise InternalError(f"the violation did not reproduce in gymnasium's {model.env_id} ({traj.reason})")
    return Trajectory(got, np.array(actions), traj.reason)
