"""One step of look-ahead on a proved invariant: which actions keep the successor inside.

The invariant (alive grid cells, proved inductive for the fallback program and certified)
is turned into a table: for every alive cell and every action, does *every* state of the
cell step into the invariant under that action (a sound box step)?  At run time
:meth:`LookaheadTable.check` finds the cells the float32 observation may come from and
allows the proposed action only when the table allows it in all of them — a table lookup,
not a solver call.  The fallback program's action is allowed in every alive cell (that is
what the proof says), so a shield that substitutes it for a vetoed action never leaves the
invariant from a state inside it.

The run-time shield, :class:`saferl.shield.Shield`, uses these tables whenever its spec has
a ``safety`` property with a dynamics model (see docs/shield.md).

Example (CartPole, with the proved ``pole_only.pol`` as the fallback)::

    table = LookaheadTable.prove(load_policy("policies/cartpole/pole_only.pol"), prop)
    table.check(obs.tolist(), 0)     # 0: allowed, 1: the successor may leave, 2: outside
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from saferl.closedloop.engine import ClosedLoopOptions, ClosedLoopOutcome, check_property
from saferl.closedloop.invariant import Grid, state_boxes
from saferl.dynamics import make_model
from saferl.dynamics.base import Model
from saferl.errors import InputError, UnsupportedError
from saferl.policy.ast import Program
from saferl.results import Verdict
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["LookaheadTable", "ALLOWED", "VETOED", "OUTSIDE", "check_env_matches"]

ALLOWED, VETOED, OUTSIDE = 0, 1, 2
#: |x - float32(x)| <= |float32(x)| * 2**-24 for normal values; twice that, plus the
#: smallest subnormal, bounds where a state observed as ``o`` can lie
_REL = 2.0**-23
_ABS = 2.0**-149


class LookaheadTable:
    """Allowed actions per invariant cell, for a discrete-action model.

    ``prop_id`` names the property whose invariant this is (the shield reports it).
    """

    def __init__(self, model: Model, program: Program, grid: Grid, prop_id: str = ""):
        if not model.discrete_actions:
            raise UnsupportedError(f"the look-ahead shield supports discrete actions; {model.env_id} has a continuous one")
        obs_of = {s: o for o, s in model.direct_obs.items()}
        if any(d not in obs_of for d in grid.dims):
            raise UnsupportedError(f"the invariant's variables are not all observed directly in {model.env_id}")
        self.model, self.program, self.grid, self.prop_id = model, program, grid, prop_id
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
        # per cell: -1 outside the invariant, else a bit mask of the allowed actions
        bits = (self.allowed * (1 << np.arange(len(self.actions)))).sum(axis=1)
        self._code: list[int] = np.where(alive, bits, -1).tolist()
        self._bit = {a: 1 << k for k, a in enumerate(self.actions)}
        self._dims = list(zip(self.obs_index, self.edges, self.shape, strict=True))

    @classmethod
    def from_outcome(cls, program: Program, prop: ClosedLoopProperty, outcome: ClosedLoopOutcome) -> LookaheadTable:
        """The table of a SAFE outcome of ``check_property`` that carries an invariant."""
        if outcome.result.verdict is not Verdict.SAFE or outcome.invariant is None:
            raise InputError(f"no proved invariant for {program.name!r} and {prop.id!r}: {outcome.result.message}")
        return cls(make_model(prop.dynamics, prop.parameters), program, outcome.invariant, prop.id)

    @classmethod
    def prove(cls, program: Program, prop: ClosedLoopProperty, options: ClosedLoopOptions | None = None) -> LookaheadTable:
        """Prove ``prop`` (a ``safety`` property) for ``program`` with an inductive invariant
        and build its table; InputError when no invariant is proved."""
        if prop.kind != "safety":
            raise InputError(f"property {prop.id!r}: the look-ahead shield needs a 'safety' property, not {prop.kind!r}")
        return cls.from_outcome(program, prop, check_property(program, prop, options))

    def cells(self, obs: Sequence[float]) -> list[int] | None:
        """Flat indices of the cells a state with float32 observation ``obs`` may lie in
        (None when some may lie outside the invariant's grid)."""
        flat = [0]
        for oi, e, size in self._dims:
            o = float(obs[oi])
            u = abs(o) * _REL + _ABS
            a, b = o - u, o + u
            if not (a >= e[0] and b < e[-1]):  # NaN and infinities fail too
                return None
            first, last = bisect_right(e, a) - 1, bisect_right(e, b) - 1
            flat = [k * size + c for k in flat for c in range(first, last + 1)]
        return flat

    def check(self, obs: Sequence[float], action: int) -> int:
        """:data:`ALLOWED` when every state observed as ``obs`` steps into the invariant
        under ``action``, :data:`OUTSIDE` when such a state may lie outside the invariant,
        else :data:`VETOED`."""
        k = 0
        for oi, e, size in self._dims:  # the common case: one cell per dimension
            o = float(obs[oi])
            u = (o if o >= 0.0 else -o) * _REL + _ABS
            a = o - u
            if not a >= e[0]:
                return OUTSIDE
            c = bisect_right(e, a) - 1
            if c + 1 >= len(e) or not o + u < e[c + 1]:
                break  # an edge (or the grid's end) within rounding: every cell it may be in
            k = k * size + c
        else:
            m = self._code[k]
            if m < 0:
                return OUTSIDE
            return ALLOWED if m & self._bit.get(action, 0) else VETOED
        cells = self.cells(obs)
        if cells is None:
            return OUTSIDE
        code = self._code
        mask = -1
        for c in cells:
            m = code[c]
            if m < 0:
                return OUTSIDE
            mask &= m
        return ALLOWED if mask & self._bit.get(action, 0) else VETOED


def check_env_matches(env: Any, prop: ClosedLoopProperty) -> None:
    """The environment must be the property's model: same id, same physical parameters."""
    spec = getattr(env, "spec", None)
    env_id = getattr(spec, "id", None)
    if env_id != prop.dynamics:
        raise InputError(
            f"property {prop.id!r} is proved for {prop.dynamics}; the environment is {env_id or type(env).__name__}"
        )
    model = make_model(prop.dynamics, prop.parameters)
    base = getattr(env, "unwrapped", env)
    for name, value in model.params.items():
        have = getattr(base, name, None)
        if isinstance(have, int | float) and float(have) != value:
            raise InputError(
                f"property {prop.id!r} is proved with {name} = {value!r}; the environment has {name} = {have!r}"
            )
