"""Structural edits: when no parameter change suffices, change the program's shape.

Two edits, both local to a leaf (an assignment) that a counterexample reaches:

* **split** the leaf on one observation: ``if x <= θ { a = old } else { a = new }``, with
  ``θ`` and the leaves solved for (the smallest edit: one comparison, one leaf);
* **guard** the leaf with the violated property's own condition:
  ``if <when> { a = c } else { a = old }``, with ``c`` solved for.

Edited programs are printed and parsed again, so positions are real and parameter ids
follow the canonical pre-order; :class:`Candidate` maps them back to the original ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from saferl.policy import format_policy, parse_policy
from saferl.policy.ast import (
    Assign,
    BoolConst,
    BoolOp,
    Compare,
    Cond,
    If,
    Label,
    Not,
    Num,
    Obs,
    Program,
    Stmt,
    walk,
)
from saferl.policy.evaluate import interpret
from saferl.repair.points import Point
from saferl.spec.expr import SBool, SCmp, SConst, SExpr, SNot, SNum, SVar, variables
from saferl.spec.load import Property, Spec

__all__ = ["Candidate", "reached_leaves", "candidate_edits", "canonical"]

MAX_SPLIT_OBS = 8


@dataclass(frozen=True)
class Candidate:
    """An edited program, its origin map (new parameter id -> old id or None) and a label."""

    program: Program
    origin: dict[int, int | None]
    shape: str
    kind: str
    size: int
    leaf_line: int
    new_lines: tuple[int, int]


def canonical(program: Program) -> Program:
    """The program parsed from its canonical text (fresh positions, same parameters)."""
    return parse_policy(format_policy(program), "<repair>")


def reached_leaves(program: Program, point: Point, prop: Property, spec: Spec) -> list[int]:
    """Lines of the assignments the point's steps execute for the actions the property names."""
    names = _property_actions(prop, program)
    lines: list[int] = []
    values = point.concrete()
    state = values.initial_state
    labels = list(values.obs)
    exec_labels = labels[-(_exec_count(prop, program)):] if labels else []
    for lbl in exec_labels:
        acts, nxt, trace = interpret(program, values.obs[lbl], state)
        for n in names:
            ln = trace.lines.get(n)
            if ln and ln not in lines:
                lines.append(ln)
        if prop.mode != "two-run":
            state = nxt
    return lines


def _exec_count(prop: Property, program: Program) -> int:
    exprs = [e for e in (prop.when, prop.require) if e is not None]
    lags = [v.lag for e in exprs for v in variables(e) if v.name in program.action_names or v.name in program.state_names]
    if prop.kind == "smoothness" and prop.mode == "two-run":
        return 2
    return max(lags, default=0) + 1


def _property_actions(prop: Property, program: Program) -> list[str]:
    names = [prop.action] if prop.action else []
    for e in (prop.when, prop.require):
        if e is not None:
            names += [v.name for v in variables(e) if v.name in program.action_names]
    return list(dict.fromkeys(names)) or list(program.action_names)


def _guard_cond(prop: Property, program: Program) -> Cond | None:
    """The property's ``when`` as a .pol condition over current observations, if it is one."""
    if prop.kind == "smoothness" or prop.when is None:
        return None

    def conv(e: SExpr) -> Cond | None:
        if isinstance(e, SConst):
            return BoolConst(e.value)
        if isinstance(e, SNot):
            inner = conv(e.operand)
            return None if inner is None else Not(inner)
        if isinstance(e, SBool):
            parts = [conv(o) for o in e.operands]
            if any(p is None for p in parts):
                return None
            return BoolOp(e.op, tuple(p for p in parts if p is not None))
        if isinstance(e, SCmp):
            left, right = e.left, e.right
            if isinstance(left, SVar) and isinstance(right, SNum) and left.name in program.obs_names and not (left.lag or left.copy):
                return Compare(e.op, Obs(left.name), Num(right.value))
            if isinstance(right, SVar) and isinstance(left, SNum) and right.name in program.obs_names and not (right.lag or right.copy):
                return Compare(e.op, Num(left.value), Obs(right.name))
        return None

    return conv(prop.when)


def _replace_leaf(body: tuple[Stmt, ...], line: int, make: object) -> tuple[tuple[Stmt, ...], bool]:
    out: list[Stmt] = []
    done = False
    for stmt in body:
        if not done and isinstance(stmt, Assign) and stmt.span.line == line:
            out.append(make(stmt))  # type: ignore[operator]
            done = True
        elif isinstance(stmt, If) and not done:
            branches = []
            for cond, blk in stmt.branches:
                nb, d = _replace_leaf(blk, line, make) if not done else (blk, False)
                done = done or d
                branches.append((cond, nb))
            orelse, d = _replace_leaf(stmt.orelse, line, make) if not done else (stmt.orelse, False)
            done = done or d
            out.append(replace(stmt, branches=tuple(branches), orelse=orelse))
        else:
            out.append(stmt)
    return tuple(out), done


def _fresh_leaf(leaf: Assign, program: Program, value: float) -> Assign:
    decl = program.action(leaf.target)
    if decl.kind == "discrete":
        lab = leaf.value if isinstance(leaf.value, Label) else Label(decl.labels[0][0], decl.labels[0][1])
        return Assign(leaf.target, Label(lab.name, lab.value))
    return Assign(leaf.target, Num(value))


def _finish(program: Program, body: tuple[Stmt, ...], shape: str, kind: str, size: int, line: int) -> Candidate:
    edited = replace(program, body=body)
    old_ids = {id(p.node): p.id for p in program.parameters()}
    origin = {p.id: old_ids.get(id(p.node)) for p in edited.parameters()}
    new_prog = canonical(edited)
    new_lines = _new_lines(new_prog, origin)
    return Candidate(new_prog, origin, shape, kind, size, line, new_lines)


def _new_lines(program: Program, origin: dict[int, int | None]) -> tuple[int, int]:
    lines = [p.span.line for p in program.parameters() if origin.get(p.id) is None]
    return (min(lines), max(lines)) if lines else (0, 0)


def candidate_edits(
    program: Program, spec: Spec, points: Sequence[Point], violated: Sequence[str]
) -> Iterator[Candidate]:
    """Single edits of ``program`` (canonical) at the leaves the points reach, smallest first."""
    props = {p.id: p for p in spec.properties}
    leaves: list[tuple[int, Property, Point]] = []
    for pt in points:
        if pt.property_id not in violated:
            continue
        prop = props[pt.property_id]
        for ln in reached_leaves(program, pt, prop, spec):
            if all(ln != x[0] for x in leaves):
                leaves.append((ln, prop, pt))
    assigns = {n.span.line: n for n in walk(program.body) if isinstance(n, Assign)}
    splits: list[Candidate] = []
    guards: list[Candidate] = []
    for ln, prop, pt in leaves:
        leaf = assigns.get(ln)
        if leaf is None:
            continue
        first_obs = dict(pt.obs[-1][1])
        mentioned = [v.name for e in (prop.when, prop.require) if e is not None for v in variables(e) if v.name in program.obs_names]
        # split on what the property talks about; other observations only when it names none
        order = list(dict.fromkeys(mentioned)) or list(program.obs_names)[:MAX_SPLIT_OBS]
        decl = program.action(leaf.target)
        for name in order:
            theta = float(first_obs.get(name, 0.0))
            variants = [False] if decl.kind == "discrete" else [False, True]
            for new_first in variants:
                def make(old: Assign, name: str = name, theta: float = theta, new_first: bool = new_first) -> If:
                    fresh = _fresh_leaf(old, program, 0.0)
                    first, second = (fresh, old) if new_first else (old, fresh)
                    return If(((Compare("<=", Obs(name), Num(theta)), (first,)),), (second,))

                body, ok = _replace_leaf(program.body, ln, make)
                if ok:
                    tag = f"split line {ln} on {name}" + (" (new leaf first)" if new_first else "")
                    splits.append(_finish(program, body, tag, "split-leaf", 2, ln))
        cond = _guard_cond(prop, program)
        if cond is not None:
            ncmp = sum(1 for n in walk((If(((cond, ()),), ()),)) if isinstance(n, Compare))

            def make_guard(old: Assign, cond: Cond = cond) -> If:
                return If(((cond, (_fresh_leaf(old, program, 0.0),)),), (old,))

            body, ok = _replace_leaf(program.body, ln, make_guard)
            if ok:
                guards.append(_finish(program, body, f"guard line {ln} with {prop.id}'s condition", "guard", ncmp + 1, ln))
    yield from sorted(splits + guards, key=lambda c: c.size)
