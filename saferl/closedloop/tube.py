"""Bounded proofs with affine pieces of the initial set (see :mod:`saferl.closedloop.affine`).

Each step: check the property on every piece's hull; where the policy's tests cannot be
decided on a piece, bisect the piece along the symbol that moves the tested variable most
(a few rounds), and otherwise run every possible branch (one successor piece per branch);
then one model step in affine arithmetic, the step's errors moved into fresh symbols.
"""

from __future__ import annotations

import time

import numpy as np

from saferl.closedloop.affine import AF, AFFINE, Pieces
from saferl.closedloop.bounded import BoundedOutcome, initial_boxes
from saferl.closedloop.condition import cond_boxes
from saferl.closedloop.policybox import Guard, guards, leaves_on_boxes
from saferl.dynamics.base import Model
from saferl.policy.ast import BinOp, Call, Expr, Label, Neg, Num, Obs, Program
from saferl.spec.closedloop import ClosedLoopProperty

__all__ = ["propagate_affine"]

SPLIT_ROUNDS = 1
REFINE_ROUNDS = 4
MAX_ERROR_SYMBOLS_PER_VAR = 6


def _obs_hull(model: Model, pieces: Pieces) -> tuple[np.ndarray, np.ndarray]:
    obs = model.observe(AFFINE, pieces.state())
    n = pieces.count
    hulls = [o.hull() if isinstance(o, AF) else (o, o) for o in obs]
    olo = np.stack([np.broadcast_to(h[0], (n,)) for h in hulls], axis=1)
    ohi = np.stack([np.broadcast_to(h[1], (n,)) for h in hulls], axis=1)
    return olo, ohi


def _ambiguous_var(model: Model, tests: list[Guard], olo: np.ndarray, ohi: np.ndarray, amb: np.ndarray) -> np.ndarray:
    """For each ambiguous piece: the state variable of a direct test it cannot decide (-1: none)."""
    var = np.full(olo.shape[0], -1)
    for g in tests:
        lo, hi = olo[:, g.obs_index], ohi[:, g.obs_index]
        straddle = (lo <= g.value) & (hi >= g.value) & (lo < hi)
        var = np.where((var < 0) & straddle & amb, model.direct_obs[g.obs_index], var)
    return var


def propagate_affine(
    model: Model, program: Program, prop: ClosedLoopProperty, *, steps: int, deadline: float,
    pieces: int = 256, width_limit: np.ndarray | None = None, max_pieces: int = 200_000, keep_tube: bool = False,
) -> BoundedOutcome:
    """Propagate the initial set ``steps`` steps (safety) or until the goal (reach)."""
    lo0, hi0 = initial_boxes(prop, pieces)
    P = Pieces.from_boxes(lo0, hi0)
    first_error = P.G.shape[2]
    names = model.state_names
    limit = np.full(model.n, np.inf) if width_limit is None else np.asarray(width_limit)
    tests = [g for g in guards(program) if g.obs_index in model.direct_obs]
    explored = 0
    tube: list[tuple[np.ndarray, np.ndarray]] = []
    for t in range(steps + 1):
        lo, hi = P.hull()
        explored += P.count
        if keep_tube:
            tube.append((lo.min(axis=0), hi.max(axis=0)))
        cols = {name: (lo[:, i], hi[:, i]) for i, name in enumerate(names)}
        if prop.kind == "safety":
            must, _ = cond_boxes(prop.always, cols)  # type: ignore[arg-type]
            if not np.all(must):
                return BoundedOutcome(False, t, explored, f"a set at step {t} may violate 'always'", tube)
            if t == steps:
                return BoundedOutcome(True, t + 1, explored, "", tube)
        else:
            goal, _ = cond_boxes(prop.eventually, cols)  # type: ignore[arg-type]
            rest = ~np.broadcast_to(goal, (P.count,))
            if prop.avoid is not None:
                _, may_avoid = cond_boxes(prop.avoid, cols)
                if np.any(np.broadcast_to(may_avoid, rest.shape) & rest):
                    return BoundedOutcome(False, t, explored, f"a set at step {t} may enter 'avoid'", tube)
            P = P.take(rest)
            if P.count == 0:
                return BoundedOutcome(True, t, explored, "", tube)
            if t == steps:
                return BoundedOutcome(False, t, explored, f"{P.count} sets have not reached the goal after {steps} steps", tube)
        if time.perf_counter() > deadline:
            return BoundedOutcome(False, t, explored, "out of time", tube)
        # split on the policy's tests
        for _ in range(SPLIT_ROUNDS):
            olo, ohi = _obs_hull(model, P)
            leaves = leaves_on_boxes(program, olo, ohi)
            count = np.sum([lf.possible for lf in leaves], axis=0)
            var = _ambiguous_var(model, tests, olo, ohi, count > 1)
            # only where a symbol (not the remainder) makes the test undecided
            vv = np.maximum(var, 0)
            rows = np.arange(P.count)
            coef = np.max(np.abs(P.G[rows, vv, :]), axis=1)
            rem = (P.HI[rows, vv] - P.LO[rows, vv]) / 2
            idx = np.flatnonzero((var >= 0) & (coef > rem))
            if idx.size == 0 or P.count + idx.size > max_pieces:
                break
            P = P.split(idx, var[idx])
        if P.count > max_pieces:
            return BoundedOutcome(False, t, explored, f"more than {max_pieces} sets at step {t}", tube)
        stepped = _step(model, program, P, t == 0, limit, deadline, max_pieces)
        if stepped is None:
            return BoundedOutcome(False, t + 1, explored, "out of time or sets at the next step", tube)
        P = _merge_boxy(stepped, first_error, limit)
        P = P.fresh_symbols(first_error, MAX_ERROR_SYMBOLS_PER_VAR * model.n)
    return BoundedOutcome(True, steps + 1, explored, "", tube)  # pragma: no cover - loop returns


def _step(
    model: Model, program: Program, P: Pieces, fresh: bool, limit: np.ndarray, deadline: float, max_pieces: int,
) -> Pieces | None:
    """One step of every piece under every branch the policy may take; a piece whose image
    comes out wider than ``limit`` is bisected and stepped again (a few rounds).  None when
    the deadline passes or the pieces outgrow ``max_pieces``."""
    done: list[Pieces] = []
    todo = P
    for r in range(REFINE_ROUNDS + 1):
        if time.perf_counter() > deadline or todo.count + sum(d.count for d in done) > max_pieces:
            return None
        olo, ohi = _obs_hull(model, todo)
        again: list[np.ndarray] = []
        stepped: list[tuple[np.ndarray, Pieces]] = []
        worst = np.zeros(todo.count, dtype=np.int64)
        for leaf in leaves_on_boxes(program, olo, ohi):
            sel = np.flatnonzero(leaf.possible)
            sub = todo.take(sel)
            a_lo, a_hi = leaf.low[sel], leaf.high[sel]
            if np.any(a_hi > a_lo) and leaf.expr is not None:
                # keep the action's dependence on the state: evaluate it in affine arithmetic
                obs = model.observe(AFFINE, sub.state())
                action = _clamp(affine_expr(leaf.expr, dict(zip(program.obs_names, obs, strict=True))), a_lo, a_hi)
            elif np.any(a_hi > a_lo):
                action = AF(a_lo, None, np.zeros_like(a_lo), a_hi - a_lo)
            else:
                action = AF(a_lo, None, 0.0, 0.0)
            nxt = Pieces.from_state(model.step(AFFINE, sub.state(), model.action_value(AFFINE, action), fresh=fresh), sub.count)
            lo, hi = nxt.hull()
            ratio = (hi - lo) / limit[None, :]
            plo, phi = sub.hull()
            grew = (hi - lo) > 2 * (phi - plo)
            bad = np.any((ratio > 1) & (grew | (ratio > 4)), axis=1) if r < REFINE_ROUNDS else np.zeros(sub.count, dtype=bool)
            done.append(nxt.take(~bad))
            again.append(sel[bad])
            stepped.append((sel, nxt))
            worst[sel[bad]] = np.argmax(ratio[bad], axis=1)
        redo = np.unique(np.concatenate(again)) if again else np.zeros(0, dtype=np.int64)
        if redo.size == 0:
            break
        if r > 0 and redo.size > 0.75 * todo.count:
            # bisection does not help here (a discontinuity of the step): keep the wide images
            for sel, nxt in stepped:
                done.append(nxt.take(np.isin(sel, redo)))
            break
        parents = todo.take(redo)
        todo = parents.split(np.arange(redo.size), worst[redo], scale=limit)
    return Pieces.concat(done)


def _merge_boxy(P: Pieces, first_error: int, limit: np.ndarray) -> Pieces:
    """Pieces that no longer depend on the initial set's symbols (e.g. cars stopped by the
    wall: every start ends in the same state) become their hull boxes, and boxes whose
    centres share a cell of size ``limit / 64`` are joined into one: a sound union that
    keeps such pieces from multiplying."""
    if not np.all(np.isfinite(limit)):
        return P
    init = np.sum(np.abs(P.G[:, :, :first_error]), axis=2)
    boxy = np.all(init == 0, axis=1)
    if boxy.sum() < 2:
        return P
    lo, hi = P.take(boxy).hull()
    key = np.floor(((lo + hi) / 2) / (limit[None, :] / 64)).astype(np.int64)
    _, group = np.unique(key, axis=0, return_inverse=True)
    group = group.ravel()
    m = int(group.max()) + 1
    glo = np.full((m, lo.shape[1]), np.inf)
    ghi = np.full((m, lo.shape[1]), -np.inf)
    np.minimum.at(glo, group, lo)
    np.maximum.at(ghi, group, hi)
    boxes = Pieces.from_boxes(glo, ghi)
    G = np.zeros((m, P.G.shape[1], P.G.shape[2]))
    half = (ghi - glo) / 2
    pad = np.abs(boxes.C) * 2.0**-46 + 1e-300
    return Pieces.concat([P.take(~boxy), Pieces(boxes.C, G, -half - pad, half + pad)])


def _clamp(v: AF, lo: np.ndarray, hi: np.ndarray) -> AF:
    """The affine action, or — where its hull is much wider than the interval evaluation's
    (both enclose the action) — the interval."""
    hl, hh = v.hull()
    bad = (hh - hl) > 1.5 * (hi - lo) + 1e-12
    if not np.any(bad):
        return v
    return AF(np.where(bad, 0.0, v.c), None if v.G is None else np.where(bad[:, None], 0.0, v.G),
              np.where(bad, lo, v.lo), np.where(bad, hi, v.hi))


def affine_expr(e: Expr, obs: dict[str, AF]) -> AF:
    """A policy expression in affine arithmetic (float64 operations, as the runtime)."""
    A = AFFINE
    if isinstance(e, Num | Label):
        return A.const(float(e.value))
    if isinstance(e, Obs):
        return obs[e.name]
    if isinstance(e, Neg):
        return A.sub(A.const(0.0), affine_expr(e.operand, obs))
    if isinstance(e, BinOp):
        a, b = affine_expr(e.left, obs), affine_expr(e.right, obs)
        return {"+": A.add, "-": A.sub, "*": A.mul, "/": A.div}[e.op](a, b)
    if isinstance(e, Call) and e.func == "clip" and isinstance(e.args[1], Num) and isinstance(e.args[2], Num):
        return A.clip(affine_expr(e.args[0], obs), e.args[1].value, e.args[2].value)
    if isinstance(e, Call):
        # abs / min / max / clip with computed bounds: their interval hull
        from saferl.closedloop.policybox import expr_box

        hulls = {name: v.hull() for name, v in obs.items()}
        lo, hi = expr_box(e, hulls)
        return AF(np.float64(0.0), None, lo, hi)
    raise TypeError(f"cannot evaluate {type(e).__name__} in affine arithmetic")
