"""Decide per-state properties of a decision tree leaf by leaf, in boxes.

A decision tree partitions the observation domain: each leaf is reached from a *box* of
float32 observations (the thresholds on its path) and its actions are constants.  An
invariant or bounds property is violated iff some leaf's box meets the property's
``when`` where the leaf's actions break ``require``.  So a property decomposes:

* the violation condition is built once per distinct leaf action; an action that
  satisfies ``require`` everywhere makes its leaves safe without looking at them;
* the tree is searched depth first with the box of the current path; a subtree whose
  box cannot meet any violation, or whose leaves all have safe actions, is skipped;
* where path, domain and violation are all comparisons of float32 observations (and
  constant actions and labels) with constants, a leaf is decided exactly by interval
  arithmetic over float32 values (an empty box is safe, a non-empty one gives a point to
  replay); other leaves (conditions with arithmetic or between observations, actions that
  depend on observations) are collected into one small solver query over their paths.

Exactness.  A comparison of a float32 observation with a finite float64 constant holds
exactly on the float32 interval :func:`~saferl.smt.floats.snap_threshold` gives — the
function the monolithic encoding snaps with — and its negation on the float32 values
outside it; two constants compare as float64 compares them.  Over float32 values that is
what the runtime computes, so an empty box proves the leaf safe and a point of a non-empty
box violates the property there (the caller still replays it).  Everything else goes to
the solver through the monolithic path's own encoder (:class:`~saferl.smt.encode.ProgramEncoder`
and :func:`~saferl.smt.props.encode_conditions`: float64 rounding bounds, gaps), built
only when needed, so an axis-aligned tree is verified without importing a solver.  A
program whose encoding may overflow or holds a non-finite constant, or that is not a tree
(pid state, statements after an ``if``), is left to the monolithic encoding.

Example:
    >>> from saferl.policy import parse_policy
    >>> from saferl.spec import parse_spec
    >>> from saferl.spec.bind import bind_spec
    >>> p = parse_policy("policy p\\nobs x: float32\\nact a: discrete {l = 0, r = 1}\\n"
    ...                  "if x <= 0.5 { a = l } else { a = r }\\n")
    >>> s = parse_spec("observations: {x: [-1, 1]}\\nproperties:\\n"
    ...                "  - {id: right, kind: invariant, when: x > 0.2, require: a == r}\\n")
    >>> b = bind_spec(s, p)
    >>> out = TreeDecomposition(p, s).decide(s.properties[0], b)
    >>> out.status, out.point
    ('unsafe', {'x': 0.20000000298023224})
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from saferl.policy.ast import (
    Assign,
    BoolConst,
    BoolOp,
    Compare,
    Cond,
    If,
    Label,
    Num,
    Obs,
    Program,
    Stmt,
)
from saferl.policy.ast import Not as PNot
from saferl.record import record
from saferl.smt.floats import f32_pred, f32_succ, snap_threshold, snapped_range
from saferl.smt.frame import Frame, frame_labels
from saferl.spec.bind import Binding, property_condition
from saferl.spec.expr import SBool, SCmp, SConst, SExpr, SNot, SNum, SVar
from saferl.spec.load import Property, Spec

if TYPE_CHECKING:
    from pysmt.fnode import FNode

    from saferl.smt.encode import ProgramEncoder

__all__ = ["TreeDecomposition", "TreeOutcome", "MAX_DISJUNCTS", "GENERIC_SHARE"]

#: most disjuncts one condition (or the negations of an elif chain) may expand to before
#: the decomposition gives the program back to the monolithic encoding
MAX_DISJUNCTS = 64
#: trees where more than one condition in this many is not an interval (arithmetic,
#: observations compared with each other) are left to the monolithic encoding
GENERIC_SHARE = 4
#: most distinct leaf actions tracked per subtree (for skipping subtrees of safe actions)
_MAX_KEYS = 256
_INF = math.inf

#: per observation name, a closed range of its values (float32 ends for float32 ones)
Box = dict[str, tuple[float, float]]


class _Conj(NamedTuple):
    """A conjunction: float32 intervals per observation (by name) and generic solver terms."""

    box: tuple[tuple[str, float, float], ...] = ()
    generic: tuple[Any, ...] = ()


_TRUE = [_Conj()]


class _TooLarge(Exception):
    """A condition expands past :data:`MAX_DISJUNCTS`: not decomposed."""


class _Generic(Exception):
    """A spec condition outside the float32-interval fragment: the solver terms take it."""


class _Node:
    """A block of the tree: the actions it assigns (with its ancestors'), and the ``if``
    that ends it (its children: one per branch, then the ``else``) or none (a leaf).  The
    conditions are compiled when a search first reaches the block."""

    __slots__ = ("acts", "stmt", "children", "keys", "conds")

    def __init__(self, acts: dict[str, object], stmt: If | None = None):
        self.acts = acts
        self.stmt = stmt
        self.children: list[_Node] = []
        #: the distinct constant leaf actions below (None: some leaf is not constant, or too many)
        self.keys: frozenset[tuple[tuple[str, float], ...]] | None = None
        #: per branch: (the condition's disjuncts, its negation's), once compiled
        self.conds: list[tuple[list[_Conj], list[_Conj]]] | None = None

    @property
    def is_leaf(self) -> bool:
        return self.stmt is None


@record(frozen=False)
class TreeOutcome:
    """What the decomposition concluded about one property.

    ``status``: ``safe`` (no leaf can violate it: proved), ``unsafe`` (``point`` lies in a
    leaf box that meets the violation exactly; the caller replays it), ``query`` (the
    leaves left need the solver: ``formula`` over ``frame``'s symbols, whose models are
    violations), or ``timeout``.  ``leaves`` counts the leaves looked at.
    """

    status: str
    frame: Frame | None = None
    point: dict[str, float] | None = None
    formula: FNode | None = None
    leaves: int = 0
    queried: int = 0


def is_tree_program(program: Program) -> bool:
    """Is ``program`` a tree the decomposition handles: no pid state, and every block a run
    of assignments ending in at most one ``if``?"""
    if program.state_names:
        return False
    stack: list[tuple[Stmt, ...]] = [program.body]
    while stack:
        body = stack.pop()
        for k, stmt in enumerate(body):
            if isinstance(stmt, If):
                if k != len(body) - 1:
                    return False
                stack.extend(blk for _, blk in stmt.branches)
                stack.append(stmt.orelse)
    return True


class TreeDecomposition:
    """The tree of one program compiled once (conditions as float32 boxes or terms), then
    searched per property.  Raises nothing for programs it does not handle:
    :meth:`decide` returns None and the caller uses the monolithic encoding."""

    def __init__(self, program: Program, spec: Spec):
        self.program = program
        self.spec = spec
        # float32 observations compare by intervals; the others only through the solver
        self.f32 = frozenset(o.name for o in program.observations if o.dtype == "float32")
        self.domain: Box = {
            o.name: snapped_range(*spec.domains.get(o.name, (-_INF, _INF)), o.dtype) for o in program.observations
        }
        self._encoder: ProgramEncoder | None = None
        self.root: _Node | None = None
        self.reason = ""
        self.conditions_seen = 0
        self.conditions_generic = 0
        self._keysets: dict[frozenset[tuple[tuple[str, float], ...]], frozenset[tuple[tuple[str, float], ...]]] = {}
        self._built = False
        self._deadline: float | None = None
        self._nodes = 0

    def _build(self, deadline: float | None) -> bool:
        """Compile the tree once (within ``deadline``: False when it passed first, and the
        next call starts again)."""
        if self._built:
            return True
        program = self.program
        if not is_tree_program(program):
            self._built, self.reason = True, "not a tree"
            return True
        self._deadline, self._nodes = deadline, 0
        self.conditions_seen = self.conditions_generic = 0
        try:
            root = self._compile(program.body, {})
        except _Timeout:
            return False
        except (_TooLarge, RecursionError) as exc:
            self._built, self.reason = True, f"not decomposed: {type(exc).__name__}"
            return True
        except Exception as exc:
            if not _not_modelled(exc):
                raise
            self._built, self.reason = True, f"not decomposed: {exc}"
            return True
        self._built = True
        if self._encoder is not None and self._encoder.arith.overflows:
            self.reason = "a leaf action may overflow"
        elif self.conditions_generic * GENERIC_SHARE > self.conditions_seen:
            # every leaf below such conditions goes to the solver anyway: one whole formula
            # is cheaper than the same formula split into paths
            self.reason = "conditions with arithmetic"
        else:
            self.root = root
        return True

    @property
    def encoder(self) -> ProgramEncoder:
        """The monolithic path's encoder over the frame ``t``, for what is not an interval
        (made on first use: axis-aligned trees never need it, nor pySMT)."""
        if self._encoder is None:
            from saferl.smt.encode import ProgramEncoder
            from saferl.smt.props import frame_domains

            enc = ProgramEncoder(self.program)
            self.frame, self.constraints, _ = frame_domains("single", ["t"], ["t"], self.spec, self.program, enc)
            enc.bind_step(self.frame.obs["t"], ())
            self.names = {sym: name for name, sym in self.frame.obs["t"].items() if name in self.f32}
            self._encoder = enc
        return self._encoder

    # -- compiling -------------------------------------------------------------------
    def _compile(self, body: tuple[Stmt, ...], inherited: dict[str, object]) -> _Node:
        self._nodes += 1
        if self._deadline is not None and not self._nodes & 255 and time.monotonic() > self._deadline:
            raise _Timeout
        acts = inherited
        tail: If | None = None
        for stmt in body:
            if isinstance(stmt, Assign):
                if acts is inherited:
                    acts = dict(inherited)
                v = stmt.value
                acts[stmt.target] = float(v.value) if isinstance(v, (Label, Num)) else self.encoder.value(v)
            else:
                tail = stmt
        node = _Node(acts, tail)
        if tail is None:
            for value in acts.values():
                if not isinstance(value, float):
                    return node
            node.keys = self._keyset(frozenset((_key(acts),)))
            return node
        for cond, _ in tail.branches:
            self.conditions_seen += 1
            if not self._is_interval(cond):
                self.conditions_generic += 1
        children = [self._compile(blk, acts) for _, blk in tail.branches]
        children.append(self._compile(tail.orelse, acts))
        node.children = children
        first = children[0].keys
        if first is not None and all(c.keys is first for c in children):
            node.keys = first
        elif all(c.keys is not None for c in children):
            keys = frozenset().union(*(c.keys for c in children))  # type: ignore[arg-type]
            node.keys = self._keyset(keys) if len(keys) <= _MAX_KEYS else None
        return node

    def _is_interval(self, c: Cond) -> bool:
        """Is ``c`` made of float32 observations against numbers (decided by intervals)?"""
        if isinstance(c, BoolOp):
            return all(self._is_interval(o) for o in c.operands)
        if isinstance(c, PNot):
            return self._is_interval(c.operand)
        if not isinstance(c, Compare):
            return isinstance(c, BoolConst)
        left, right = c.left, c.right
        if isinstance(right, Num):
            return isinstance(left, Obs) and left.name in self.f32
        return isinstance(left, Num) and isinstance(right, Obs) and right.name in self.f32

    def _keyset(self, keys: frozenset[tuple[tuple[str, float], ...]]) -> frozenset[tuple[tuple[str, float], ...]]:
        """One object per distinct set of leaf actions (most subtrees share a few)."""
        return self._keysets.setdefault(keys, keys)

    def conditions(self, node: _Node) -> list[tuple[list[_Conj], list[_Conj]]]:
        """The branch conditions of ``node`` and their negations, compiled once."""
        if node.conds is None:
            if node.stmt is None:
                return []
            node.conds = [(self._cond(c, True), self._cond(c, False)) for c, _ in node.stmt.branches]
            if self._encoder is not None and self._encoder.arith.overflows:
                node.conds = None
                raise _TooLarge  # a condition that may overflow: the whole encoding decides
        return node.conds

    def _cond(self, c: Cond, positive: bool) -> list[_Conj]:
        """A program condition (or its negation) as disjuncts; an observation against a
        constant directly from :func:`snap_threshold`, anything else through the encoder's
        term for it."""
        if isinstance(c, Compare):
            left, right, op = c.left, c.right, c.op
            if isinstance(left, Num) and isinstance(right, Obs):
                left, right, op = right, left, _MIRROR[op]
            if isinstance(left, Obs) and isinstance(right, Num) and left.name in self.f32:
                return _atom_dnf(left.name, snap_threshold(op, float(right.value)), positive)
        enc = self.encoder
        return _dnf(enc.condition(c), self.names, positive)

    # -- deciding --------------------------------------------------------------------
    def decide(self, prop: Property, binding: Binding, deadline: float | None = None) -> TreeOutcome | None:
        """Decide ``prop`` on the tree, or None when it is not a per-state property of a
        tree this decomposition handles (the caller then encodes it whole).  Compiling
        the tree (once, on the first call) counts against ``deadline`` too."""
        if prop.kind not in ("invariant", "bounds") or frame_labels(prop, binding) != ("single", ["t"], ["t"]):
            return None
        if not self._build(deadline):
            return TreeOutcome("timeout")
        if self.root is None:
            return None
        return _Search(self, prop, binding, deadline).run()


_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _compare(op: str, a: float, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


def _not_modelled(exc: Exception) -> bool:
    """Is ``exc`` the real encoding's refusal (then the whole encoding decides)?"""
    from saferl.smt.rounding import NotModelled

    return isinstance(exc, NotModelled)


def _key(acts: dict[str, object]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, float(v)) for k, v in acts.items()))  # type: ignore[arg-type]


def _atom_dnf(x: str, snapped: tuple[str, float], positive: bool) -> list[_Conj]:
    kind, v = snapped
    if kind == "true":
        return list(_TRUE) if positive else []
    if kind == "false":
        return [] if positive else list(_TRUE)
    if kind in ("ne", "eq") and (kind == "eq") != positive:  # x != v
        return [_Conj(((x, lo, hi),)) for lo, hi in _outside(v, v)]
    if kind in ("ne", "eq"):
        return [_Conj(((x, v, v),))]
    lo, hi = (-_INF, v) if kind == "le" else (v, _INF)
    if positive:
        return [_Conj(((x, lo, hi),))]
    return [_Conj(((x, a, b),)) for a, b in _outside(lo, hi)]


def _outside(lo: float, hi: float) -> list[tuple[float, float]]:
    """The float32 values outside the float32 interval [lo, hi], as intervals."""
    out = []
    if lo != -_INF:
        below = f32_pred(lo)
        if below != -_INF:
            out.append((-_INF, below))
    if hi != _INF:
        above = f32_succ(hi)
        if above != _INF:
            out.append((above, _INF))
    return out


def _double_const(t: Any) -> float | None:
    """The value of a real constant that is exactly a finite float64, else None."""
    if not t.is_constant() or not t.is_real_constant():
        return None
    q = t.constant_value()
    try:
        f = float(q)
    except (TypeError, OverflowError):
        return None
    if not math.isfinite(f) or f != q:
        return None
    return f


def _and(parts: list[list[_Conj]]) -> list[_Conj]:
    acc = list(_TRUE)
    for p in parts:
        acc = [_Conj(a.box + b.box, a.generic + b.generic) for a in acc for b in p]
        if len(acc) > MAX_DISJUNCTS:
            raise _TooLarge
    return acc


def _or(parts: list[list[_Conj]]) -> list[_Conj]:
    out = [c for p in parts for c in p]
    if len(out) > MAX_DISJUNCTS:
        raise _TooLarge
    return out


def _dnf(t: Any, f32: dict[Any, str], positive: bool) -> list[_Conj]:
    """A term of the encoder as disjuncts of float32 intervals and generic terms.

    A comparison of a float32 observation with a float64 constant — exact over the reals
    in the term, snapped or not — holds of a float32 value exactly where
    :func:`snap_threshold` says: that interval is what it becomes."""
    if t.is_true() or t.is_false():
        return list(_TRUE) if t.is_true() == positive else []
    if t.is_not():
        return _dnf(t.arg(0), f32, not positive)
    if t.is_and() or t.is_or():
        parts = [_dnf(a, f32, positive) for a in t.args()]
        return _and(parts) if t.is_and() == positive else _or(parts)
    if t.is_le() or t.is_lt() or t.is_equals():
        a, b = t.arg(0), t.arg(1)
        if a.is_real_constant() and b.is_real_constant():  # exact rationals: decided here
            qa, qb = a.constant_value(), b.constant_value()
            holds = qa <= qb if t.is_le() else qa < qb if t.is_lt() else qa == qb
            return list(_TRUE) if holds == positive else []
        ca, cb = _double_const(a), _double_const(b)
        if a in f32 and cb is not None:
            op = "<=" if t.is_le() else "<" if t.is_lt() else "=="
            return _atom_dnf(f32[a], snap_threshold(op, cb), positive)
        if b in f32 and ca is not None:
            op = ">=" if t.is_le() else ">" if t.is_lt() else "=="
            return _atom_dnf(f32[b], snap_threshold(op, ca), positive)
    if positive:
        return [_Conj((), (t,))]
    from pysmt.shortcuts import Not

    return [_Conj((), (Not(t),))]


def _meet(box: Box, conj: _Conj) -> Box | None:
    """``box`` narrowed by the intervals of ``conj``; None when empty."""
    if not conj.box:
        return box
    out = dict(box)
    for x, lo, hi in conj.box:
        olo, ohi = out.get(x, (-_INF, _INF))
        lo, hi = max(lo, olo), min(hi, ohi)
        if lo > hi:
            return None
        out[x] = (lo, hi)
    return out


def _meets(box: Box, hull: Box) -> bool:
    for x, (lo, hi) in hull.items():
        blo, bhi = box.get(x, (-_INF, _INF))
        if max(lo, blo) > min(hi, bhi):
            return False
    return True


def _hull(conjs: list[_Conj], domain: Box) -> Box:
    """The smallest box holding every disjunct (within the domain).  A disjunct's generic
    terms only narrow it further, so the box of its intervals holds it."""
    boxes = []
    for c in conjs:
        b = _meet(domain, c)
        if b is not None:
            boxes.append(b)
    out: Box = {}
    for x in domain:
        lo = min((b[x][0] for b in boxes), default=_INF)
        hi = max((b[x][1] for b in boxes), default=-_INF)
        out[x] = (lo, hi)
    return out


class _Found(Exception):
    def __init__(self, box: Box):
        self.box = box


class _Search:
    """One property's depth-first search over the compiled tree."""

    def __init__(self, tree: TreeDecomposition, prop: Property, binding: Binding, deadline: float | None):
        self.tree = tree
        self.prop = prop
        self.binding = binding
        self.deadline = deadline
        self.when, self.require = property_condition(prop, binding)
        self.gaps: set[tuple[Any, float]] = set()
        self.bad: dict[object, list[_Conj]] = {}
        self.open: list[tuple[Box, tuple[Any, ...]]] = []
        self.leaves = 0
        self.steps = 0

    def violation(self, acts: dict[str, object], key: object) -> list[_Conj]:
        """The violation condition at a leaf with actions ``acts``, as disjuncts (cached
        by ``key``): interval-exact where ``when`` and ``require`` compare float32
        observations, actions and labels with constants, else the monolithic encoder's
        terms for it."""
        got = self.bad.get(key)
        if got is None:
            try:
                got = _and([self.spec_dnf(self.when, acts, True), self.spec_dnf(self.require, acts, False)])
            except _Generic:
                got = self.encoded_violation(acts)
            self.bad[key] = got
        return got

    def spec_dnf(self, e: SExpr, acts: dict[str, object], positive: bool) -> list[_Conj]:
        """A spec condition at a leaf, as disjuncts of float32 intervals; raises _Generic
        outside that fragment.  A comparison means here what it means in the encoding
        (:mod:`saferl.smt.props`): of two constants, the float64 comparison; of a float32
        observation with a finite constant, :func:`snap_threshold`'s interval."""
        if isinstance(e, SConst):
            return list(_TRUE) if e.value == positive else []
        if isinstance(e, SNot):
            return self.spec_dnf(e.operand, acts, not positive)
        if isinstance(e, SBool):
            parts = [self.spec_dnf(o, acts, positive) for o in e.operands]
            return _and(parts) if (e.op == "and") == positive else _or(parts)
        if not isinstance(e, SCmp):
            raise _Generic
        a, b, op = self.operand(e.left, acts), self.operand(e.right, acts), e.op
        if isinstance(a, float) and isinstance(b, float):
            if not (math.isfinite(a) and math.isfinite(b)):
                raise _Generic  # the encodings refuse non-finite constants: theirs to decide
            return list(_TRUE) if _compare(op, a, b) == positive else []
        if isinstance(a, float):
            a, b, op = b, a, _MIRROR[op]
        if isinstance(a, str) and isinstance(b, float) and math.isfinite(b):
            return _atom_dnf(a, snap_threshold(op, b), positive)
        raise _Generic

    def operand(self, e: SExpr, acts: dict[str, object]) -> float | str:
        """A constant's value, or a float32 observation's name; _Generic otherwise."""
        if isinstance(e, SNum):
            return float(e.value)
        if isinstance(e, SVar) and e.lag == 0 and e.copy == 0:
            kind = self.binding.kind_of(e.name)
            if kind == "label":
                return float(self.binding.label_value(e.name, None, e.loc))
            if kind == "obs" and e.name in self.tree.f32:
                return e.name
            if kind == "action" and isinstance(acts.get(e.name), float):
                return acts[e.name]  # type: ignore[return-value]
        raise _Generic

    def encoded_violation(self, acts: dict[str, object]) -> list[_Conj]:
        """The violation through the monolithic path's encoder (arithmetic, observations
        compared with each other, actions that depend on observations)."""
        from saferl.smt.props import encode_conditions

        tree = self.tree
        enc = tree.encoder
        frame = Frame("single", ["t"], ["t"], obs=tree.frame.obs, actions={"t": acts})
        arith = enc.arith
        before = len(arith.overflows)
        w, r = encode_conditions(self.prop, self.binding, frame, arith, self.gaps)
        if len(arith.overflows) != before:
            del arith.overflows[before:]
            raise _TooLarge  # an overflow in the property: the whole encoding decides
        return _and([_dnf(w, tree.names, True), _dnf(r, tree.names, False)])

    def run(self) -> TreeOutcome | None:
        tree = self.tree
        root = tree.root
        if root is None:
            return None
        domain = tree.domain
        try:
            # a violation needs a leaf action that can break `require`
            self.safe_keys: frozenset[object] = frozenset()
            self.hull: Box | None = None
            if root.keys is not None:
                bad = [c for k in sorted(root.keys) for c in self.violation(dict(k), k)]
                self.safe_keys = frozenset(k for k in root.keys if not self.bad[k])
                self.hull = _hull(bad, domain)
            if any(lo > hi for lo, hi in domain.values()):
                return TreeOutcome("safe")
            self.visit(root, domain, ())
        except _Found as found:
            point = {name: _pick(*found.box[name]) for name in domain}
            return TreeOutcome("unsafe", point=point, leaves=self.leaves)
        except _Timeout:
            return TreeOutcome("timeout", leaves=self.leaves)
        except (_TooLarge, RecursionError):
            return None
        except Exception as exc:
            if _not_modelled(exc):
                return None
            raise
        if not self.open:
            return TreeOutcome("safe", leaves=self.leaves)
        return TreeOutcome("query", tree.frame, formula=self.query(domain), leaves=self.leaves, queried=len(self.open))

    def skip(self, node: _Node, box: Box) -> bool:
        if node.keys is not None and node.keys <= self.safe_keys:
            return True
        return self.hull is not None and not _meets(box, self.hull)

    def visit(self, node: _Node, box: Box, generic: tuple[Any, ...]) -> None:
        self.steps += 1
        if self.deadline is not None and not self.steps & 1023 and time.monotonic() > self.deadline:
            raise _Timeout
        if node.is_leaf:
            self.leaves += 1
            key = _key(node.acts) if node.keys is not None else id(node)
            for conj in self.violation(node.acts, key):
                nb = _meet(box, conj)
                if nb is None:
                    continue
                if not generic and not conj.generic:
                    raise _Found(nb)
                self.open.append((nb, generic + conj.generic))
            return
        rest: list[tuple[Box, tuple[Any, ...]]] = [(box, generic)]
        conds = self.tree.conditions(node)
        for (pos, neg), child in zip(conds, node.children):
            for b, g in rest:
                for conj in pos:
                    nb = _meet(b, conj)
                    if nb is not None and not self.skip(child, nb):
                        self.visit(child, nb, g + conj.generic)
            rest = [(nb, g + conj.generic) for b, g in rest for conj in neg if (nb := _meet(b, conj)) is not None]
            if len(rest) > MAX_DISJUNCTS:
                raise _TooLarge
            if not rest:
                return
        orelse = node.children[-1]
        for b, g in rest:
            if not self.skip(orelse, b):
                self.visit(orelse, b, g)

    def query(self, domain: Box) -> FNode:
        """The violations at the leaves left open, as one formula over the frame."""
        from pysmt.shortcuts import GE, LE, And, Or

        from saferl.smt.encode import gap_term, real

        tree = self.tree
        symbol = tree.frame.obs["t"]
        arms = []
        for box, generic in self.open:
            parts = list(generic)
            for name, (lo, hi) in box.items():
                dlo, dhi = domain[name]
                if lo > dlo:
                    parts.append(GE(symbol[name], real(lo)))
                if hi < dhi:
                    parts.append(LE(symbol[name], real(hi)))
            arms.append(And(parts))
        bad = Or(arms)
        spec_gaps = (gap_term(x, d) for x, d in sorted(self.gaps, key=lambda g: (g[0].symbol_name(), g[1])))
        gap_terms = tree.encoder.gap_constraints() + [g for g in spec_gaps if g is not None]
        return And([*tree.constraints, *gap_terms, *tree.encoder.arith.side_constraints(bad), bad])


class _Timeout(Exception):
    pass


def _pick(lo: float, hi: float) -> float:
    """A readable point of a non-empty float32 interval: 0 if it holds 0, else its end
    nearest 0 (an exact float32: the interval's ends are float32 or the domain's)."""
    if lo <= 0.0 <= hi:
        return 0.0
    return lo if lo > 0 else hi
