"""The gridworld family of the .pol language: subgoal programs as readable text.

Grammar (whitespace and newlines are free; ``#`` starts a comment to the end of the line)::

    file     := 'policy' NAME gridline block+
    gridline := 'gridworld' 'size' INT 'start' point 'on' segment
    block    := 'do' rule* 'until' ( segment | 'target' )
    rule     := 'from' segment ':' target ( 'then' target )*
    target   := 'reach' segment 'on' segment [ 'prefer' ( 'mid' | 'max' | 'min' ) ]
    segment  := '[' point '--' point ']'
    point    := '(' rational ',' rational ')'
    rational := [ '-' ] DIGITS [ '/' DIGITS ]
    NAME     := [A-Za-z_][A-Za-z0-9_]*      (as in every .pol family)

Example:
    >>> prog = parse_subgoal_pol('''
    ... policy tiny
    ... gridworld size 2 start (0, 0) on [(0, 0) -- (2, 0)]
    ... do
    ...   from [(0, 0) -- (2, 0)]:
    ...     reach [(1, 1) -- (2, 2)] on [(2, 2) -- (1, 1)]
    ... until target
    ... ''')
    >>> parse_subgoal_pol(format_subgoal_pol(prog)) == prog
    True
"""

from __future__ import annotations

import re
from fractions import Fraction

from saferl.errors import Location, PolicyParseError
from saferl.gridworld.geometry import Point
from saferl.gridworld.program import (
    Block,
    Rule,
    Segment,
    SubgoalProgram,
    Target,
    format_subgoal_pol,
)

__all__ = ["parse_subgoal_pol", "format_subgoal_pol", "is_subgoal_pol"]

_TOKEN = re.compile(
    r"(?P<ws>[ \t\r]+)|(?P<nl>\n)|(?P<comment>#[^\n]*)|(?P<arrow>--)|(?P<num>\d+)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[()\[\],:/\-])"
)
_KEYWORDS = ("policy", "gridworld", "size", "start", "on", "do", "from", "reach", "then", "prefer", "until", "target")


class _Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind: str, text: str, line: int, col: int):
        self.kind, self.text, self.line, self.col = kind, text, line, col


def _tokenize(text: str, path: str) -> list[_Tok]:
    toks: list[_Tok] = []
    line, line_start, pos = 1, 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            # reported when the parser reaches it, so earlier structural errors come first
            toks.append(_Tok("bad", text[pos], line, pos - line_start + 1))
            pos += 1
            continue
        kind = m.lastgroup or ""
        if kind == "nl":
            line += 1
            line_start = m.end()
        elif kind not in ("ws", "comment"):
            toks.append(_Tok(kind, m.group(), line, pos - line_start + 1))
        pos = m.end()
    toks.append(_Tok("eof", "end of file", line, pos - line_start + 1))
    return toks


class _Parser:
    def __init__(self, text: str, path: str):
        self.path = path
        self.toks = _tokenize(text, path)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def fail(self, tok: _Tok, msg: str, hint: str | None = None) -> PolicyParseError:
        return PolicyParseError(msg, Location(self.path, tok.line, tok.col), hint=hint)

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind == "bad":
            raise self.fail(tok, f"unexpected character {tok.text!r}",
                            hint="points are written (3/7, 2) and segments [(0, 1) -- (0, 2)]")
        if tok.kind != "eof":
            self.i += 1
        return tok

    def expect(self, text: str, hint: str | None = None) -> _Tok:
        tok = self.next()
        if tok.text != text:
            raise self.fail(tok, f"expected '{text}', found '{tok.text}'", hint)
        return tok

    def at(self, text: str) -> bool:
        return self.peek().text == text

    def integer(self, what: str) -> int:
        tok = self.next()
        if tok.kind != "num":
            raise self.fail(tok, f"expected {what}, found '{tok.text}'")
        return int(tok.text)

    def rational(self) -> Fraction:
        tok = self.peek()
        neg = False
        if tok.text == "-":
            self.next()
            neg = True
        num = self.integer("a number such as 3 or 3/7")
        value = Fraction(num)
        if self.at("/"):
            self.next()
            dtok = self.peek()
            den = self.integer("a denominator")
            if den == 0:
                raise self.fail(dtok, "zero denominator", hint="write a rational like 3/7")
            value = Fraction(num, den)
        return -value if neg else value

    def point(self) -> Point:
        self.expect("(", hint="a point is written (x, y), e.g. (3/7, 2)")
        x = self.rational()
        self.expect(",", hint="a point is written (x, y), e.g. (3/7, 2)")
        y = self.rational()
        self.expect(")", hint="a point is written (x, y), e.g. (3/7, 2)")
        return (x, y)

    def segment(self) -> Segment:
        self.expect("[", hint="a segment is written [(0, 1) -- (0, 2)]")
        a = self.point()
        self.expect("--", hint="a segment is written [(0, 1) -- (0, 2)]")
        b = self.point()
        self.expect("]", hint="a segment is written [(0, 1) -- (0, 2)]")
        return Segment(a, b)

    def target(self) -> Target:
        self.expect("reach", hint="a rule lists targets: reach [SEGMENT] on [EDGE]")
        goal = self.segment()
        self.expect("on", hint="say which edge the target lies on: reach [..] on [EDGE]")
        edge = self.segment()
        prefer = "mid"
        if self.at("prefer"):
            self.next()
            tok = self.next()
            if tok.text not in ("mid", "max", "min"):
                raise self.fail(tok, f"unknown preference '{tok.text}'", hint="prefer mid, max or min")
            prefer = tok.text
        return Target(goal, edge, prefer)  # type: ignore[arg-type]

    def rule(self) -> Rule:
        self.expect("from")
        source = self.segment()
        self.expect(":", hint="a rule is written from [EDGE]: reach ...")
        targets = [self.target()]
        while self.at("then"):
            self.next()
            targets.append(self.target())
        return Rule(source, tuple(targets))

    def block(self) -> Block:
        self.expect("do")
        rules = []
        while self.at("from"):
            rules.append(self.rule())
        tok = self.peek()
        if tok.text != "until":
            raise self.fail(tok, f"expected 'from' or 'until', found '{tok.text}'",
                            hint="a block is: do from [EDGE]: reach ... until [EDGE]|target")
        self.next()
        if self.at("target"):
            self.next()
            return Block(tuple(rules), None)
        return Block(tuple(rules), self.segment())

    def program(self) -> SubgoalProgram:
        tok = self.next()
        if tok.text != "policy":
            raise self.fail(tok, f"expected 'policy NAME', found '{tok.text}'", hint="a .pol file starts with: policy NAME")
        name_tok = self.next()
        if name_tok.kind != "name" or name_tok.text in _KEYWORDS:
            raise self.fail(name_tok, f"expected a policy name, found '{name_tok.text}'")
        self.expect("gridworld", hint="a gridworld policy continues with: gridworld size N start (x, y) on [EDGE]")
        self.expect("size")
        size_tok = self.peek()
        size = self.integer("the grid size")
        if size <= 0:
            raise self.fail(size_tok, "the grid size must be positive")
        self.expect("start")
        start = self.point()
        self.expect("on", hint="give the start edge: start (x, y) on [EDGE]")
        start_edge = self.segment()
        blocks = []
        while self.at("do"):
            blocks.append(self.block())
        tok = self.peek()
        if tok.kind != "eof":
            raise self.fail(tok, f"expected 'do' or end of file, found '{tok.text}'")
        if not blocks:
            raise self.fail(tok, "a gridworld policy needs at least one 'do ... until' block")
        for blk in blocks[:-1]:
            if blk.until is None:
                raise self.fail(tok, "only the last block may end with 'until target'")
        if blocks[-1].until is not None:
            raise self.fail(tok, "the last block must end with 'until target'")
        return SubgoalProgram(name_tok.text, size, start, start_edge, tuple(blocks))


def parse_subgoal_pol(text: str, path: str = "<string>") -> SubgoalProgram:
    """Parse a gridworld subgoal program written in .pol; PolicyParseError with line:col."""
    return _Parser(text, path).program()


def is_subgoal_pol(text: str) -> bool:
    """Whether .pol text belongs to the gridworld family (``gridworld`` right after the header)."""
    toks = _tokenize(text, "<string>")
    return len(toks) >= 3 and toks[0].text == "policy" and toks[2].text == "gridworld"
