"""Canonical printer of .pol programs: ``parse_program(format_program(p)) == p``.

Numbers are printed with ``repr`` (the shortest text that reads back to the same float64),
indentation is two spaces, and comments are not kept, so the canonical text is also what
the content digest hashes.
"""

from __future__ import annotations

import hashlib

from saferl.policy.ast import (
    ActDecl,
    Assign,
    BinOp,
    BoolConst,
    BoolOp,
    Call,
    Compare,
    Cond,
    Expr,
    If,
    Label,
    Neg,
    Not,
    Num,
    Obs,
    ObsDecl,
    Pid,
    Program,
    Stmt,
)

__all__ = ["format_program", "format_expr", "format_cond", "format_number", "program_digest"]

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def format_number(value: float) -> str:
    """The shortest text reading back to ``value``; integral values print without '.0'."""
    if value == int(value) and abs(value) < 1e15 and not (value == 0 and str(value).startswith("-")):
        return str(int(value))
    return repr(float(value))


def format_expr(e: Expr, parent_prec: int = 0, right: bool = False) -> str:
    """An expression, parenthesised only where precedence requires."""
    if isinstance(e, Num):
        text = format_number(e.value)
        return f"({text})" if text.startswith("-") and parent_prec >= 3 else text
    if isinstance(e, Obs | Label):
        return e.name
    if isinstance(e, Neg):
        inner = format_expr(e.operand, 3)
        if inner.startswith("-"):
            inner = f"({inner})"
        text = f"-{inner}"
        return f"({text})" if parent_prec >= 3 else text
    if isinstance(e, BinOp):
        prec = _PREC[e.op]
        text = f"{format_expr(e.left, prec)} {e.op} {format_expr(e.right, prec, right=True)}"
        if prec < parent_prec or (prec == parent_prec and right):
            return f"({text})"
        return text
    if isinstance(e, Call):
        return f"{e.func}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, Pid):
        parts = [format_expr(e.signal)] + [format_number(n.value) for n in (e.target, e.kp, e.ki, e.kd)]
        if e.window is not None:
            parts.append(str(e.window))
        return f"pid({', '.join(parts)})"
    raise TypeError(f"not an expression: {e!r}")


def format_cond(c: Cond, parent: str = "") -> str:
    """A condition; ``and`` binds tighter than ``or``."""
    if isinstance(c, Compare):
        return f"{format_expr(c.left)} {c.op} {format_expr(c.right)}"
    if isinstance(c, BoolConst):
        return "true" if c.value else "false"
    if isinstance(c, Not):
        inner = format_cond(c.operand, "not")
        return f"not {inner}"
    if isinstance(c, BoolOp):
        text = f" {c.op} ".join(format_cond(o, c.op) for o in c.operands)
        if parent in ("and", "not") or (parent == "or" and c.op == "or"):
            return f"({text})"
        return text
    raise TypeError(f"not a condition: {c!r}")


def _format_range(low: float | None, high: float | None) -> str:
    return f"[{format_number(low)}, {format_number(high)}]" if low is not None and high is not None else ""


def _format_obs(o: ObsDecl) -> str:
    rng = _format_range(o.low, o.high)
    return f"obs {o.name}: {o.dtype}" + (f" in {rng}" if rng else "")


def _format_act(a: ActDecl) -> str:
    if a.kind == "discrete":
        labels = ", ".join(f"{n} = {v}" for n, v in a.labels)
        return f"act {a.name}: discrete {{{labels}}}"
    rng = _format_range(a.low, a.high)
    return f"act {a.name}: continuous" + (f" {rng}" if rng else "")


def _format_block(body: tuple[Stmt, ...], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for stmt in body:
        if isinstance(stmt, Assign):
            lines.append(f"{pad}{stmt.target} = {format_expr(stmt.value)}")
            continue
        if not isinstance(stmt, If):
            raise TypeError(f"not a statement: {stmt!r}")
        for k, (cond, block) in enumerate(stmt.branches):
            head = "if" if k == 0 else "} elif"
            lines.append(f"{pad}{head} {format_cond(cond)} {{" if k == 0 else f"{pad}{head} {format_cond(cond)} {{")
            _format_block(block, indent + 1, lines)
        if stmt.orelse:
            lines.append(f"{pad}}} else {{")
            _format_block(stmt.orelse, indent + 1, lines)
        lines.append(f"{pad}}}")


def format_program(p: Program) -> str:
    """The canonical text of a program."""
    lines = [f"policy {p.name}"]
    lines += [_format_obs(o) for o in p.observations]
    lines += [_format_act(a) for a in p.actions]
    lines.append("")
    _format_block(p.body, 0, lines)
    return "\n".join(lines) + "\n"


def program_digest(p: Program) -> str:
    """A stable content digest: sha256 of the canonical text (comments and layout ignored)."""
    return "sha256:" + hashlib.sha256(format_program(p).encode("utf-8")).hexdigest()
