"""Affine arithmetic over the initial set: each state variable is ``c + G·ε + r`` with
ε ∈ [-1, 1]^k (the initial box's free coordinates, plus one fresh symbol per variable for the
errors of each step) and an interval remainder ``r``.  Correlations between variables survive
a step, so rotating dynamics (MountainCar's valley, CartPole's pole) do not blow boxes up the
way intervals do (the wrapping effect).

Soundness: each operation's linear part is computed in float64 and every error — the
operation's own rounding as gymnasium does it, the rounding of the coefficients, the
linearisation remainder of sin/cos/1/y (bounded by the second derivative), libm's error,
float32 rounding — is added to ``r`` with a relative slack of 2^-46 of the magnitudes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from saferl.dynamics.arith import Arith

__all__ = ["AF", "AffineArith", "AFFINE"]

_SLACK = 2.0**-46
_TINY = 1e-300
_LIBM = 2.0**-49  # absolute bound on libm's sin/cos error (|value| <= 1, a few ulps)


@dataclass
class AF:
    """``c + G·ε + [lo, hi]``; ``G`` None means no symbol.  Arrays broadcast over pieces."""

    c: Any
    G: Any
    lo: Any
    hi: Any

    def radius(self) -> Any:
        return 0.0 if self.G is None else np.sum(np.abs(self.G), axis=-1)

    def hull(self) -> tuple[Any, Any]:
        rad = self.radius()
        lo = self.c - rad + self.lo
        hi = self.c + rad + self.hi
        # c - rad + lo rounds; an exact point (no symbol, no remainder) does not
        inexact = (rad != 0) | (np.asarray(self.lo) != 0) | (np.asarray(self.hi) != 0)
        mag = (np.abs(self.c) + rad + np.maximum(np.abs(self.lo), np.abs(self.hi))) * inexact
        return lo - _SLACK * mag, hi + _SLACK * mag


def _mag(c: Any, G: Any, lo: Any, hi: Any) -> Any:
    rad = 0.0 if G is None else np.sum(np.abs(G), axis=-1)
    return np.abs(c) + rad + np.maximum(np.abs(lo), np.abs(hi))


def _make(c: Any, G: Any, lo: Any, hi: Any, extra: Any = 0.0) -> AF:
    """A value with the rounding slack (and ``extra``, an error bound) added to its remainder."""
    with np.errstate(invalid="ignore", over="ignore"):
        e = _SLACK * _mag(c, G, lo, hi) + _TINY + extra
        lo, hi = lo - e, hi + e
        bad = ~np.isfinite(np.asarray(c)) | ~np.isfinite(lo) | ~np.isfinite(hi)
    if np.any(bad):
        lo = np.where(bad, -np.inf, lo)
        hi = np.where(bad, np.inf, hi)
        c = np.where(bad, 0.0, c)
    return AF(c, G, lo, hi)


def _as(a: Any) -> AF:
    if isinstance(a, AF):
        return a
    return AF(np.float64(a), None, np.float64(0.0), np.float64(0.0))


def _addG(g1: Any, g2: Any, s: float = 1.0) -> Any:
    if g1 is None:
        return None if g2 is None else s * g2
    if g2 is None:
        return g1
    return g1 + s * g2


def _scaleG(g: Any, f: Any) -> Any:
    return None if g is None else g * np.asarray(f)[..., None]


def _imul(al: Any, ah: Any, bl: Any, bh: Any) -> tuple[Any, Any]:
    with np.errstate(invalid="ignore", over="ignore"):
        ps = [al * bl, al * bh, ah * bl, ah * bh]
    lo = np.minimum(np.minimum(ps[0], ps[1]), np.minimum(ps[2], ps[3]))
    hi = np.maximum(np.maximum(ps[0], ps[1]), np.maximum(ps[2], ps[3]))
    nan = np.isnan(lo) | np.isnan(hi)
    return np.where(nan, -np.inf, lo), np.where(nan, np.inf, hi)


class AffineArith(Arith):
    """The affine arithmetic, in the interface the models' steps are written against."""

    name = "affine"

    def const(self, c: float) -> AF:
        return _as(c)

    def add(self, a: Any, b: Any) -> AF:
        a, b = _as(a), _as(b)
        return _make(a.c + b.c, _addG(a.G, b.G), a.lo + b.lo, a.hi + b.hi)

    def sub(self, a: Any, b: Any) -> AF:
        a, b = _as(a), _as(b)
        return _make(a.c - b.c, _addG(a.G, b.G, -1.0), a.lo - b.hi, a.hi - b.lo)

    def mul(self, a: Any, b: Any) -> AF:
        a, b = _as(a), _as(b)
        ra, rb = a.radius(), b.radius()
        G = _addG(_scaleG(b.G, a.c), _scaleG(a.G, b.c))
        # L1*L2 + (c1 + L1) r2 + (c2 + L2) r1 + r1 r2
        nl_lo, nl_hi = -(ra * rb), ra * rb
        x_lo, x_hi = _imul(a.c - ra, a.c + ra, b.lo, b.hi)
        y_lo, y_hi = _imul(b.c - rb, b.c + rb, a.lo, a.hi)
        z_lo, z_hi = _imul(a.lo, a.hi, b.lo, b.hi)
        return _make(a.c * b.c, G, nl_lo + x_lo + y_lo + z_lo, nl_hi + x_hi + y_hi + z_hi)

    def square(self, a: Any) -> AF:
        return self.mul(a, a)

    def _linear(self, a: AF, f0: Any, f1: Any, rem_lo: Any, rem_hi: Any) -> AF:
        """f(c + t) = f0 + f1·t + [rem]  with t = G·ε + r."""
        r_lo, r_hi = _imul(np.asarray(f1), np.asarray(f1), a.lo, a.hi)
        return _make(f0, _scaleG(a.G, f1), r_lo + rem_lo, r_hi + rem_hi)

    def div(self, a: Any, b: Any) -> AF:
        b = _as(b)
        lo, hi = b.hull()
        c = b.c
        t = b.radius() + np.maximum(np.abs(b.lo), np.abs(b.hi))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            bad = (lo <= 0) & (hi >= 0)
            cc = np.where(bad, 1.0, c)
            near = np.where(bad, 1.0, np.minimum(np.abs(lo), np.abs(hi)))
            # 1/y = 1/c - (y-c)/c^2 + (y-c)^2/(c^2 y)
            rem = t * t / (cc * cc * near)
            rem_lo = np.where(cc > 0, 0.0, -rem)
            rem_hi = np.where(cc > 0, rem, 0.0)
            inv = self._linear(b, 1.0 / cc, -1.0 / (cc * cc), rem_lo, rem_hi)
        inv.lo = np.where(bad, -np.inf, inv.lo)
        inv.hi = np.where(bad, np.inf, inv.hi)
        return self.mul(a, inv)

    def sin(self, a: Any) -> AF:
        a = _as(a)
        t = a.radius() + np.maximum(np.abs(a.lo), np.abs(a.hi))
        r = np.minimum(t * t / 2, 2.0) + _LIBM
        return self._linear(a, np.sin(a.c), np.cos(a.c), -r, r)

    def cos(self, a: Any) -> AF:
        a = _as(a)
        t = a.radius() + np.maximum(np.abs(a.lo), np.abs(a.hi))
        r = np.minimum(t * t / 2, 2.0) + _LIBM
        return self._linear(a, np.cos(a.c), -np.sin(a.c), -r, r)

    def f32(self, a: Any) -> AF:
        a = _as(a)
        m = _mag(a.c, a.G, a.lo, a.hi)
        exact = (a.G is None) & (np.asarray(a.lo) == 0) & (np.asarray(a.hi) == 0)
        c32 = np.asarray(a.c, dtype=np.float64).astype(np.float32).astype(np.float64)
        if np.all(exact):
            return AF(c32, None, np.float64(0.0), np.float64(0.0))
        return _make(a.c, a.G, a.lo, a.hi, extra=2.0**-24 * m + 2.0**-149)

    # comparisons on the hull; a selection that cannot decide keeps both (as an interval)
    def _cmp(self, a: Any, c: float, op: str) -> tuple[Any, Any]:
        lo, hi = _as(a).hull()
        if op == ">":
            return lo > c, hi > c
        if op == "<":
            return hi < c, lo < c
        return (lo == c) & (hi == c), (lo <= c) & (hi >= c)

    def gt(self, a: Any, c: float) -> Any:
        return self._cmp(a, c, ">")

    def lt(self, a: Any, c: float) -> Any:
        return self._cmp(a, c, "<")

    def eq(self, a: Any, c: float) -> Any:
        return self._cmp(a, c, "==")

    def and_(self, p: Any, q: Any) -> Any:
        return (p[0] & q[0], p[1] & q[1])

    def not_(self, p: Any) -> Any:
        return (~p[1], ~p[0])

    def select(self, cond: Any, a: Any, b: Any) -> AF:
        must, may = cond
        a, b = _as(a), _as(b)
        if np.all(must):
            return a
        if not np.any(may):
            return b
        if np.all(must | ~may):
            return _pick(must, a, b)
        al, ah = a.hull()
        bl, bh = b.hull()
        mixed = may & ~must
        both = AF(np.float64(0.0), None, np.minimum(al, bl), np.maximum(ah, bh))
        return _pick(must, a, _pick(mixed, both, b))

    def clip(self, a: Any, lo: float, hi: float) -> AF:
        a = _as(a)
        hl, hh = a.hull()
        inside = (hl >= lo) & (hh <= hi)
        if np.all(inside):
            return a
        n = np.broadcast_shapes(np.shape(hl), np.shape(hh))
        cut = AF(np.float64(0.0), None, np.broadcast_to(np.clip(hl, lo, hi), n), np.broadcast_to(np.clip(hh, lo, hi), n))
        return _pick(np.broadcast_to(inside, n), a, cut)


def _pick(mask: Any, a: AF, b: AF) -> AF:
    """Per piece: ``a`` where mask, else ``b``."""
    k = None
    for g in (a.G, b.G):
        if g is not None:
            k = g.shape[-1]
    n = np.shape(mask)[0] if np.ndim(mask) else 1
    if k is None:
        G = None
    else:
        ga = a.G if a.G is not None else np.zeros((n, k))
        gb = b.G if b.G is not None else np.zeros((n, k))
        G = np.where(np.asarray(mask)[..., None], np.broadcast_to(ga, (n, k)), np.broadcast_to(gb, (n, k)))
    return AF(np.where(mask, a.c, b.c), G, np.where(mask, a.lo, b.lo), np.where(mask, a.hi, b.hi))


AFFINE = AffineArith()


# -- a set of pieces: the state as affine forms over per-piece symbols ------------------

@dataclass
class Pieces:
    """N pieces of an n-variable state: centres (N, n), generators (N, n, k), remainders (N, n)."""

    C: np.ndarray
    G: np.ndarray
    LO: np.ndarray
    HI: np.ndarray

    @property
    def count(self) -> int:
        return int(self.C.shape[0])

    def var(self, d: int) -> AF:
        return AF(self.C[:, d], self.G[:, d, :], self.LO[:, d], self.HI[:, d])

    def state(self) -> list[AF]:
        return [self.var(d) for d in range(self.C.shape[1])]

    def hull(self) -> tuple[np.ndarray, np.ndarray]:
        rad = np.sum(np.abs(self.G), axis=2)
        inexact = (rad != 0) | (self.LO != 0) | (self.HI != 0)
        mag = (np.abs(self.C) + rad + np.maximum(np.abs(self.LO), np.abs(self.HI))) * inexact
        return self.C - rad + self.LO - _SLACK * mag, self.C + rad + self.HI + _SLACK * mag

    def take(self, idx: Any) -> Pieces:
        return Pieces(self.C[idx], self.G[idx], self.LO[idx], self.HI[idx])

    @staticmethod
    def concat(parts: list[Pieces]) -> Pieces:
        k = max(p.G.shape[2] for p in parts)
        gs = [np.pad(p.G, ((0, 0), (0, 0), (0, k - p.G.shape[2]))) for p in parts]
        return Pieces(np.concatenate([p.C for p in parts]), np.concatenate(gs),
                      np.concatenate([p.LO for p in parts]), np.concatenate([p.HI for p in parts]))

    @staticmethod
    def from_boxes(lo: np.ndarray, hi: np.ndarray) -> Pieces:
        """One symbol per dimension where some box is wide."""
        wide = [d for d in range(lo.shape[1]) if np.any(hi[:, d] > lo[:, d])]
        n = lo.shape[1]
        mid = lo + (hi - lo) / 2
        half = (hi - lo) / 2
        G = np.zeros((lo.shape[0], n, max(1, len(wide))))
        for j, d in enumerate(wide):
            G[:, d, j] = half[:, d]
        err = np.where(hi > lo, _SLACK * (np.abs(mid) + np.abs(half)) + _TINY, 0.0)
        return Pieces(mid, G, -err, err)

    @staticmethod
    def from_state(afs: list[AF], n: int) -> Pieces:
        k = max((a.G.shape[-1] for a in afs if a.G is not None), default=1)
        C = np.stack([np.broadcast_to(a.c, (n,)) for a in afs], axis=1)
        G = np.stack([np.zeros((n, k)) if a.G is None else np.broadcast_to(a.G, (n, k)) for a in afs], axis=1)
        LO = np.stack([np.broadcast_to(a.lo, (n,)) for a in afs], axis=1)
        HI = np.stack([np.broadcast_to(a.hi, (n,)) for a in afs], axis=1)
        return Pieces(C.copy(), G.copy(), LO.copy(), HI.copy())

    def split(self, idx: np.ndarray, var: np.ndarray | int, scale: np.ndarray | None = None) -> Pieces:
        """Bisect pieces ``idx`` along their largest symbol of variable ``var`` (or, with
        ``scale``, the symbol that moves all variables most relative to ``scale``)."""
        sub = self.take(idx)
        v = np.broadcast_to(np.asarray(var), (len(idx),))
        if scale is not None:
            j = np.argmax(np.sum(np.abs(sub.G) / scale[None, :, None], axis=1), axis=1)
        else:
            j = np.argmax(np.abs(sub.G[np.arange(len(idx)), v, :]), axis=1)
        col = sub.G[np.arange(len(idx)), :, j]  # (m, n)
        halves = []
        for sign in (-0.5, 0.5):
            C = sub.C + sign * col
            G = sub.G.copy()
            G[np.arange(len(idx)), :, j] = col / 2
            err = _SLACK * (np.abs(C) + np.abs(col)) + _TINY
            halves.append(Pieces(C, G, sub.LO - err, sub.HI + err))
        keep = np.ones(self.count, dtype=bool)
        keep[idx] = False
        return Pieces.concat([self.take(keep), *halves])

    def fresh_symbols(self, first_error: int, max_error: int) -> Pieces:
        """Move each remainder into a new symbol; past ``max_error`` error symbols, collapse them."""
        mid = self.LO + (self.HI - self.LO) / 2
        rad = (self.HI - self.LO) / 2
        N, n, _ = self.G.shape
        new = np.zeros((N, n, n))
        new[:, np.arange(n), np.arange(n)] = rad
        G = np.concatenate([self.G, new], axis=2)
        if G.shape[2] - first_error > max_error:
            collapsed = np.sum(np.abs(G[:, :, first_error:]), axis=2)
            diag = np.zeros((N, n, n))
            diag[:, np.arange(n), np.arange(n)] = collapsed
            G = np.concatenate([G[:, :, :first_error], diag], axis=2)
        C = self.C + mid
        err = _SLACK * (np.abs(C) + np.sum(np.abs(G), axis=2)) + _TINY
        ok = np.isfinite(C) & np.isfinite(rad)
        return Pieces(np.where(ok, C, 0.0), np.where(ok[..., None], G, 0.0), np.where(ok, -err, -np.inf), np.where(ok, err, np.inf))
