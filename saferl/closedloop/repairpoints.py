"""Repair points from a closed-loop counterexample: the states on a violating trajectory
where another action, followed by the policy itself, would have stayed safe.

These are per-state constraints ("at this observation, push right") that a repair engine
can impose on a tree; the repaired tree is then re-verified by the closed-loop engine.

``saferl closedloop --repair-points FILE.json`` writes them for every UNSAFE property.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.closedloop.condition import cond_points
from saferl.closedloop.falsify import Trajectory
from saferl.closedloop.policybox import act_points
from saferl.dynamics import make_model
from saferl.dynamics.base import Model
from saferl.policy.ast import Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["RepairPoint", "repair_points"]


@dataclass(frozen=True)
class RepairPoint:
    """At ``step`` of the counterexample the policy chose ``action`` on ``observations``;
    ``alternative`` followed by the policy keeps the property for ``safe_for`` steps."""

    step: int
    observations: dict[str, float]
    action: float
    alternative: float
    safe_for: int

    def to_record(self) -> dict[str, Any]:
        return {"step": self.step, "observations": dict(self.observations), "action": self.action,
                "alternative": self.alternative, "safe_for": self.safe_for}


def _alternatives(model: Model, program: Program, action: float) -> list[float]:
    if model.discrete_actions:
        return [float(a) for a in model.discrete_actions if a != action]
    decl = program.actions[0]
    lo = decl.low if decl.low is not None else model.action_low
    hi = decl.high if decl.high is not None else model.action_high
    return [v for v in (lo, hi, 0.0) if v != action and np.isfinite(v)]


def _survives(model: Model, program: Program, prop: ClosedLoopProperty, state: np.ndarray, first: float,
              steps: int, fresh: bool) -> bool:
    s = model.concrete_step(state[None, :], np.array([first]), fresh=fresh)
    for _ in range(steps):
        cols = {n: s[:, i] for i, n in enumerate(model.state_names)}
        if prop.kind == "safety" and not bool(cond_points(prop.always, cols)[0]):  # type: ignore[arg-type]
            return False
        if prop.kind == "reach":
            if bool(cond_points(prop.eventually, cols)[0]):  # type: ignore[arg-type]
                return True
            if prop.avoid is not None and bool(cond_points(prop.avoid, cols)[0]):
                return False
        s = model.concrete_step(s, act_points(program, model.concrete_observe(s)))
    return prop.kind == "safety"


def repair_points(
    program: Program, prop: ClosedLoopProperty, trajectory: Trajectory, *, lookahead: int = 1, limit: int = 8,
) -> list[RepairPoint]:
    """Up to ``limit`` repair points, nearest to the violation first.

    A state qualifies when switching to another action there, and letting the policy act
    afterwards, keeps the property at least ``lookahead`` steps past the step where the
    trajectory violated it (safety: the choice there mattered), or reaches the goal within
    the remaining budget (reach).
    """
    model = make_model(prop.dynamics, prop.parameters)
    states, actions = trajectory.states, trajectory.actions
    obs = model.concrete_observe(states)
    T = len(actions)
    points: list[RepairPoint] = []
    for t in range(T - 1, -1, -1):
        budget = (T - t) + lookahead if prop.kind == "safety" else max(0, (prop.steps or T) - t - 1)
        for alt in _alternatives(model, program, float(actions[t])):
            if _survives(model, program, prop, states[t], alt, budget, fresh=(t == 0)):
                points.append(RepairPoint(t, dict(zip(program.obs_names, obs[t].tolist(), strict=True)),
                                          float(actions[t]), alt, budget))
                break
        if len(points) >= limit:
            break
    return points
