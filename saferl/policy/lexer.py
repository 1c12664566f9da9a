"""A small tokenizer shared by the .pol parser and the spec expression parser.

Tokens carry 1-based line and column.  ``#`` starts a comment to the end of the line.
Newlines are not tokens: both grammars are delimited by keywords and braces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from saferl.errors import InputError, Location, PolicyParseError

__all__ = ["Token", "TokenStream", "tokenize", "KEYWORDS_POL"]

KEYWORDS_POL = frozenset(
    {"policy", "obs", "act", "if", "elif", "else", "and", "or", "not", "in", "true", "false"}
)

T = TypeVar("T")

#: tokens after ')' showing that the parentheses opened an arithmetic operand
_CONTINUES = frozenset({"<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/"})

_TWO_CHAR = {"<=", ">=", "==", "!=", "..", "--", "->"}
_ONE_CHAR = set("{}()[],:=<>+-*/'|;")


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is NAME, NUMBER, OP or EOF; ``text`` is its source text."""

    kind: str
    text: str
    line: int
    col: int


def tokenize(
    text: str,
    path: str = "<string>",
    *,
    line_offset: int = 0,
    col_offset: int = 0,
    error: type[InputError] = PolicyParseError,
    dotted_names: bool = False,
) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token.

    ``line_offset``/``col_offset`` shift reported positions (used for expressions embedded
    in a YAML file).  ``dotted_names`` lets names contain dots (``pid0.integral``).
    Raises ``error`` (a PolicyParseError subclass or SpecError) at the first bad character.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    line, line_start = 1, 0

    def loc(at: int) -> Location:
        col = at - line_start + 1 + (col_offset if line == 1 else 0)
        return Location(path, line + line_offset, col)

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            line_start = i + 1
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        l0 = loc(i)
        if c.isalpha() or c == "_":
            j = i + 1
            while j < n and (
                text[j].isalnum()
                or text[j] == "_"
                or (dotted_names and text[j] == "." and j + 1 < n and text[j + 1].isalpha())
            ):
                j += 1
            tokens.append(Token("NAME", text[i:j], l0.line, l0.col))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j < n and text[j] == "." and not (j + 1 < n and text[j + 1] == "."):
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    while k < n and text[k].isdigit():
                        k += 1
                    j = k
                else:
                    raise error(
                        f"malformed number {text[i:k]!r}", l0, hint="an exponent needs digits, e.g. 1e-3"
                    )
            if j < n and (text[j].isalpha() or text[j] == "_"):
                raise error(
                    f"malformed number {text[i:j + 1]!r}", l0, hint="put a space or operator after a number"
                )
            tokens.append(Token("NUMBER", text[i:j], l0.line, l0.col))
            i = j
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR:
            tokens.append(Token("OP", two, l0.line, l0.col))
            i += 2
            continue
        if c in _ONE_CHAR:
            tokens.append(Token("OP", c, l0.line, l0.col))
            i += 1
            continue
        shown = repr(c) if c.isprintable() else f"U+{ord(c):04X}"
        raise error(f"unexpected character {shown}", l0, hint="see docs/policy-format.md for the grammar")
    end = loc(n)
    tokens.append(Token("EOF", "", end.line, end.col))
    return tokens


class TokenStream:
    """Cursor over tokens with the look-ahead helpers both recursive-descent parsers use.

    Subclasses set :attr:`error_class` (the InputError subclass raised) and
    :attr:`end_name` (how the end of input is described in messages).
    """

    error_class: type[InputError] = PolicyParseError
    end_name = "end of file"

    def __init__(self, toks: list[Token], path: str):
        self.toks = toks
        self.path = path
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def loc(self, tok: Token | None = None) -> Location:
        t = tok or self.tok
        return Location(self.path, t.line, t.col)

    def error(self, message: str, tok: Token | None = None, hint: str | None = None) -> InputError:
        return self.error_class(message, self.loc(tok), hint=hint)

    def describe(self, tok: Token) -> str:
        return self.end_name if tok.kind == "EOF" else repr(tok.text)

    def at(self, text: str) -> bool:
        return self.tok.text == text and self.tok.kind in ("OP", "NAME")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def expect(self, text: str, hint: str | None = None) -> Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}, found {self.describe(self.tok)}", hint=hint)
        t = self.tok
        self.i += 1
        return t

    def parenthesised(self, parse_condition: Callable[[], T]) -> T | None:
        """``( condition )`` if the parentheses hold a whole condition; otherwise rewind
        and return None (they open an arithmetic operand, as in ``(x + 1) <= 2``)."""
        if not self.at("("):
            return None
        save = self.i
        self.i += 1
        try:
            inner = parse_condition()
            self.expect(")")
        except self.error_class:
            self.i = save
            return None
        if self.tok.text in _CONTINUES:
            self.i = save
            return None
        return inner
