"""Exact plane geometry on rational points (``fractions.Fraction``); no floats anywhere.

A point is a tuple ``(x, y)`` of Fractions.  A *cone* is a bit mask over the four moves
``L R U D`` (see :data:`MOVE_BITS`): a move ``d = q - p`` is allowed when ``d.x > 0`` needs
``R``, ``d.x < 0`` needs ``L``, ``d.y > 0`` needs ``U`` and ``d.y < 0`` needs ``D``.  The
points reachable from ``p`` in one straight move are therefore an axis-aligned box (a
quadrant, half-plane, strip, ray or the point itself), which is what makes every
computation here exact and cheap.

Example:
    >>> from fractions import Fraction as F
    >>> clip_segment_to_cone((F(0), F(2)), (F(2), F(0)), (F(0), F(0)), cone_from_letters("RU"))
    (Fraction(0, 1), Fraction(1, 1))
"""

from __future__ import annotations

from fractions import Fraction

__all__ = [
    "Point",
    "MOVE_BITS",
    "cone_from_letters",
    "cone_letters",
    "cone_allows",
    "cone_allows_move",
    "cross",
    "lex_order",
    "point_on_segment",
    "clip_segment_to_cone",
    "clip_scaled_to_cone",
    "segment_point",
    "format_fraction",
    "format_point",
    "parse_fraction",
]

Point = tuple[Fraction, Fraction]

L_BIT, R_BIT, U_BIT, D_BIT = 1, 2, 4, 8
#: bit of each move letter in a cone mask
MOVE_BITS: dict[str, int] = {"L": L_BIT, "R": R_BIT, "U": U_BIT, "D": D_BIT}

_ZERO = Fraction(0)
_ONE = Fraction(1)


def cone_from_letters(letters: str) -> int:
    """The cone mask of a string of move letters, e.g. ``"RU"``; raises ValueError otherwise."""
    mask = 0
    for ch in letters.upper():
        if ch not in MOVE_BITS:
            raise ValueError(f"unknown move {ch!r}: moves are L, R, U, D")
        mask |= MOVE_BITS[ch]
    return mask


def cone_letters(mask: int) -> str:
    """The canonical letters of a cone mask in the order ``LRUD`` (``""`` for no move)."""
    return "".join(ch for ch, bit in MOVE_BITS.items() if mask & bit)


def cone_allows(mask: int, p: Point, q: Point) -> bool:
    """Whether the straight move from ``p`` to ``q`` lies in the cone ``mask``."""
    return cone_allows_move(mask, q[0] - p[0], q[1] - p[1])


def cone_allows_move(mask: int, dx: Fraction | int, dy: Fraction | int) -> bool:
    """Whether a move with the signs of ``(dx, dy)`` lies in the cone ``mask``."""
    if dx > 0 and not mask & R_BIT:
        return False
    if dx < 0 and not mask & L_BIT:
        return False
    if dy > 0 and not mask & U_BIT:
        return False
    if dy < 0 and not mask & D_BIT:
        return False
    return True


def cross(o: Point, a: Point, b: Point) -> Fraction:
    """The z-component of ``(a - o) x (b - o)``: > 0 when o, a, b turn counter-clockwise."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def lex_order(a: Point, b: Point) -> tuple[Point, Point]:
    """The two points in lexicographic order (x first, then y)."""
    return (a, b) if a <= b else (b, a)


def point_on_segment(p: Point, a: Point, b: Point) -> bool:
    """Whether ``p`` lies on the closed segment ``[a, b]``."""
    if cross(a, b, p) != 0:
        return False
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segment_point(a: Point, b: Point, s: Fraction) -> Point:
    """The point ``a + s (b - a)``."""
    if s == 0:
        return a
    if s == 1:
        return b
    return (a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))


def _clip_1d(lo: Fraction, hi: Fraction, base: Fraction, slope: Fraction, sign: int) -> tuple[Fraction, Fraction] | None:
    """Restrict ``[lo, hi]`` to the ``s`` with ``sign * (base + slope * s) >= 0``."""
    if sign < 0:
        base, slope = -base, -slope
    if slope == 0:
        return (lo, hi) if base >= 0 else None
    root = -base / slope
    if slope > 0:
        if root > lo:
            lo = root
    elif root < hi:
        hi = root
    return (lo, hi) if lo <= hi else None


def clip_segment_to_cone(
    a: Point, b: Point, p: Point, mask: int, d: Point | None = None
) -> tuple[Fraction, Fraction] | None:
    """The parameters ``[s0, s1]`` of the part of ``[a, b]`` reachable from ``p`` in one move.

    A point ``a + s (b - a)`` is reachable when its difference from ``p`` lies in the cone.
    Returns None when no point of the segment is reachable.  ``d``, if given, must be
    ``b - a`` (callers clipping the same segment many times compute it once).
    """
    dx, dy = (b[0] - a[0], b[1] - a[1]) if d is None else d
    bx = a[0] - p[0]
    by = a[1] - p[1]
    # (base, slope, sign): keep the s with sign * (base + slope * s) >= 0
    checks = []
    if not mask & L_BIT:  # q.x >= p.x
        checks.append((bx, dx, 1))
    if not mask & R_BIT:  # q.x <= p.x
        checks.append((bx, dx, -1))
    if not mask & D_BIT:  # q.y >= p.y
        checks.append((by, dy, 1))
    if not mask & U_BIT:  # q.y <= p.y
        checks.append((by, dy, -1))
    lo, hi = _ZERO, _ONE
    for base, slope, sign in checks:
        rng = _clip_1d(lo, hi, base, slope, sign)
        if rng is None:
            return None
        lo, hi = rng
    return lo, hi


def clip_scaled_to_cone(
    a: tuple[int, int], d: tuple[int, int], p: tuple[int, int], mask: int
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """:func:`clip_segment_to_cone` in integers: ``a``, ``d = b - a`` and ``p`` over one common
    positive denominator; the bounds ``s0, s1`` come back as ``(numerator, denominator)``
    pairs with positive denominators (not reduced)."""
    bx, by = a[0] - p[0], a[1] - p[1]
    dx, dy = d
    lo_n, lo_d, hi_n, hi_d = 0, 1, 1, 1
    # keep the s with base + slope * s >= 0, for each side of the cone that is closed
    for closed, base, slope in ((not mask & L_BIT, bx, dx), (not mask & R_BIT, -bx, -dx),
                                (not mask & D_BIT, by, dy), (not mask & U_BIT, -by, -dy)):
        if not closed:
            continue
        if slope == 0:
            if base < 0:
                return None
            continue
        if slope > 0:  # s >= -base / slope
            if -base * lo_d > lo_n * slope:
                lo_n, lo_d = -base, slope
        elif base * hi_d < hi_n * -slope:  # s <= base / -slope
            hi_n, hi_d = base, -slope
        if lo_n * hi_d > hi_n * lo_d:
            return None
    return (lo_n, lo_d), (hi_n, hi_d)


def format_fraction(x: Fraction) -> str:
    """``3``, ``-3/7``: the exact text of a rational."""
    if x.denominator == 1:
        return str(x.numerator)
    return f"{x.numerator}/{x.denominator}"


def format_point(p: Point) -> str:
    """``(3/7, 2)``."""
    return f"({format_fraction(p[0])}, {format_fraction(p[1])})"


def parse_fraction(text: str) -> Fraction:
    """Parse ``3``, ``-3/7`` or ``0.5`` exactly; raises ValueError on anything else."""
    t = text.strip()
    if not t or any(ch not in "0123456789+-/." for ch in t):
        raise ValueError(f"not an exact rational: {text!r}")
    if "/" in t:
        num, _, den = t.partition("/")
        if not num or not den or "." in t or "/" in den:
            raise ValueError(f"not an exact rational: {text!r}")
        d = int(den)
        if d == 0:
            raise ValueError(f"zero denominator in {text!r}")
        return Fraction(int(num), d)
    return Fraction(t)
