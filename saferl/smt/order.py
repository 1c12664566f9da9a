"""A formula's commutative arguments in an order that depends on the formula alone.

pySMT numbers its nodes in creation order and hashes them by that number, and its
simplifier collects the arguments of ``And``/``Or`` in sets and sorts sums by node
number: the same formula, built in a process that built other formulas first, comes out
with its arguments in another order.  z3 follows the order it is given, so a search
that sends it simplified formulas (repair's candidate constraints) could take another
path after unrelated work in the same process.  :func:`stable_order` rebuilds a formula
with the arguments of every ``And``, ``Or``, ``+`` and ``*`` sorted by a digest of their
structure (names, constants, operators), which no process history changes.
"""

from __future__ import annotations

import hashlib

from pysmt import operators as op
from pysmt.fnode import FNode

__all__ = ["stable_order"]

_COMMUTATIVE = frozenset({op.AND, op.OR, op.PLUS, op.TIMES})


def _payload(node: FNode) -> bytes:
    if node.is_symbol():
        return f"s:{node.symbol_name()}:{node.symbol_type()}".encode()
    if node.is_constant():
        return f"c:{node.constant_type()}:{node.constant_value()}".encode()
    return b""


def stable_order(formula: FNode) -> FNode:
    """``formula`` with commutative arguments sorted by structure (the same node when
    nothing moves)."""
    from pysmt.shortcuts import get_env

    mgr = get_env().formula_manager
    digest: dict[FNode, bytes] = {}
    rebuilt: dict[FNode, FNode] = {}
    stack: list[tuple[FNode, bool]] = [(formula, False)]
    while stack:
        node, ready = stack.pop()
        if node in rebuilt:
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args() if a not in rebuilt)
            continue
        args = [rebuilt[a] for a in node.args()]
        if node.node_type() in _COMMUTATIVE:
            args.sort(key=lambda a: digest[a])
        new = node if all(x is y for x, y in zip(args, node.args(), strict=True)) else \
            mgr.create_node(node.node_type(), tuple(args), node._content.payload)
        h = hashlib.blake2b(digest_size=16)
        h.update(str(node.node_type()).encode())
        h.update(_payload(node))
        for a in args:
            h.update(digest[a])
        digest[new] = h.digest()
        rebuilt[node] = new
    return rebuilt[formula]
