"""Exact geometry and the hand-written gmpy2 mpq codec."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saferl.gridworld.generator import generate_grid
from saferl.gridworld.geometry import (
    clip_scaled_to_cone,
    clip_segment_to_cone,
    cone_allows,
    cone_allows_move,
    cone_from_letters,
    cone_letters,
    parse_fraction,
    point_on_segment,
)
from saferl.gridworld.instance import scaled_ints
from saferl.gridworld.mpq import decode_mpq, encode_mpq

fractions = st.fractions(max_denominator=10**40).map(lambda x: x * 10**30)


def test_mpq_known_values() -> None:
    assert decode_mpq("\x03\x00") == 0
    assert decode_mpq("\x03\x01\x01\x00\x00\x00\x03\x01") == 3
    assert decode_mpq("\x03\x02\x01\x00\x00\x00\x05\x07") == F(-5, 7)


@given(fractions)
def test_mpq_round_trip(x: F) -> None:
    assert decode_mpq(encode_mpq(x)) == x


@pytest.mark.parametrize("bad", ["", "\x03", "\x04\x01", "\x03\x05\x01\x00\x00\x00\x03\x01", "\x03\x01\x09\x00\x00\x00\x03\x01",
                                 "\x03\x01\x01\x00\x00\x00\x03\x00", "\u0394\x01"])
def test_mpq_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_mpq(bad)


def test_cones() -> None:
    assert cone_letters(cone_from_letters("du")) == "UD"
    rd = cone_from_letters("RD")
    p = (F(0), F(0))
    assert cone_allows(rd, p, (F(1), F(-1)))
    assert not cone_allows(rd, p, (F(1), F(1)))
    assert cone_allows(0, p, p)
    with pytest.raises(ValueError):
        cone_from_letters("X")


def test_clip_segment_to_cone() -> None:
    a, b = (F(0), F(2)), (F(2), F(0))
    assert clip_segment_to_cone(a, b, (F(0), F(0)), cone_from_letters("RU")) == (0, 1)
    # only rightwards: the part of the segment at y == 1 reachable from (0, 1)
    assert clip_segment_to_cone(a, b, (F(0), F(1)), cone_from_letters("R")) == (F(1, 2), F(1, 2))
    assert clip_segment_to_cone(a, b, (F(3), F(3)), cone_from_letters("RU")) is None


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50),
       st.integers(-50, 50), st.integers(-50, 50), st.integers(0, 15), st.integers(0, 20))
def test_clip_agrees_with_sampling(ax: int, ay: int, bx: int, by: int, px: int, py: int, cone: int, k: int) -> None:
    a, b, p = (F(ax), F(ay)), (F(bx), F(by)), (F(px), F(py))
    rng = clip_segment_to_cone(a, b, p, cone)
    s = F(k, 20)
    q = (a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]))
    inside = rng is not None and rng[0] <= s <= rng[1]
    assert inside == cone_allows(cone, p, q)


def test_parse_fraction() -> None:
    assert parse_fraction("-3/7") == F(-3, 7)
    assert parse_fraction("0.5") == F(1, 2)
    for bad in ("", "1/0", "a", "1e5", "1/2/3", "3/-"):
        with pytest.raises((ValueError, ZeroDivisionError)):
            parse_fraction(bad)


def test_point_on_segment() -> None:
    assert point_on_segment((F(1), F(1)), (F(0), F(0)), (F(2), F(2)))
    assert not point_on_segment((F(3), F(3)), (F(0), F(0)), (F(2), F(2)))


small = st.fractions(min_value=-20, max_value=20, max_denominator=12)
points = st.tuples(small, small)


@given(points, points, points, st.integers(0, 15))
def test_integer_clip_agrees_with_the_rational_one(a, b, p, mask) -> None:  # type: ignore[no-untyped-def]
    """The certifier's integer clip gives the same reachable part as the Fraction one."""
    m, (ax, ay, bx, by, px, py) = scaled_ints((a[0], a[1], b[0], b[1], p[0], p[1]))
    got = clip_scaled_to_cone((ax, ay), (bx - ax, by - ay), (px, py), mask)
    want = clip_segment_to_cone(a, b, p, mask)
    if want is None:
        assert got is None
    else:
        assert got is not None
        assert (F(*got[0]), F(*got[1])) == want


@given(st.integers(0, 10**6), points)
def test_integer_region_and_edge_tests_agree_with_the_rational_ones(seed, p) -> None:  # type: ignore[no-untyped-def]
    """region_contains / point_on_edge (integers) against cross / point_on_segment (Fractions)."""
    grid = generate_grid(size=8, n_chords=4, seed=seed, require_reachable=False)
    p = (abs(p[0]) % 9, abs(p[1]) % 9)
    for r, sides in enumerate(grid.regions):
        inside = all((grid.he_end[h][0] - grid.he_start[h][0]) * (p[1] - grid.he_start[h][1])
                     - (grid.he_end[h][1] - grid.he_start[h][1]) * (p[0] - grid.he_start[h][0]) >= 0 for h in sides)
        assert grid.region_contains(r, p) == inside
        for h in sides:
            assert grid.point_on_edge(p, h) == point_on_segment(p, grid.he_start[h], grid.he_end[h])
            a, b = grid.he_start[h], grid.he_end[h]
            mid, beyond = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), (2 * b[0] - a[0], 2 * b[1] - a[1])
            assert grid.point_on_edge(a, h) and grid.point_on_edge(b, h) and grid.point_on_edge(mid, h)
            assert not grid.point_on_edge(beyond, h)


@given(points, points, st.integers(0, 15))
def test_cone_check_on_integers_agrees(p, q, mask) -> None:  # type: ignore[no-untyped-def]
    """The certifier's move check over one common denominator, against the Fraction one."""
    m, (px, py, qx, qy) = scaled_ints((p[0], p[1], q[0], q[1]))
    assert cone_allows_move(mask, qx - px, qy - py) == cone_allows(mask, p, q)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6))
def test_generated_regions_meet_vertex_to_vertex(seed) -> None:  # type: ignore[no-untyped-def]
    """The generator splits every side at the vertices lying on it (found by a bounding-box slice)."""
    grid = generate_grid(size=12, n_chords=7, seed=seed, require_reachable=False)
    verts = set(grid.he_start)
    for a, b in zip(grid.he_start, grid.he_end):
        assert not [v for v in verts if v != a and v != b and point_on_segment(v, a, b)]
