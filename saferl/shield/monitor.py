"""An independent violation monitor: spec properties evaluated with the reference evaluator.

It shares nothing with the shield's generated code: observations are cast with
:func:`~saferl.policy.evaluate.cast_observations`, properties are evaluated with
:func:`~saferl.spec.evaluate.eval_sexpr` on :func:`~saferl.spec.bind.property_condition`,
and the fallback's state (for properties over ``pid<k>.*``) is tracked with the AST
interpreter.  Slow (tens of microseconds per step); used by tests, the benchmark and the
CLI to count the violations the environment actually received, with or without a shield.

Example:
    >>> monitor = ViolationMonitor(spec, program)        # doctest: +SKIP
    >>> monitor.reset(obs)                                # doctest: +SKIP
    >>> monitor.step(action, next_obs)                    # doctest: +SKIP
    []
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from saferl.policy.ast import Program
from saferl.policy.evaluate import cast_observations, interpret
from saferl.spec.bind import bind_spec, property_condition
from saferl.spec.evaluate import eval_sexpr
from saferl.spec.expr import SVar
from saferl.spec.load import Spec

__all__ = ["ViolationMonitor"]


class ViolationMonitor:
    """Counts steps whose executed action broke a run-time checkable property of a spec.

    Two-run smoothness properties are skipped (they are not properties of one
    trajectory); a history property is judged once every step it refers to exists.
    """

    def __init__(self, spec: Spec, program: Program):
        self.binding = bind_spec(spec, program)
        self.program = program
        self.properties = [
            (p, *property_condition(p, self.binding))
            for p in spec.properties
            if not (p.kind == "smoothness" and p.mode == "two-run")
        ]
        self.window = max((p.window for p, _, _ in self.properties), default=0)
        self.violations: dict[str, int] = {p.id: 0 for p, _, _ in self.properties}
        self.steps = 0
        self.violating_steps = 0
        self._obs: dict[str, float] | None = None
        self._state: tuple[float, ...] = ()
        self._hist: deque[tuple[dict[str, float], dict[str, float], dict[str, float]]] = deque(maxlen=max(self.window, 1))

    @property
    def total(self) -> int:
        """Property violations counted so far (one step can break several properties)."""
        return sum(self.violations.values())

    def reset(self, obs: Any) -> None:
        """Start an episode at observation ``obs``."""
        self._obs = self._named(obs)
        self._state = tuple(0.0 for _ in self.program.state_names)
        self._hist.clear()

    def _named(self, obs: Any) -> dict[str, float]:
        vals = cast_observations(self.program, np.asarray(obs, dtype=np.float64).reshape(-1).tolist())
        return dict(zip(self.program.obs_names, vals, strict=True))

    def step(self, action: Any, next_obs: Any) -> list[str]:
        """Judge ``action`` (as the environment received it) at the current observation;
        move to ``next_obs``.  Returns the ids of the properties it broke."""
        if self._obs is None:
            raise RuntimeError("call reset() first")
        acts_vec = np.asarray(action, dtype=np.float64).reshape(-1).tolist()
        acts = dict(zip(self.program.action_names, acts_vec, strict=True))
        state_now = dict(zip(self.program.state_names, self._state, strict=True))
        if self.program.state_names:
            _, self._state, _ = interpret(self.program, self._obs, self._state)
        frames = [(self._obs, acts, state_now), *reversed(self._hist)]  # frames[k] = step t-k

        def lookup(v: SVar) -> float:
            kind = self.binding.kind_of(v.name)
            if kind == "label":
                return self.binding.label_value(v.name, None, v.loc)
            o, a, s = frames[v.lag]
            return {"obs": o, "action": a, "state": s}[kind][v.name]

        broken = []
        for prop, when, require in self.properties:
            if _max_lag(when, require) >= len(frames):
                continue
            if bool(eval_sexpr(when, lookup)) and not bool(eval_sexpr(require, lookup)):
                broken.append(prop.id)
                self.violations[prop.id] += 1
        self.steps += 1
        if broken:
            self.violating_steps += 1
        if self.window:
            self._hist.append((self._obs, acts, state_now))
        self._obs = self._named(next_obs)
        return broken


def _max_lag(*exprs: Any) -> int:
    from saferl.spec.expr import variables

    return max((v.lag for e in exprs for v in variables(e)), default=0)
