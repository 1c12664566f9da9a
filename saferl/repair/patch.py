"""Write a repair back into the user's own text: comments and layout kept, minimal diff.

Changed constants are replaced token by token; a split or guarded leaf replaces the leaf's
line with the new block, indented like the leaf.  The patched text is parsed again and must
equal the repaired program exactly; otherwise the canonical text is used instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from saferl.errors import SaferlError
from saferl.policy import parse_policy
from saferl.policy.ast import Program
from saferl.policy.lexer import Token, tokenize
from saferl.policy.printer import format_number

__all__ = ["patch_source"]


def _token_at(tokens: Sequence[Token], line: int, col: int) -> int | None:
    for i, t in enumerate(tokens):
        if t.line == line and t.col == col:
            return i
    return None


def patch_source(
    source: str, user: Program, final: Program, origin: Mapping[int, int | None],
    blocks: Mapping[int, str],
) -> str | None:
    """The user's text with the repair applied, or None when it cannot be done faithfully.

    ``origin`` maps the final program's parameter ids to the user's; ``blocks`` maps the
    user's line of each leaf an edit replaced to the code that replaces it (canonical indent).
    """
    try:
        tokens = [t for t in tokenize(source, "<patch>") if t.kind != "EOF"]
    except SaferlError:
        return None
    lines = source.split("\n")
    user_params = user.parameters()
    final_params = final.parameters()
    # (line, start col, end col, replacement), 1-based columns
    subs: list[tuple[int, int, int, str]] = []
    for k, o in origin.items():
        if o is None:
            continue
        old, new = user_params[o], final_params[k]
        if old.value == new.value:
            continue
        i = _token_at(tokens, old.span.line, old.span.col)
        if i is None:
            return None
        t = tokens[i]
        if t.kind == "NAME":  # a discrete leaf's label
            text = getattr(new.node, "name", None)
            if not isinstance(text, str):
                return None
            subs.append((t.line, t.col, t.col + len(t.text), text))
            continue
        start = t.col
        end = t.col + len(t.text)
        if t.kind == "OP" and t.text == "-" and i + 1 < len(tokens) and tokens[i + 1].kind == "NUMBER":
            nxt = tokens[i + 1]
            if nxt.line != t.line:
                return None
            end = nxt.col + len(nxt.text)
        elif t.kind != "NUMBER":
            return None
        subs.append((t.line, start, end, format_number(new.value)))
    for line, start, end, text in sorted(subs, reverse=True):
        row = lines[line - 1]
        lines[line - 1] = row[: start - 1] + text + row[end - 1:]
    for ln in sorted(blocks, reverse=True):  # bottom-up keeps the earlier line numbers valid
        block = blocks[ln].split("\n")
        if not any(b.strip() for b in block):
            continue
        base = min(len(b) - len(b.lstrip()) for b in block if b.strip())
        row = lines[ln - 1]
        indent = row[: len(row) - len(row.lstrip())]
        if "{" in row or "}" in row:  # the leaf shares its line with other code
            return None
        lines[ln - 1: ln] = [indent + b[base:] if b.strip() else b for b in block]
    patched = "\n".join(lines)
    try:
        again = parse_policy(patched, "<patch>")
    except SaferlError:
        return None
    return patched if again == final else None
