"""Parser of the .pol policy language (grammar in docs/policy-format.md).

Every error is a :class:`~saferl.errors.PolicyParseError` with ``path:line:col`` and a hint.

Example:
    >>> p = parse_program("policy p\\nobs x: float32\\nact a: continuous [-1, 1]\\na = clip(2 * x, -1, 1)\\n")
    >>> p.action_names
    ('a',)
"""

from __future__ import annotations

import math

from saferl.errors import Location, PolicyParseError
from saferl.limits import MAX_BRANCHES, limit_message
from saferl.policy.ast import (
    CALL_ARITY,
    MAX_PID_WINDOW,
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
    Span,
    Stmt,
)
from saferl.policy.lexer import KEYWORDS_POL, Token, TokenStream, tokenize

__all__ = ["parse_program", "parse_number"]

_CMP = ("<", "<=", ">", ">=", "==", "!=")
#: tokens after a number or a name that make it part of a larger operand
_OPERAND_CONTINUES = frozenset({"+", "-", "*", "/", "("})
_RESERVED = KEYWORDS_POL | set(CALL_ARITY) | {"pid", "discrete", "continuous", "float32", "float64", "gridworld"}
MAX_ABS_CONSTANT = 1e300


def parse_number(text: str, loc: Location) -> float:
    """The float64 value of a number literal; NaN, infinities and overflow are errors."""
    value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_ABS_CONSTANT:
        raise PolicyParseError(
            f"constant {text} is too large", loc, hint=f"constants must lie within ±{MAX_ABS_CONSTANT:g}"
        )
    return value


def _suggest(name: str, candidates: list[str]) -> str | None:
    import difflib  # only for an error's hint

    close = difflib.get_close_matches(name, candidates, n=1)
    return f"did you mean {close[0]!r}?" if close else None


class _Parser(TokenStream):
    leaf_types = (Num, Obs, Label, BoolConst)

    def __init__(self, text: str, path: str):
        super().__init__(tokenize(text, path), path)
        self.obs: dict[str, ObsDecl] = {}
        self.acts: dict[str, ActDecl] = {}
        self.pid_sites = 0
        #: if/elif branches nested on the way to the statement being parsed
        self.branch_depth = 0

    def span(self, tok: Token | None = None) -> Span:
        t = tok or self.tok
        return Span(t.line, t.col)

    def name(self, what: str) -> Token:
        t = self.tok
        if t.kind != "NAME":
            raise self.error(f"expected {what}, found {self.describe(t)}")
        self.i += 1
        return t

    def number(self) -> float:
        """A signed number literal."""
        neg = self.accept("-")
        t = self.tok
        if t.kind != "NUMBER":
            raise self.error(f"expected a number, found {self.describe(t)}")
        self.i += 1
        v = self.number_value(t)
        return -v if neg else v

    def number_value(self, t: Token) -> float:
        """The value of a number token (:func:`parse_number`; its location made only for an error)."""
        value = float(t.text)
        if -MAX_ABS_CONSTANT <= value <= MAX_ABS_CONSTANT:
            return value
        return parse_number(t.text, self.loc(t))

    # -- program ---------------------------------------------------------------------
    def program(self) -> Program:
        start = self.tok
        if not self.at("policy"):
            raise self.error(
                f"expected 'policy NAME' at the start, found {self.describe(self.tok)}",
                hint="a .pol file starts with a line like 'policy my_policy'",
            )
        self.i += 1
        name = self.name("the policy's name").text
        while self.at("obs") or self.at("act"):
            if self.accept("obs"):
                self.obs_decl()
            else:
                self.i += 1
                self.act_decl()
        if not self.acts:
            raise self.error(
                "the policy declares no action", hint="declare one, e.g. 'act push: discrete {left = 0, right = 1}'"
            )
        body_tok = self.tok
        body = self.block_body(top=True)
        if self.tok.kind != "EOF":
            raise self.error(f"unexpected {self.describe(self.tok)}", hint="a statement is 'action = expr' or 'if cond { … }'")
        assigned = self.check_block(body, frozenset())
        missing = [a for a in self.acts if a not in assigned]
        if missing:
            raise self.error(
                f"action {missing[0]!r} is never assigned", body_tok,
                hint=f"add a statement '{missing[0]} = …' on every path",
            )
        return Program(name, tuple(self.obs.values()), tuple(self.acts.values()), body, self.span(start))

    def check_unique(self, tok: Token) -> None:
        if tok.text in _RESERVED:
            raise self.error(f"{tok.text!r} is a reserved word", tok, hint="choose another name")
        if tok.text in self.obs or tok.text in self.acts:
            raise self.error(f"{tok.text!r} is declared twice", tok)

    def obs_decl(self) -> None:
        t = self.name("an observation name")
        self.check_unique(t)
        self.expect(":", hint="write 'obs NAME: float32'")
        dt = self.name("an element type (float32 or float64)")
        if dt.text not in ("float32", "float64"):
            raise self.error(f"unknown observation type {dt.text!r}", dt, hint="use float32 or float64")
        low = high = None
        if self.accept("in"):
            low, high = self.range()
        self.obs[t.text] = ObsDecl(t.text, dt.text, low, high, self.span(t))

    def range(self) -> tuple[float, float]:
        open_tok = self.expect("[", hint="a range is written [low, high]")
        low = self.number()
        self.expect(",")
        high = self.number()
        self.expect("]")
        if low > high:
            raise self.error(f"empty range [{low}, {high}]", open_tok, hint="low must not exceed high")
        return low, high

    def act_decl(self) -> None:
        t = self.name("an action name")
        self.check_unique(t)
        self.expect(":", hint="write 'act NAME: discrete {…}' or 'act NAME: continuous [low, high]'")
        kind = self.name("'discrete' or 'continuous'")
        if kind.text == "discrete":
            self.expect("{", hint="list the labels, e.g. {left = 0, right = 1}")
            labels: list[tuple[str, int]] = []
            while True:
                lt = self.name("a label")
                if lt.text in _RESERVED or lt.text in self.obs:
                    raise self.error(f"{lt.text!r} cannot be a label", lt, hint="choose another name")
                self.expect("=")
                vt = self.tok
                value = self.number()
                if value != int(value) or value < 0:
                    raise self.error("a discrete action value must be a non-negative integer", vt)
                if any(n == lt.text for n, _ in labels) or any(v == int(value) for _, v in labels):
                    raise self.error(f"label {lt.text!r} or its value is repeated", lt)
                labels.append((lt.text, int(value)))
                if not self.accept(","):
                    break
            self.expect("}")
            self.acts[t.text] = ActDecl(t.text, "discrete", tuple(labels), span=self.span(t))
        elif kind.text == "continuous":
            low = high = None
            if self.at("["):
                low, high = self.range()
            self.acts[t.text] = ActDecl(t.text, "continuous", (), low, high, self.span(t))
        else:
            raise self.error(f"unknown action kind {kind.text!r}", kind, hint="use 'discrete' or 'continuous'")

    # -- statements ------------------------------------------------------------------
    def block_body(self, top: bool = False) -> tuple[Stmt, ...]:
        stmts: list[Stmt] = []
        while True:
            t = self.tok
            if t.kind == "EOF" or (t.kind == "OP" and t.text == "}"):
                break
            if self.at("obs") or self.at("act"):
                raise self.error("declarations must come before the first statement", t)
            stmts.append(self.statement())
        if not stmts and not top:
            raise self.error("empty block", hint="every branch assigns the actions")
        return tuple(stmts)

    def block(self) -> tuple[Stmt, ...]:
        self.expect("{", hint="a branch is written { … }")
        body = self.block_body()
        self.expect("}", hint="close the block with '}'")
        return body

    def statement(self) -> Stmt:
        t = self.tok
        if self.accept("if"):
            with self.nested(t):
                self.block_depth += 1
                try:
                    return self.if_rest(t)
                finally:
                    self.block_depth -= 1
        if t.kind != "NAME":
            raise self.error(f"expected a statement, found {self.describe(t)}", hint="a statement is 'action = expr' or 'if cond { … }'")
        if t.text not in self.acts:
            hint = _suggest(t.text, list(self.acts)) or "assign a declared action"
            if t.text in self.obs:
                hint = "observations are read-only; assign an action"
            raise self.error(f"unknown action {t.text!r}", t, hint=hint)
        self.i += 1
        self.expect("=", hint=f"write '{t.text} = …'")
        decl = self.acts[t.text]
        value: Expr
        if decl.kind == "discrete":
            value = self.discrete_value(decl)
        else:
            value = self.expr()
        return Assign(t.text, value, self.span(t))

    def if_rest(self, t: Token) -> If:
        outer = self.branch_depth
        try:
            branches = [(self.cond(), self.branch_block(outer, 0, t))]
            orelse: tuple[Stmt, ...] = ()
            while True:
                k = self.tok
                if self.accept("elif"):
                    branches.append((self.cond(), self.branch_block(outer, len(branches), k)))
                elif self.accept("else"):
                    if self.at("if"):
                        raise self.error("write 'elif', not 'else if'")
                    orelse = self.branch_block(outer, len(branches) - 1, k)  # as deep as the last branch
                    break
                else:
                    break
        finally:
            self.branch_depth = outer
        return If(tuple(branches), orelse, self.span(t))

    def branch_block(self, outer: int, index: int, tok: Token) -> tuple[Stmt, ...]:
        """The block of branch ``index`` of an if/elif chain.  The evaluator compiles it to
        Python, which nests each ``elif`` in the ``else`` of the one before: branch k sits
        k + 1 levels deep, and the levels of enclosing chains add up (limit max_branches)."""
        self.branch_depth = outer + index + 1
        if self.branch_depth > MAX_BRANCHES:
            exc = self.error(
                limit_message(f"more than {MAX_BRANCHES} if/elif branches on one path", "max_branches"), tok,
                hint="split the chain into nested ifs (e.g. a binary search over the thresholds)",
            )
            exc.limit = "max_branches"
            raise exc
        return self.block()

    def discrete_value(self, decl: ActDecl) -> Label:
        t = self.tok
        names = dict(decl.labels)
        if t.kind == "NAME":
            self.i += 1
            if t.text not in names:
                raise self.error(
                    f"{t.text!r} is not a label of action {decl.name!r}", t,
                    hint=_suggest(t.text, list(names)) or f"labels: {', '.join(names)}",
                )
            return Label(t.text, names[t.text], self.span(t))
        if t.kind == "NUMBER":
            v = self.number()
            by_value = {v2: n for n, v2 in decl.labels}
            if v != int(v) or int(v) not in by_value:
                raise self.error(f"{t.text} is not a value of action {decl.name!r}", t, hint=f"labels: {', '.join(names)}")
            return Label(by_value[int(v)], int(v), self.span(t))
        raise self.error(f"expected a label of action {decl.name!r}, found {self.describe(t)}")

    def check_block(self, body: tuple[Stmt, ...], assigned: frozenset[str]) -> frozenset[str]:
        for stmt in body:
            if isinstance(stmt, Assign):
                if stmt.target in assigned:
                    raise PolicyParseError(
                        f"action {stmt.target!r} is assigned twice on one path",
                        Location(self.path, stmt.span.line, stmt.span.col),
                        hint="assign each action once per path",
                    )
                assigned = assigned | {stmt.target}
            else:
                outcomes = [(blk, self.check_block(blk, assigned)) for _, blk in stmt.branches]
                outcomes.append((stmt.orelse, self.check_block(stmt.orelse, assigned)))
                first = outcomes[0][1]
                for _, got in outcomes[1:]:
                    if got != first:
                        diff = sorted(first ^ got)
                        raise PolicyParseError(
                            f"action {diff[0]!r} is assigned in some branches of this if but not in others",
                            Location(self.path, stmt.span.line, stmt.span.col),
                            hint="assign it in every branch (and add an else)",
                        )
                assigned = first
        return assigned

    # -- conditions ------------------------------------------------------------------
    def cond(self) -> Cond:
        t = self.tok
        first = self.and_cond()
        if not self.at("or"):
            return first
        ops = [first]
        while self.accept("or"):
            ops.append(self.and_cond())
        return self.built(BoolOp("or", tuple(ops), self.span(t)), ops, t)

    def and_cond(self) -> Cond:
        t = self.tok
        first = self.not_cond()
        if not self.at("and"):
            return first
        ops = [first]
        while self.accept("and"):
            ops.append(self.not_cond())
        return self.built(BoolOp("and", tuple(ops), self.span(t)), ops, t)

    def not_cond(self) -> Cond:
        t = self.tok
        if t.kind == "NAME" and t.text in ("not", "true", "false"):
            self.i += 1
            if t.text == "not":
                with self.nested(t):
                    operand = self.not_cond()
                return self.built(Not(operand, self.span(t)), [operand], t)
            return BoolConst(t.text == "true", self.span(t))
        if t.kind == "OP" and t.text == "(":
            with self.nested(t):
                inner = self.parenthesised(self.cond)
            if inner is not None:
                return inner
        sites = self.pid_sites  # a pid parsed in either side counts one more site
        left = self.expr()
        op = self.tok
        if op.text not in _CMP or op.kind != "OP":
            raise self.error(
                f"expected a comparison, found {self.describe(op)}", hint="conditions compare, e.g. 'x <= 0.5'"
            )
        self.i += 1
        right = self.expr()
        if self.pid_sites != sites:
            raise self.error("a pid controller cannot appear in a condition", t, hint="compare observations")
        if self.tok.text in _CMP:
            raise self.error("comparisons do not chain", hint="write 'a < b and b < c'")
        return self.built(Compare(op.text, left, right, self.span(t)), [left, right], t)

    # -- expressions -----------------------------------------------------------------
    def expr(self) -> Expr:
        t = self.toks[self.i]
        if t.kind == "NUMBER" or (t.kind == "NAME" and t.text in self.obs):
            # a lone number or observation (most operands of a tree): no operator follows
            if self.toks[self.i + 1].text not in _OPERAND_CONTINUES:
                self.i += 1
                if t.kind == "NAME":
                    return Obs(t.text, Span(t.line, t.col))
                return Num(self.number_value(t), Span(t.line, t.col))
        left = self.term()
        while self.tok.kind == "OP" and self.tok.text in ("+", "-"):
            op = self.tok
            self.i += 1
            right = self.term()
            left = self.built(BinOp(op.text, left, right, self.span(op)), [left, right], op)
        return left

    def term(self) -> Expr:
        left = self.unary()
        while self.tok.kind == "OP" and self.tok.text in ("*", "/"):
            op = self.tok
            self.i += 1
            right = self.unary()
            if op.text == "/" and not (isinstance(right, Num) and right.value != 0.0):
                raise self.error(
                    "division is only allowed by a non-zero constant", op,
                    hint="multiply by the reciprocal, or restructure the expression",
                )
            left = self.built(BinOp(op.text, left, right, self.span(op)), [left, right], op)
        return left

    def unary(self) -> Expr:
        t = self.tok
        if self.accept("-"):
            if self.tok.kind == "NUMBER":
                n = self.tok
                self.i += 1
                return Num(-self.number_value(n), self.span(t))
            with self.nested(t):
                operand = self.unary()
            return self.built(Neg(operand, self.span(t)), [operand], t)
        return self.primary()

    def primary(self) -> Expr:
        t = self.tok
        if t.kind == "NUMBER":
            self.i += 1
            return Num(self.number_value(t), self.span(t))
        if self.accept("("):
            with self.nested(t):
                e = self.expr()
            self.expect(")", hint="unbalanced parenthesis")
            return e
        if t.kind != "NAME":
            raise self.error(f"expected an expression, found {self.describe(t)}")
        self.i += 1
        if self.at("("):
            with self.nested(t):
                return self.call(t)
        if t.text in self.obs:
            return Obs(t.text, self.span(t))
        if any(t.text == n for a in self.acts.values() for n, _ in a.labels):
            raise self.error(f"label {t.text!r} can only be assigned to its action", t)
        if t.text in self.acts:
            raise self.error(f"action {t.text!r} cannot be read in an expression", t, hint="read observations only")
        raise self.error(
            f"unknown observation {t.text!r}", t,
            hint=_suggest(t.text, list(self.obs)) or f"declare it: 'obs {t.text}: float32'",
        )

    def call(self, fn: Token) -> Expr:
        self.expect("(")
        if fn.text == "pid":
            return self.pid(fn)
        if fn.text not in CALL_ARITY:
            raise self.error(
                f"unknown function {fn.text!r}", fn,
                hint=_suggest(fn.text, [*CALL_ARITY, "pid"]) or f"functions: {', '.join([*CALL_ARITY, 'pid'])}",
            )
        args = [self.expr()]
        while self.accept(","):
            args.append(self.expr())
        self.expect(")", hint=f"close the call to {fn.text}")
        arity = CALL_ARITY[fn.text]
        if (arity is None and len(args) < 2) or (arity is not None and len(args) != arity):
            want = "two or more arguments" if arity is None else f"{arity} argument{'s' if arity > 1 else ''}"
            raise self.error(f"{fn.text}() takes {want}, got {len(args)}", fn)
        return self.built(Call(fn.text, tuple(args), self.span(fn)), args, fn)

    def pid(self, fn: Token) -> Pid:
        signal = self.expr()
        if any(isinstance(n, Pid) for n in _expr_nodes(signal)):
            raise self.error("a pid signal cannot contain another pid", fn)
        consts: list[Num] = []
        for role in ("target", "kp", "ki", "kd"):
            self.expect(",", hint="pid(signal, target, kp, ki, kd)")
            t = self.tok
            consts.append(Num(self.number(), self.span(t)))
            if role and t.kind not in ("NUMBER", "OP"):
                raise self.error(f"the pid {role} must be a number", t)
        window: int | None = None
        if self.accept(","):
            t = self.tok
            value = self.number()
            if not (t.text.isascii() and t.text.isdigit()) or not 1 <= value <= MAX_PID_WINDOW:
                raise self.error(
                    f"the pid window must be a whole number of steps from 1 to {MAX_PID_WINDOW}", t,
                    hint="pid(signal, target, kp, ki, kd, 5) sums the last 5 errors",
                )
            window = int(value)
        self.expect(")", hint="pid(signal, target, kp, ki, kd[, window])")
        site = self.pid_sites
        self.pid_sites += 1
        pid = Pid(signal, consts[0], consts[1], consts[2], consts[3], site, self.span(fn), window=window)
        return self.built(pid, [signal], fn)


def _expr_nodes(e: Expr) -> list[object]:
    from saferl.policy.ast import walk_node

    return list(walk_node(e))


def parse_program(text: str, path: str = "<string>") -> Program:
    """Parse .pol text of the tree/program family into a :class:`Program`."""
    return _Parser(text, path).program()
