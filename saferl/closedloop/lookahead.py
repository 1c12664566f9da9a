"""A shield that looks one step ahead on a proved invariant.

The invariant (alive grid cells, proved inductive for the fallback program and certified)
is turned into a table: for every alive cell and every action, does *every* state of the
cell step into the invariant under that action (a sound box step)?  At run time the shield
finds the cells the float32 observation may come from and executes the proposed action
only when the table allows it in all of them; otherwise it executes the fallback program's
action, whose successor is in the invariant by the proof.  So from any state in the
invariant the shielded system never leaves it — a table lookup, not a solver call.

Example (CartPole, with the proved ``pole_only.pol`` as the fallback)::

    table = LookaheadTable.prove(load_policy("policies/cartpole/pole_only.pol"), prop)
    env = LookaheadShield(gymnasium.make("CartPole-v1"), table)
    obs, info = env.reset(seed=0)
    obs, r, term, trunc, info = env.step(0)      # info["saferl"].check == "lookahead"
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.closedloop.engine import ClosedLoopOptions, check_property
from saferl.closedloop.invariant import Grid, state_boxes
from saferl.dynamics import make_model
from saferl.dynamics.base import Model
from saferl.errors import InputError, UnsupportedError
from saferl.policy.ast import Program
from saferl.policy.evaluate import ProgramPolicy
from saferl.results import Verdict
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["LookaheadRecord", "LookaheadTable", "LookaheadShield"]


@dataclass(frozen=True)
class LookaheadRecord:
    """What the look-ahead shield did on one step (``info["saferl"]``).

    ``check``: ``"lookahead"`` (the proposed action's successor stays in the invariant),
    ``"fallback"`` (it might not: the fallback's action ran) or ``"outside"`` (the state
    is not in the invariant: the fallback's action ran, and nothing is guaranteed).
    """

    check: str
    proposed: int
    executed: int
    intervened: bool


class LookaheadTable:
    """Allowed actions per invariant cell, for a discrete-action model."""

    def __init__(self, model: Model, program: Program, grid: Grid):
        if not model.discrete_actions:
            raise UnsupportedError("the look-ahead shield supports discrete actions")
        obs_of = {s: o for o, s in model.direct_obs.items()}
        if any(d not in obs_of for d in grid.dims):
            raise UnsupportedError(f"the invariant's variables are not all observed directly in {model.env_id}")
        self.model, self.program, self.grid = model, program, grid
        self.obs_index = [obs_of[d] for d in grid.dims]
        self.edges = [e.tolist() for e in grid.edges]
        self.shape = grid.shape
        self.actions = tuple(model.discrete_actions)
        alive = grid.alive
        lo, hi = grid.cell_bounds()
        idx = np.flatnonzero(alive)
        slo, shi = state_boxes(model, grid, lo[idx], hi[idx])
        self.allowed = np.zeros((grid.cells, len(self.actions)), dtype=bool)
        alive_grid = alive.reshape(grid.shape)
        for k, a in enumerate(self.actions):
            ilo, ihi = model.box_step(slo, shi, np.full(idx.size, float(a)), np.full(idx.size, float(a)))
            first, last, out = grid.index_ranges(ilo[:, grid.dims], ihi[:, grid.dims])
            ok = ~out
            for i in np.flatnonzero(ok):
                sl = tuple(slice(first[i, j], last[i, j] + 1) for j in range(len(grid.dims)))
                ok[i] = bool(alive_grid[sl].all())
            self.allowed[idx, k] = ok
        self.alive = alive.copy()
        self.fallback = ProgramPolicy(program)

    @classmethod
    def prove(cls, program: Program, prop: ClosedLoopProperty, options: ClosedLoopOptions | None = None) -> LookaheadTable:
        """Prove ``prop`` (safety, forever) for ``program`` and build its table."""
        if prop.kind != "safety" or prop.steps is not None:
            raise InputError(f"property {prop.id!r}: the look-ahead shield needs a 'safety' property with 'horizon: forever'")
        out = check_property(program, prop, options)
        if out.result.verdict is not Verdict.SAFE or out.invariant is None:
            raise InputError(f"no proved invariant for {program.name!r} and {prop.id!r}: {out.result.message}")
        return cls(make_model(prop.dynamics, prop.parameters), program, out.invariant)

    def cells(self, obs: Any) -> list[int] | None:
        """Flat indices of the cells a state with float32 observation ``obs`` may lie in
        (None when some may lie outside the invariant's grid)."""
        ranges = []
        for j, oi in enumerate(self.obs_index):
            o = float(obs[oi])
            u = math.ulp(float(np.float32(o))) if math.isfinite(o) else math.inf
            e = self.edges[j]
            a, b = o - u, o + u
            if not (a >= e[0] and b < e[-1]):
                return None
            ranges.append(range(bisect.bisect_right(e, a) - 1, bisect.bisect_right(e, b)))
        flat = []
        for combo in _product(ranges):
            k = 0
            for j, c in enumerate(combo):
                k = k * self.shape[j] + c
            flat.append(k)
        return flat

    def decide(self, obs: Any, proposed: int) -> LookaheadRecord:
        """The action to execute for ``proposed`` in the state observed as ``obs``."""
        cells = self.cells(obs)
        k = self.actions.index(int(proposed)) if int(proposed) in self.actions else -1
        if cells is None or not all(self.alive[c] for c in cells):
            a = int(self.fallback.act(obs))
            return LookaheadRecord("outside", int(proposed), a, a != int(proposed))
        if k >= 0 and all(self.allowed[c, k] for c in cells):
            return LookaheadRecord("lookahead", int(proposed), int(proposed), False)
        a = int(self.fallback.act(obs))
        return LookaheadRecord("fallback", int(proposed), a, a != int(proposed))


def _product(ranges: list[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for r in ranges:
        out = [t + (c,) for t in out for c in r]
    return out


def _wrapper_base() -> type:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium ships with the learn extra
        return object
    return gymnasium.Wrapper  # type: ignore[no-any-return]


class LookaheadShield(_wrapper_base()):  # type: ignore[misc]
    """A gymnasium wrapper executing only actions whose successor stays in the invariant."""

    def __init__(self, env: Any, table: LookaheadTable):
        super().__init__(env)
        self.table = table
        self._obs: Any = None
        self.interventions = 0

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self._obs = obs
        return obs, info

    def step(self, action: Any) -> Any:
        record = self.table.decide(self._obs, int(action))
        self.interventions += int(record.intervened)
        obs, reward, terminated, truncated, info = self.env.step(record.executed)
        self._obs = obs
        info = dict(info)
        info["saferl"] = record
        return obs, reward, terminated, truncated, info
