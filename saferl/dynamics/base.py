"""The interface every environment model implements, and what it derives from one step.

A model writes gymnasium's step once, as :meth:`Model.step` over an arithmetic (see
:mod:`saferl.dynamics.arith`); the concrete step, the sound box step and the rigorous
step of the certificate check are that one function under three arithmetics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from saferl.dynamics.arith import BOXES, FLOATS, RIGOROUS, Arith
from saferl.errors import InputError, MissingDependencyError

__all__ = ["Model"]

Values = list[Any]


class Model:
    """A white-box model of one gymnasium environment (float64 state, float32 observations).

    Subclasses set the class attributes and implement :meth:`step` and :meth:`observe`.
    ``params`` holds the named physical parameters (defaults = gymnasium's).
    """

    env_id = ""
    state_names: tuple[str, ...] = ()
    obs_names: tuple[str, ...] = ()
    defaults: Mapping[str, float] = {}
    reset_low: tuple[float, ...] = ()
    reset_high: tuple[float, ...] = ()
    #: the state space an initial set must lie in
    state_low: tuple[float, ...] = ()
    state_high: tuple[float, ...] = ()
    discrete_actions: tuple[int, ...] = ()  # empty: one continuous action
    action_low = -math.inf
    action_high = math.inf
    #: state index -> indices its next value depends on
    depends: Mapping[int, tuple[int, ...]] = {}
    #: observation index -> state index when the observation is float32(that state variable)
    direct_obs: Mapping[int, int] = {}

    def __init__(self, params: Mapping[str, float] | None = None):
        self.params: dict[str, float] = dict(self.defaults)
        for name, value in (params or {}).items():
            if name not in self.defaults:
                raise InputError(
                    f"{self.env_id} has no parameter {name!r}; parameters: {', '.join(self.defaults)}"
                )
            if not math.isfinite(value):
                raise InputError(f"parameter {name!r} must be finite, got {value}")
            self.params[name] = float(value)

    # -- to implement ---------------------------------------------------------------
    def step(self, A: Arith, state: Values, action: Any, fresh: bool = False) -> Values:
        """One gymnasium step.  ``fresh``: the state was set by reset (float64-typed)."""
        raise NotImplementedError

    def observe(self, A: Arith, state: Values) -> Values:
        """The float32 observation the policy sees, as float64 values."""
        raise NotImplementedError

    def configure_env(self, env: Any) -> None:
        """Write the parameters into an unwrapped gymnasium environment."""
        for name, value in self.params.items():
            setattr(env, name, value)

    def env_state(self, state: np.ndarray, fresh: bool) -> np.ndarray:
        """The array to store in ``env.unwrapped.state`` for ``state``."""
        return np.array(state, dtype=np.float64)

    def env_action(self, action: float) -> Any:
        """What ``env.step`` receives for the policy's action value."""
        if self.discrete_actions:
            return int(action)
        return np.array([action], dtype=np.float32)

    @property
    def n(self) -> int:
        return len(self.state_names)

    # -- derived ----------------------------------------------------------------------
    def concrete_step(self, states: np.ndarray, actions: np.ndarray, fresh: bool = False) -> np.ndarray:
        """Vectorized concrete step: ``states`` (N, n) float64, ``actions`` (N,) as the env takes them."""
        act = self.action_value(FLOATS, np.asarray(actions, dtype=np.float64))
        cols = self.step(FLOATS, [states[:, i] for i in range(self.n)], act, fresh)
        return np.stack([np.broadcast_to(c, (states.shape[0],)) for c in cols], axis=1).astype(np.float64)

    def concrete_observe(self, states: np.ndarray) -> np.ndarray:
        """float32 observations of (N, n) states, as float64 values (N, m)."""
        cols = self.observe(FLOATS, [states[:, i] for i in range(self.n)])
        return np.stack([np.broadcast_to(c, (states.shape[0],)) for c in cols], axis=1)

    def action_value(self, A: Arith, action: Any) -> Any:
        """The action as the env's step sees it: float32 for continuous actions."""
        if self.discrete_actions:
            return action
        return A.f32(action)

    def box_step(
        self, lo: np.ndarray, hi: np.ndarray, alo: Any, ahi: Any, fresh: bool = False, rigorous: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Enclosure of every float64 successor of the boxes [lo, hi] (N, n) under actions
        in [alo, ahi] (policy outputs, before the float32 cast for continuous actions)."""
        A = RIGOROUS if rigorous else BOXES
        act = self.action_value(A, (np.asarray(alo, dtype=np.float64), np.asarray(ahi, dtype=np.float64)))
        cols = self.step(A, [(lo[:, i], hi[:, i]) for i in range(self.n)], act, fresh)
        n = lo.shape[0]
        out_lo = np.stack([np.broadcast_to(c[0], (n,)) for c in cols], axis=1).astype(np.float64)
        out_hi = np.stack([np.broadcast_to(c[1], (n,)) for c in cols], axis=1).astype(np.float64)
        return out_lo, out_hi

    def box_observe(self, lo: np.ndarray, hi: np.ndarray, rigorous: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Enclosure of the float32 observations of the boxes [lo, hi] (N, n): (N, m) pairs."""
        A = RIGOROUS if rigorous else BOXES
        cols = self.observe(A, [(lo[:, i], hi[:, i]) for i in range(self.n)])
        n = lo.shape[0]
        olo = np.stack([np.broadcast_to(c[0], (n,)) for c in cols], axis=1)
        ohi = np.stack([np.broadcast_to(c[1], (n,)) for c in cols], axis=1)
        return olo, ohi

    def closure(self, dims: set[int]) -> list[int]:
        """The smallest set of state indices containing ``dims`` and closed under the step."""
        out = set(dims)
        changed = True
        while changed:
            changed = False
            for d in list(out):
                for e in self.depends.get(d, (d,)):
                    if e not in out:
                        out.add(e)
                        changed = True
        return sorted(out)

    def make_env(self) -> Any:
        """A fresh, unwrapped gymnasium environment with this model's parameters."""
        try:
            import gymnasium
        except ImportError:
            raise MissingDependencyError("gymnasium", "learn") from None
        env = gymnasium.make(self.env_id).unwrapped
        env.reset(seed=0)
        self.configure_env(env)
        return env

    def env_observation(self, env: Any) -> np.ndarray:
        """The observation the environment would hand the policy in its current state."""
        return np.array(env.state, dtype=np.float32)
