"""The backward tree: shortest paths, the depth cap, agreement with synthesis."""

from __future__ import annotations

from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from saferl.errors import UnsupportedError
from saferl.gridworld.certify import certify_program
from saferl.gridworld.generator import generate_grid
from saferl.gridworld.io import load_grid
from saferl.gridworld.synth import synthesize
from saferl.gridworld.tree import _insert, _subtract, build_backward_tree


def test_subtract_and_insert() -> None:
    def q(x: int) -> tuple[int, int]:
        return (x, 1)

    explored: list = []
    _insert(explored, q(2), q(3))
    _insert(explored, (10, 2), (18, 3))  # 5 and 6, not in lowest terms
    assert _subtract(q(0), q(10), explored) == [(q(0), q(2)), (q(3), (10, 2)), ((18, 3), q(10))]
    _insert(explored, q(1), q(5))
    assert explored == [(q(1), (18, 3))]
    assert _subtract(q(2), q(4), explored) == []
    assert _subtract(q(6), q(6), explored) == []
    assert _subtract(q(7), q(7), explored) == [(q(7), q(7))]


@settings(max_examples=12, deadline=None)
@given(st.integers(4, 16), st.integers(2, 8), st.integers(0, 10**6))
def test_synthesis_on_generated_instances_is_certified_and_shortest(size: int, chords: int, seed: int) -> None:
    try:
        grid = generate_grid(size=size, n_chords=chords, seed=seed, far_target=bool(seed % 2))
    except UnsupportedError:
        assume(False)
    result = synthesize(grid, "g")
    cert = certify_program(grid, result.program)
    assert cert.certified and cert.moves == result.path_length == cert.shortest_length
    # certify reuses synth's tree on the same grid; on a fresh copy it builds its own
    fresh = certify_program(generate_grid(size=size, n_chords=chords, seed=seed, far_target=bool(seed % 2)), result.program)
    assert fresh.certified and fresh.shortest_length == result.path_length
    # exploring the whole tree finds the same depth as stopping at the start
    full = build_backward_tree(grid, stop_at_start=False, depth_cap=200)
    assert full.length == result.path_length


def test_depth_cap_is_reported(smol: Path) -> None:
    grid = load_grid(smol / "spiral" / "polygongrid.json")
    tree = build_backward_tree(grid, depth_cap=10)
    assert tree.length is None and tree.capped and not tree.exhausted
    tree = build_backward_tree(grid, depth_cap=1000)
    assert tree.length == 92 and not tree.capped


def test_zig_zag_instance_within_the_cap(smol: Path) -> None:
    """size100preds50-2: the reference needs 849 s with a cap of 1000; we stop at the start."""
    grid = load_grid(smol / "size100preds50-2" / "polygongrid.json")
    tree = build_backward_tree(grid, depth_cap=1000)
    assert tree.length == 200 and not tree.capped


def test_every_algorithm1_strategy_certifies_and_merging_compresses_loops(smol: Path) -> None:
    from saferl.gridworld.synth import program_from_path

    grid = load_grid(smol / "size3preds5loopy" / "polygongrid.json")
    tree = build_backward_tree(grid)
    start_edge = synthesize(grid).program.start_edge
    h0 = grid.half_edge(start_edge.a, start_edge.b)
    sizes = {}
    for strategy in ("merged", "plain", "stepwise"):
        prog = program_from_path(grid, tree, h0, "loopy", strategy)
        cert = certify_program(grid, prog, check_shortest=False)
        assert cert.certified and cert.moves == tree.length == 200
        sizes[strategy] = prog.n_instructions()
    assert sizes["merged"] < sizes["plain"] < sizes["stepwise"]
    assert sizes == {"merged": 19, "plain": 211, "stepwise": 600}


@settings(max_examples=10, deadline=None)
@given(st.integers(4, 12), st.integers(2, 6), st.integers(0, 10**6))
def test_no_random_walk_beats_the_tree(size: int, chords: int, seed: int) -> None:
    """Soundness of 'shortest': random legal walks never reach the target in fewer moves."""
    import random
    from fractions import Fraction

    from saferl.gridworld.geometry import clip_segment_to_cone, segment_point

    try:
        grid = generate_grid(size=size, n_chords=chords, seed=seed)
    except UnsupportedError:
        assume(False)
    tree = build_backward_tree(grid)
    assert tree.length is not None
    rng = random.Random(seed)
    starts = [r for r in grid.regions_containing(grid.start) if r != grid.target]
    for _ in range(150):
        p, region = grid.start, rng.choice(starts)
        for moves in range(1, tree.length):
            options = []
            for h in grid.regions[region]:
                o = grid.he_opp[h]
                if o < 0:
                    continue
                part = clip_segment_to_cone(grid.he_start[h], grid.he_end[h], p, grid.cones[region])
                if part is not None:
                    options.append((h, part))
            if not options:
                break
            h, (s0, s1) = rng.choice(options)
            s = s0 + (s1 - s0) * Fraction(rng.randint(0, 8), 8)
            p = segment_point(grid.he_start[h], grid.he_end[h], s)
            region = grid.he_region[grid.he_opp[h]]
            assert region != grid.target, f"a walk reached the target in {moves} < {tree.length} moves"


def test_certify_shares_the_tree_synth_built(smol: Path) -> None:
    """One tree per grid: certify after synth does not rebuild it, and agrees with a fresh build."""
    for name in ("spiral", "size100preds20-1", "one_triangle_two_pass"):
        path = smol / name / "polygongrid.json"
        grid = load_grid(path)
        result = synthesize(grid, "g")
        tree = build_backward_tree(grid)
        assert build_backward_tree(grid) is tree
        shared = certify_program(grid, result.program)
        fresh = certify_program(load_grid(path), result.program)
        assert shared.certified and fresh.certified
        assert shared.shortest_length == fresh.shortest_length == result.path_length
        # a tree for another depth cap or without stopping at the start is a different tree
        assert build_backward_tree(grid, depth_cap=999) is not tree


def test_a_changed_copy_of_a_grid_builds_its_own_tree(smol: Path) -> None:
    """What is derived from a grid stays with that grid: a copy with another target starts afresh."""
    from dataclasses import replace

    grid = load_grid(smol / "spiral" / "polygongrid.json")
    tree = build_backward_tree(grid)
    other = replace(grid, target=(grid.target + 1) % grid.n_regions)
    assert not other._memo
    assert build_backward_tree(other) is not tree
    assert build_backward_tree(other).nodes[0].edge in other.regions[other.target]
