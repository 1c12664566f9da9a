"""A small tokenizer shared by the .pol parser and the spec expression parser.

Tokens carry 1-based line and column.  ``#`` starts a comment to the end of the line.
Newlines are not tokens: both grammars are delimited by keywords and braces.  Digits are
the ASCII digits only (``'²'`` is not one); a number literal is at most
:data:`~saferl.limits.MAX_NUMBER_LENGTH` characters long and a name at most
:data:`~saferl.limits.MAX_NAME_LENGTH`.

:class:`TokenStream` also keeps both parsers within :data:`~saferl.limits.MAX_NESTING_DEPTH`:
the recursion of the parser itself (:meth:`TokenStream.nested`) and the depth of the tree it
builds (:meth:`TokenStream.built`), so that every recursive consumer of a tree is safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from saferl.errors import InputError, Location, PolicyParseError
from saferl.limits import MAX_NAME_LENGTH, MAX_NESTING_DEPTH, MAX_NUMBER_LENGTH, limit_message

__all__ = ["Token", "TokenStream", "tokenize", "KEYWORDS_POL"]

KEYWORDS_POL = frozenset(
    {"policy", "obs", "act", "if", "elif", "else", "and", "or", "not", "in", "true", "false"}
)

T = TypeVar("T")
N = TypeVar("N")

_DIGITS = frozenset("0123456789")
_BLANK = frozenset(" \t\r#")
_SKIP = re.compile(r"(?:[ \t\r]+|#[^\n]*)+")
_WORD = re.compile(r"\w+")
_DIGIT_RUN = re.compile(r"[0-9]*")
#: the common, well-formed tokens in one expression, each with the blanks and comments
#: before it (possessive: no backtracking over a long run); anything else (errors, dotted
#: names, odd characters) goes through the character-by-character rules below.  Groups by
#: number: 1 newline, 2 name, 3 number, 4 operator, 5 any other character; none: the end.
_SCAN = re.compile(
    r"""(?:[ \t\r]++|\#[^\n]*+)*+
    (?:(\n)
    |([A-Za-z_]\w*)(?![.\w])
    |((?:[0-9]+(?:\.(?!\.)[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![.\w])
    |(<=|>=|==|!=|\.\.|--|->|[{}()\[\],:=<>+\-*/'|;])
    |(.)
    |\Z)""",
    re.X | re.S,
)
_NL, _OTHER = 1, 5
_FAST_KIND = {2: "NAME", 3: "NUMBER", 4: "OP"}
_FAST_MAX = {2: MAX_NAME_LENGTH, 3: MAX_NUMBER_LENGTH, 4: 2}

#: tokens after ')' showing that the parentheses opened an arithmetic operand
_CONTINUES = frozenset({"<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/"})

_TWO_CHAR = {"<=", ">=", "==", "!=", "..", "--", "->"}
_ONE_CHAR = set("{}()[],:=<>+-*/'|;")


class Token(NamedTuple):
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
    max_tokens: int | None = None,
) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token.

    ``line_offset``/``col_offset`` shift reported positions (used for expressions embedded
    in a YAML file).  ``dotted_names`` lets names contain dots (``pid0.integral``).
    ``max_tokens`` stops after that many tokens (to peek at a header cheaply).
    Raises ``error`` (a PolicyParseError subclass or SpecError) at the first bad character.
    Linear in the length of ``text``, with regular expressions for the long runs.
    """
    tokens: list[Token] = []
    append = tokens.append
    i, n = 0, len(text)
    line, line_start = 1, 0

    def loc(at: int) -> Location:
        col = at - line_start + 1 + (col_offset if line == 1 else 0)
        return Location(path, line + line_offset, col)

    scan = _SCAN.finditer
    kinds, longest, new = _FAST_KIND, _FAST_MAX, tuple.__new__
    limited = max_tokens is not None
    stop = n + 1 if max_tokens is None else max_tokens
    while i < n and len(tokens) < stop:
        # the common tokens in one pass of the regular expression (blanks and comments
        # before a token are part of its match); the first other character (or an
        # over-long token) goes through the rules below
        tline = line + line_offset
        base = line_start - 1 - (col_offset if line == 1 else 0)  # a token's column: start - base
        for m in scan(text, i):
            k = m.lastindex
            if k is None:  # blanks or a comment at the end
                continue
            if k == _NL:
                line += 1
                line_start = m.end()
                tline = line + line_offset
                base = line_start - 1
                continue
            word = m.group(k)
            if k == _OTHER or len(word) > longest[k]:  # type: ignore[index]
                i = m.start(k)  # type: ignore[arg-type]
                break
            append(new(Token, (kinds[k], word, tline, m.start(k) - base)))  # type: ignore[arg-type,index]
            if limited and len(tokens) >= stop:
                i = m.end()
                break
        else:
            i = n
            break
        if len(tokens) >= stop:
            break
        c = text[i]
        if c == "\n":
            line += 1
            line_start = i + 1
            i += 1
            continue
        if c in _BLANK:
            i = _SKIP.match(text, i).end()  # type: ignore[union-attr]  # always matches here
            continue
        tline = line + line_offset
        tcol = i - line_start + 1 + (col_offset if line == 1 else 0)
        if c.isalpha() or c == "_":
            j = _WORD.match(text, i).end()  # type: ignore[union-attr]  # c is a word character
            while dotted_names and j + 1 < n and text[j] == "." and text[j + 1].isalpha():
                j = _WORD.match(text, j + 1).end()  # type: ignore[union-attr]
            if j - i > MAX_NAME_LENGTH:
                exc = error(limit_message(f"name longer than {MAX_NAME_LENGTH} characters", "max_name_length"), loc(i))
                exc.limit = "max_name_length"
                raise exc
            append(Token("NAME", text[i:j], tline, tcol))
            i = j
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            j = _DIGIT_RUN.match(text, i).end()  # type: ignore[union-attr]  # may match nothing
            if j < n and text[j] == "." and not (j + 1 < n and text[j + 1] == "."):
                j = _DIGIT_RUN.match(text, j + 1).end()  # type: ignore[union-attr]
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k] in _DIGITS:
                    j = _DIGIT_RUN.match(text, k).end()  # type: ignore[union-attr]
                else:
                    raise error(
                        f"malformed number {text[i:k]!r}", loc(i), hint="an exponent needs digits, e.g. 1e-3"
                    )
            if j < n and (text[j].isalnum() or text[j] == "_"):
                raise error(
                    f"malformed number {text[i:j + 1]!r}", loc(i), hint="put a space or operator after a number"
                )
            if j - i > MAX_NUMBER_LENGTH:
                exc = error(
                    limit_message(f"number longer than {MAX_NUMBER_LENGTH} characters", "max_number_length"), loc(i),
                    hint="a float64 needs at most 17 significant digits",
                )
                exc.limit = "max_number_length"
                raise exc
            append(Token("NUMBER", text[i:j], tline, tcol))
            i = j
            continue
        two = text[i : i + 2]
        if two in _TWO_CHAR:
            append(Token("OP", two, tline, tcol))
            i += 2
            continue
        if c in _ONE_CHAR:
            append(Token("OP", c, tline, tcol))
            i += 1
            continue
        shown = repr(c) if c.isprintable() else f"U+{ord(c):04X}"
        raise error(f"unexpected character {shown}", loc(i), hint="see docs/policy-format.md for the grammar")
    end = loc(n)
    append(Token("EOF", "", end.line, end.col))
    return tokens


class TokenStream:
    """Cursor over tokens with the look-ahead helpers both recursive-descent parsers use.

    Subclasses set :attr:`error_class` (the InputError subclass raised) and
    :attr:`end_name` (how the end of input is described in messages).
    """

    error_class: type[InputError] = PolicyParseError
    end_name = "end of file"
    #: node types without children (depth 1); every other node goes through :meth:`built`
    leaf_types: tuple[type, ...] = ()
    max_depth = MAX_NESTING_DEPTH

    def __init__(self, toks: list[Token], path: str):
        self.toks = toks
        self.path = path
        self.i = 0
        #: current recursion depth of the parser (nested blocks, parentheses, operators)
        self.depth = 0
        #: nesting of the statement being parsed (added to the depth of its expressions)
        self.block_depth = 0
        self._depths: dict[int, int] = {}

    def too_deep(self, tok: Token | None = None) -> InputError:
        """The error for input nested deeper than :attr:`max_depth`."""
        exc = self.error(
            limit_message(f"nesting deeper than {self.max_depth} levels", "max_nesting_depth"), tok,
            hint="split the expression or flatten the nesting",
        )
        exc.limit = "max_nesting_depth"
        return exc

    def nested(self, tok: Token | None = None) -> _Nesting:
        """One level deeper for the parser's own recursion (blocks, parentheses, operators),
        as a context manager.

        Parentheses build no node, so the recursion may go twice as deep as the tree
        (``-(-x)`` is two levels of tree, four of recursion); beyond that it fails.
        """
        return _Nesting(self, tok)

    def depth_of(self, node: object) -> int:
        """The depth of a tree built by this parser (a leaf is 1)."""
        if isinstance(node, self.leaf_types):
            return 1
        return self._depths[id(node)]

    def built(self, node: N, children: Iterable[object], tok: Token | None = None) -> N:
        """Record the depth of a new inner ``node``; fails if, with the statements around
        it, it is nested deeper than :attr:`max_depth` (``tok`` locates the error)."""
        depth, leaf, depths = 1, self.leaf_types, self._depths
        for c in children:
            below = 1 if isinstance(c, leaf) else depths[id(c)]
            if below >= depth:
                depth = below + 1
        if depth + self.block_depth > self.max_depth:
            raise self.too_deep(tok)
        self._depths[id(node)] = depth
        return node

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
        t = self.toks[self.i]
        return t.text == text and (t.kind == "OP" or t.kind == "NAME")

    def accept(self, text: str) -> bool:
        t = self.toks[self.i]
        if t.text == text and (t.kind == "OP" or t.kind == "NAME"):
            self.i += 1
            return True
        return False

    def expect(self, text: str, hint: str | None = None) -> Token:
        t = self.toks[self.i]
        if not (t.text == text and (t.kind == "OP" or t.kind == "NAME")):
            raise self.error(f"expected {text!r}, found {self.describe(t)}", hint=hint)
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
        except self.error_class as exc:
            if exc.limit is not None:  # a limit is final: no second reading fits either
                raise
            self.i = save
            return None
        if self.tok.text in _CONTINUES:
            self.i = save
            return None
        return inner


class _Nesting:
    """The context manager of :meth:`TokenStream.nested` (a class: entered on every block
    and operator, it costs less than a generator-based one)."""

    __slots__ = ("stream", "tok")

    def __init__(self, stream: TokenStream, tok: Token | None):
        self.stream = stream
        self.tok = tok

    def __enter__(self) -> None:
        s = self.stream
        s.depth += 1
        if s.depth > 2 * s.max_depth:
            s.depth -= 1
            raise s.too_deep(self.tok)

    def __exit__(self, *exc: object) -> None:
        self.stream.depth -= 1
