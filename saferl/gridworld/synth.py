"""Algorithm 1: compress the tree's shortest path into a subgoal program, then certify it.

Walking the path from the start, the agent stands on a sequence of half-edges.  A new
``do ... until`` block starts whenever it stands on an edge it has not stood on before
(the first block starts on the start edge).  In the current block, the rule of the edge
stood on gains a target: the tree node the path goes to next.  When the path loops (it
stands on the same edge again, in the same block, heading for the same edge), consecutive
targets that lie one after the other along that edge are merged into one segment with a
preference for the end the path is moving towards (``max`` or ``min``), so a loop costs
one instruction however often it turns.

The program is certified before it is returned.  Should the compressed form not certify
(merging is a heuristic about loops), less compressed forms are tried: without merging,
then one block per move, which always follows the tree's path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from saferl.errors import UnsupportedError
from saferl.gridworld.certify import CertifyResult, certify_program
from saferl.gridworld.instance import GridWorld
from saferl.gridworld.program import Block, Rule, Segment, SubgoalProgram, Target
from saferl.gridworld.tree import BackwardTree, build_backward_tree

__all__ = ["SynthResult", "synthesize", "program_from_path", "paper_size_bound"]


@dataclass(frozen=True)
class SynthResult:
    """A synthesised program with its certificate and figures."""

    program: SubgoalProgram
    certificate: CertifyResult
    strategy: str
    path_length: int
    tree_nodes: int
    tree_depth: int
    tree_seconds: float
    synth_seconds: float
    size_bound: int
    n_regions: int = 0

    def to_record(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {
            "name": self.program.name,
            "strategy": self.strategy,
            "path_length": self.path_length,
            "tree_nodes": self.tree_nodes,
            "tree_depth": self.tree_depth,
            "tree_seconds": round(self.tree_seconds, 6),
            "synth_seconds": round(self.synth_seconds, 6),
            "blocks": len(self.program.blocks),
            "instructions": self.program.n_instructions(),
            "bytes": self.program.size_bytes(),
            "size_bound": self.size_bound,
            "regions": self.n_regions,
            # the paper bounds optimal subgoal programs by O(|Regions|^4) (constant not given)
            "paper_bound_regions4": self.n_regions ** 4,
            "digest": self.program.digest(),
            "certificate": self.certificate.to_record(),
        }


def paper_size_bound(grid: GridWorld, path_length: int) -> int:
    """An upper bound on the instructions our Algorithm 1 can emit for a path of this length.

    (The paper's own bound is asymptotic, O(|Regions|^4); this one is concrete.)

    Each move adds at most one ``reach``; a block starts only on an edge not stood on
    before, so there are at most ``min(path_length, #edges) + 1`` blocks, and each block
    holds at most one rule per edge stood on in it.  Counting as
    :meth:`SubgoalProgram.n_instructions` does: ``blocks + rules + reaches <=
    (E + 1) + path_length + path_length`` with ``E`` the number of edges.
    """
    edges = grid._memo.get("n_edges")
    if not isinstance(edges, int):
        edges = grid._memo["n_edges"] = sum(1 for h, o in enumerate(grid.he_opp) if o < 0 or h < o)
    return min(path_length, edges) + 1 + 2 * path_length


def _lex_edge(grid: GridWorld, h: int) -> Segment:
    """Half-edge ``h`` as a segment with its ends in lexicographic order (compared in integers)."""
    _m, _kx, _ky, dx, dy = grid.edge_form(h)
    a, b = grid.he_start[h], grid.he_end[h]
    return Segment(a, b) if (0, 0) <= (dx, dy) else Segment(b, a)


def program_from_path(
    grid: GridWorld, tree: BackwardTree, start_edge: int, name: str, strategy: str = "merged"
) -> SubgoalProgram:
    """Algorithm 1 on the tree's path from the start (``strategy``: merged, plain, stepwise)."""
    chain = tree.chain()
    S, E = grid.he_start, grid.he_end
    edge_seg = lambda h: Segment(S[h], E[h])  # noqa: E731
    opp = grid.he_opp

    def edge_id(h: int) -> int:  # one id per edge: twins share their segment
        return h if opp[h] < 0 or h < opp[h] else opp[h]

    seen = {edge_id(start_edge)}
    block_until: list[Segment | None] = []
    block_rules: list[dict[int, list[Target]]] = [{}]
    standing = start_edge
    for step, ni in enumerate(chain):
        node = tree.nodes[ni]
        a, b = tree.segment_of(ni)
        _m, ax, ay, bx, by = node.ends  # a and b over one positive denominator
        goal = Segment(a, b) if (ax, ay) <= (bx, by) else Segment(b, a)
        target = Target(goal, edge_seg(node.edge), "mid")
        rules = block_rules[-1]
        targets = rules.setdefault(standing, [])
        if strategy == "merged" and targets:
            last = targets[-1]
            if last.edge == target.edge and node.edge != standing:
                la, lb = last.goal.unordered()
                ga, gb = goal.unordered()
                if lb <= ga:
                    targets[-1] = Target(Segment(la, gb), target.edge, "max")
                    target = None  # type: ignore[assignment]
                elif gb <= la:
                    targets[-1] = Target(Segment(ga, lb), target.edge, "min")
                    target = None  # type: ignore[assignment]
        if target is not None:
            targets.append(target)
        standing = node.edge
        is_last = step == len(chain) - 1
        key = edge_id(standing)
        if not is_last and (strategy == "stepwise" or key not in seen):
            seen.add(key)
            block_until.append(_lex_edge(grid, standing))
            block_rules.append({})
    block_until.append(None)
    blocks = tuple(
        Block(tuple(Rule(edge_seg(h), tuple(ts)) for h, ts in rules.items()), until)
        for rules, until in zip(block_rules, block_until)
    )
    return SubgoalProgram(name, grid.size, grid.start, edge_seg(start_edge), blocks)


def synthesize(grid: GridWorld, name: str = "synth", *, depth_cap: int = 1000, max_moves: int | None = None) -> SynthResult:
    """Backward tree, then Algorithm 1, then the certifier; raises if nothing certifies.

    Raises:
        UnsupportedError: the start cannot reach the target within ``depth_cap`` moves
            (the message says whether the cap was hit), or it lies in the target already.
    """
    tree = build_backward_tree(grid, depth_cap=depth_cap)
    # the tree may have been built before on this grid (by the CLI's check): report the time it
    # took then, and the synthesis as that plus what follows
    t_tree = tree.seconds
    t0 = time.perf_counter()
    if tree.length is None:
        if tree.capped:
            raise UnsupportedError(f"the backward tree hit its depth cap {depth_cap} before reaching the start "
                                   f"({tree.stats['nodes']} nodes); raise --depth-cap")
        raise UnsupportedError("the target cannot be reached from the start point")
    if tree.length == 0:
        raise UnsupportedError("the start point already lies in the target region")
    region = tree.start_region
    start_edge = grid.start_edge if grid.start_edge >= 0 and grid.he_region[grid.start_edge] == region else -1
    if start_edge < 0:
        # an edge holding the start point if there is one (interior edges first), else any
        # side of the start region: the start edge only selects the first rule
        sides = grid.regions[region]
        cands = [h for h in sides if grid.point_on_edge(grid.start, h)] or list(sides)
        cands.sort(key=lambda h: grid.he_opp[h] < 0)
        start_edge = cands[0]
    moves = max_moves if max_moves is not None else max(1000, 4 * tree.length)
    last: CertifyResult | None = None
    for strategy in ("merged", "plain", "stepwise"):
        program = program_from_path(grid, tree, start_edge, name, strategy)
        cert = certify_program(grid, program, max_moves=moves, check_shortest=False)
        last = cert
        if cert.certified:
            cert = _with_shortest(cert, tree.length)
            return SynthResult(program, cert, strategy, tree.length, len(tree.nodes), tree.depth_reached,
                               t_tree, t_tree + time.perf_counter() - t0, paper_size_bound(grid, tree.length),
                               grid.n_regions)
    from saferl.errors import InternalError

    reason = last.failure.reason if last is not None and last.failure else "unknown"
    raise InternalError(f"no synthesised program certified (last failure: {reason})")


def _with_shortest(cert: CertifyResult, length: int) -> CertifyResult:
    from dataclasses import replace

    return replace(cert, shortest_length=length, shortest=cert.moves == length)
