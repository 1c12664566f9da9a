"""saferl's own expression grammar for specs (never Python ``eval``).

    cond   := or ;  or := and ('or' and)* ;  and := not ('and' not)* ;
    not    := 'not' not | 'true' | 'false' | '(' cond ')' | sum CMP sum
    sum    := term (('+'|'-') term)* ;  term := unary (('*'|'/') unary)*
    unary  := '-' unary | atom
    atom   := NUMBER | NAME [index] ["'"] | FUNC '(' args ')' | '(' sum ')'
            | 'sum' '(' NAME '=' INT '..' INT ',' sum ')'
    index  := '[' 't' (('-'|'+') (INT | NAME))* ']'

``x[t-k]`` is observation or action ``x`` k steps ago (history properties); ``x'`` is ``x``
in the second run of a two-run smoothness property.  ``sum(k = 0..5, e)`` is unrolled at
load time, so the result holds no bound variables.  Names stay unresolved here; binding
against a policy happens in :mod:`saferl.spec.bind`.

Limits (:mod:`saferl.limits`): an expression nests at most ``MAX_NESTING_DEPTH`` levels (an
unrolled sum of n terms is n levels deep), unrolls to at most ``MAX_SUM_EXPANSION`` terms
(nested sums multiply) and looks back at most ``MAX_HISTORY_LAG`` steps.
"""

from __future__ import annotations

from dataclasses import field, replace

from saferl.errors import Location, SpecError
from saferl.limits import MAX_HISTORY_LAG, MAX_SUM_EXPANSION, limit_message
from saferl.policy.lexer import Token, TokenStream, tokenize
from saferl.policy.parser import MAX_ABS_CONSTANT
from saferl.record import record

__all__ = [
    "SNum", "SVar", "SNeg", "SBin", "SCall", "SCmp", "SBool", "SNot", "SConst",
    "SExpr", "parse_spec_expr", "variables", "FUNCS",
]

FUNCS = {"abs": 1, "min": None, "max": None}
_CMP = ("<", "<=", ">", ">=", "==", "!=")


@record
class SNum:
    value: float


@record
class SVar:
    """A name at ``lag`` steps before t (0 = now) in run ``copy`` (0, or 1 when primed)."""

    name: str
    lag: int = 0
    copy: int = 0
    loc: Location | None = field(default=None, compare=False, repr=False)


@record
class SNeg:
    operand: SExpr


@record
class SBin:
    op: str
    left: SExpr
    right: SExpr


@record
class SCall:
    func: str
    args: tuple[SExpr, ...]


@record
class SCmp:
    op: str
    left: SExpr
    right: SExpr


@record
class SBool:
    op: str
    operands: tuple[SExpr, ...]


@record
class SNot:
    operand: SExpr


@record
class SConst:
    value: bool


SExpr = SNum | SVar | SNeg | SBin | SCall | SCmp | SBool | SNot | SConst


def variables(e: SExpr) -> list[SVar]:
    """Every variable occurrence in ``e``."""
    if isinstance(e, SVar):
        return [e]
    if isinstance(e, SNeg | SNot):
        return variables(e.operand)
    if isinstance(e, SBin | SCmp):
        return variables(e.left) + variables(e.right)
    if isinstance(e, SCall):
        return [v for a in e.args for v in variables(a)]
    if isinstance(e, SBool):
        return [v for o in e.operands for v in variables(o)]
    return []


class _P(TokenStream):
    error_class = SpecError
    end_name = "end of expression"
    leaf_types = (SNum, SVar, SConst)

    def __init__(self, text: str, path: str, line: int, col: int):
        toks = tokenize(text, path, line_offset=line - 1, col_offset=col - 1, error=SpecError, dotted_names=True)
        super().__init__(toks, path)
        self.bound: dict[str, int] = {}
        #: terms each enclosing sum(...) unrolls to, multiplied; and terms unrolled so far
        self.expansion = 1
        self.unrolled = 0

    def integer(self) -> int:
        neg = self.accept("-")
        t = self.tok
        if t.kind != "NUMBER" or not t.text.isdigit():
            raise self.error(f"expected an integer, found {self.describe(t)}")
        self.i += 1
        return -int(t.text) if neg else int(t.text)

    # conditions
    def cond(self) -> SExpr:
        t = self.tok
        ops = [self.and_()]
        while self.accept("or"):
            ops.append(self.and_())
        return ops[0] if len(ops) == 1 else self.built(SBool("or", tuple(ops)), ops, t)

    def and_(self) -> SExpr:
        t = self.tok
        ops = [self.not_()]
        while self.accept("and"):
            ops.append(self.not_())
        return ops[0] if len(ops) == 1 else self.built(SBool("and", tuple(ops)), ops, t)

    def not_(self) -> SExpr:
        t = self.tok
        if self.accept("not"):
            with self.nested(t):
                operand = self.not_()
            return self.built(SNot(operand), [operand], t)
        if self.accept("true"):
            return SConst(True)
        if self.accept("false"):
            return SConst(False)
        with self.nested(t):
            inner = self.parenthesised(self.cond)
        if inner is not None:
            return inner
        left = self.sum_()
        t = self.tok
        if t.kind != "OP" or t.text not in _CMP:
            raise self.error(f"expected a comparison, found {self.describe(t)}", hint="e.g. 'pole_angle > 0.05'")
        self.i += 1
        right = self.sum_()
        if self.tok.text in _CMP:
            raise self.error("comparisons do not chain", hint="write 'a < b and b < c'")
        return self.built(SCmp(t.text, left, right), [left, right], t)

    # arithmetic
    def sum_(self) -> SExpr:
        left = self.term()
        while self.tok.kind == "OP" and self.tok.text in ("+", "-"):
            op = self.tok
            self.i += 1
            right = self.term()
            left = self.built(SBin(op.text, left, right), [left, right], op)
        return left

    def term(self) -> SExpr:
        left = self.unary()
        while self.tok.kind == "OP" and self.tok.text in ("*", "/"):
            t = self.tok
            self.i += 1
            right = self.unary()
            if t.text == "/" and not (isinstance(right, SNum) and right.value != 0):
                raise self.error("division is only allowed by a non-zero constant", t)
            left = self.built(SBin(t.text, left, right), [left, right], t)
        return left

    def unary(self) -> SExpr:
        t = self.tok
        if self.accept("-"):
            with self.nested(t):
                inner = self.unary()
            return SNum(-inner.value) if isinstance(inner, SNum) else self.built(SNeg(inner), [inner], t)
        return self.atom()

    def atom(self) -> SExpr:
        t = self.tok
        if t.kind == "NUMBER":
            self.i += 1
            value = float(t.text)
            if not abs(value) <= MAX_ABS_CONSTANT:
                raise self.error(f"constant {t.text} is too large", t)
            return SNum(value)
        if self.accept("("):
            with self.nested(t):
                e = self.sum_()
            self.expect(")", hint="unbalanced parenthesis")
            return e
        if t.kind != "NAME":
            raise self.error(f"expected an expression, found {self.describe(t)}")
        self.i += 1
        if t.text == "sum" and self.at("("):
            with self.nested(t):
                return self.sum_call(t)
        if t.text in FUNCS and self.at("("):
            self.i += 1
            with self.nested(t):
                args = [self.sum_()]
                while self.accept(","):
                    args.append(self.sum_())
            self.expect(")", hint=f"close the call to {t.text}")
            arity = FUNCS[t.text]
            if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
                raise self.error(f"{t.text}() takes {'two or more arguments' if arity is None else arity}, got {len(args)}", t)
            return self.built(SCall(t.text, tuple(args)), args, t)
        if self.at("("):
            raise self.error(f"unknown function {t.text!r}", t, hint="functions: abs, min, max, sum")
        if t.text in self.bound:
            return SNum(float(self.bound[t.text]))
        lag = 0
        if self.accept("["):
            lag = self.index()
        copy = 1 if self.accept("'") else 0
        return SVar(t.text, lag, copy, self.loc(t))

    def index(self) -> int:
        t = self.tok
        if not self.accept("t"):
            raise self.error(f"expected 't' in a history index, found {self.describe(t)}", hint="write x[t] or x[t-1]")
        lag = 0
        while self.tok.text in ("-", "+"):
            sign = -1 if self.tok.text == "-" else 1
            self.i += 1
            n = self.tok
            if n.kind == "NUMBER" and n.text.isdigit():
                amount = int(n.text)
            elif n.kind == "NAME" and n.text in self.bound:
                amount = self.bound[n.text]
            else:
                raise self.error(f"expected an integer or a sum index, found {self.describe(n)}")
            self.i += 1
            lag -= sign * amount
        self.expect("]", hint="close the history index")
        if lag < 0:
            raise self.error("history indices cannot look into the future", t, hint="use t or t-k")
        if lag > MAX_HISTORY_LAG:
            raise self.limited(f"history index looks back more than {MAX_HISTORY_LAG} steps", "max_history_lag", t)
        return lag

    def limited(self, message: str, limit: str, tok: Token | None = None) -> SpecError:
        """A SpecError for input beyond one of the limits of :mod:`saferl.limits`."""
        exc = SpecError(limit_message(message, limit), self.loc(tok))
        exc.limit = limit
        return exc

    def sum_call(self, fn: Token) -> SExpr:
        self.expect("(")
        var = self.tok
        if var.kind != "NAME":
            raise self.error("expected the index name of sum(k = lo..hi, expr)", var)
        self.i += 1
        self.expect("=", hint="sum(k = 0..5, expr)")
        lo = self.integer()
        self.expect("..", hint="sum(k = 0..5, expr)")
        hi = self.integer()
        self.expect(",", hint="sum(k = 0..5, expr)")
        if hi < lo:
            raise self.error(f"empty range {lo}..{hi}", fn, hint="sum(k = lo..hi, expr) needs lo <= hi")
        count = hi - lo + 1
        self.unrolled += count
        if self.expansion * count > MAX_SUM_EXPANSION or self.unrolled > MAX_SUM_EXPANSION:
            raise self.limited(f"sum(...) unrolls to more than {MAX_SUM_EXPANSION} terms", "max_sum_expansion", fn)
        start = self.i
        terms: list[SExpr] = []
        outer = self.bound.get(var.text)
        self.expansion *= count
        try:
            for k in range(lo, hi + 1):
                self.i = start
                self.bound[var.text] = k
                terms.append(self.sum_())
        finally:
            self.expansion //= count
            if outer is None:
                self.bound.pop(var.text, None)
            else:
                self.bound[var.text] = outer
        self.expect(")", hint="close sum(...)")
        out = terms[0]
        for term in terms[1:]:
            out = self.built(SBin("+", out, term), [out, term], fn)
        return out


def parse_spec_expr(text: str, path: str, line: int, col: int, *, condition: bool = True) -> SExpr:
    """Parse a condition (or, with ``condition=False``, an arithmetic expression).

    ``line``/``col`` locate the first character of ``text`` in the YAML file.
    """
    p = _P(text, path, line, col)
    if p.tok.kind == "EOF":
        raise p.error("empty expression")
    e = p.cond() if condition else p.sum_()
    if p.tok.kind != "EOF":
        raise p.error(f"unexpected {p.describe(p.tok)}", hint="operators: + - * /, comparisons, and/or/not")
    return e


def shift(e: SExpr, by: int) -> SExpr:
    """``e`` with every lag increased by ``by``."""
    if isinstance(e, SVar):
        return replace(e, lag=e.lag + by)
    if isinstance(e, SNeg):
        return SNeg(shift(e.operand, by))
    if isinstance(e, SNot):
        return SNot(shift(e.operand, by))
    if isinstance(e, SBin):
        return SBin(e.op, shift(e.left, by), shift(e.right, by))
    if isinstance(e, SCmp):
        return SCmp(e.op, shift(e.left, by), shift(e.right, by))
    if isinstance(e, SCall):
        return SCall(e.func, tuple(shift(a, by) for a in e.args))
    if isinstance(e, SBool):
        return SBool(e.op, tuple(shift(o, by) for o in e.operands))
    return e
