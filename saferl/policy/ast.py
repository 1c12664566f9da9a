"""The .pol abstract syntax tree: frozen dataclasses, positions excluded from equality.

A :class:`Program` has named observation and action declarations and a body of
statements.  Decision trees are programs whose body is nested ``if`` statements with
assignments at the leaves; PROPEL programs add arithmetic and ``pid`` controllers.

Every numeric constant (and every discrete leaf) of the body is a *parameter*: its id is
its pre-order index, so that repair can turn it into a solver symbol and write a new value
back with :meth:`Program.with_values`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field, replace
from functools import cached_property
from typing import Any

from saferl.record import record

__all__ = [
    "Span", "Num", "Obs", "Label", "Neg", "BinOp", "Call", "Pid", "Expr",
    "Compare", "BoolOp", "Not", "BoolConst", "Cond",
    "Assign", "If", "Stmt", "ObsDecl", "ActDecl", "Program", "Param",
    "CALL_ARITY", "MAX_PID_WINDOW", "pid_state_names", "walk", "walk_node",
]


@record
class Span:
    """1-based line and column of a node's first token."""

    line: int = 0
    col: int = 0


_NOSPAN = Span()


def _span() -> Span:
    return field(default=_NOSPAN, compare=False, repr=False)  # type: ignore[return-value]


# -- expressions ---------------------------------------------------------------------

@record
class Num:
    """A float64 constant, printed with ``repr`` so the text round-trips exactly."""

    value: float
    span: Span = _span()


@record
class Obs:
    """A reference to a declared observation."""

    name: str
    span: Span = _span()


@record
class Label:
    """A discrete action value referred to by its label (``left``)."""

    name: str
    value: int
    span: Span = _span()


@record
class Neg:
    operand: Expr
    span: Span = _span()


@record
class BinOp:
    """``left op right`` with op one of ``+ - * /`` (division only by a non-zero constant)."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


#: the longest integral window a ``pid`` may sum (its state grows with the window)
MAX_PID_WINDOW = 100

#: built-in functions and their arity (None: two or more)
CALL_ARITY: dict[str, int | None] = {"abs": 1, "min": None, "max": None, "clip": 3}


@record
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


@record
class Pid:
    """A stateful PID controller: error = target - signal, integral += error,
    output = kp*error + ki*integral + kd*(error - prev_error); its state starts at 0, 0.

    ``site`` numbers the pid calls of a program in source order; its state variables are
    ``pid<site>.integral`` and ``pid<site>.prev_error``.

    With a ``window`` w (PROPEL's controller, ``pid(signal, target, kp, ki, kd, w)``) the
    integral is the sum of the last w errors, this step's included, added oldest first;
    the state is then the w - 1 previous errors (at least one, for the derivative):
    ``pid<site>.prev_error`` (one step ago), ``pid<site>.error2`` … ``pid<site>.error<w-1>``.
    """

    signal: Expr
    target: Num
    kp: Num
    ki: Num
    kd: Num
    site: int
    span: Span = _span()
    window: int | None = None

    @property
    def state_size(self) -> int:
        """How many state variables this controller keeps."""
        return 2 if self.window is None else max(1, self.window - 1)

    def state_names(self) -> tuple[str, ...]:
        """The names of its state variables, in state order."""
        k = self.site
        if self.window is None:
            return (f"pid{k}.integral", f"pid{k}.prev_error")
        return (f"pid{k}.prev_error",) + tuple(f"pid{k}.error{j}" for j in range(2, self.window))

    def update(self, err: Any, state: Sequence[Any], add: Callable[[Any, Any], Any],
               sub: Callable[[Any, Any], Any]) -> tuple[Any, Any, list[Any]]:
        """This step's integral and derivative and the next state, over any arithmetic.

        ``state`` is this controller's own state (``state_size`` values, in state order);
        ``add`` / ``sub`` build one rounded addition / subtraction.  The symbolic encoders
        (real and bit-precise) share this, so both model the same operations in the same
        order as the evaluator: the window's sum adds the oldest error first.
        """
        if self.window is None:
            integral = add(state[0], err)
            return integral, sub(err, state[1]), [integral, err]
        past = list(state[: self.window - 1])
        integral = err
        if past:
            integral = past[-1]
            for x in reversed(past[:-1]):
                integral = add(integral, x)
            integral = add(integral, err)
        return integral, sub(err, state[0]), [err, *past][: self.state_size]


Expr = Num | Obs | Label | Neg | BinOp | Call | Pid


# -- conditions ----------------------------------------------------------------------

@record
class Compare:
    """``left op right`` with op one of ``< <= > >= == !=``."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@record
class BoolOp:
    """``and`` / ``or`` over two or more operands."""

    op: str
    operands: tuple[Cond, ...]
    span: Span = _span()


@record
class Not:
    operand: Cond
    span: Span = _span()


@record
class BoolConst:
    value: bool
    span: Span = _span()


Cond = Compare | BoolOp | Not | BoolConst


# -- statements and declarations -----------------------------------------------------

@record
class Assign:
    """``action = expr``."""

    target: str
    value: Expr
    span: Span = _span()


@record
class If:
    """``if c1 { … } elif c2 { … } else { … }``; ``orelse`` may be empty."""

    branches: tuple[tuple[Cond, tuple[Stmt, ...]], ...]
    orelse: tuple[Stmt, ...]
    span: Span = _span()


Stmt = Assign | If


@record
class ObsDecl:
    """``obs name: float32 [in [low, high]]``: an observation and its element type.

    The range is documentation and a default domain; specs declare the verified domain.
    """

    name: str
    dtype: str = "float32"
    low: float | None = None
    high: float | None = None
    span: Span = _span()


@record
class ActDecl:
    """``act name: discrete {l0 = 0, …}`` or ``act name: continuous [low, high]``."""

    name: str
    kind: str
    labels: tuple[tuple[str, int], ...] = ()
    low: float | None = None
    high: float | None = None
    span: Span = _span()

    def label_of(self, value: int) -> str | None:
        """The label of a discrete value, if it has one."""
        for name, v in self.labels:
            if v == value:
                return name
        return None


@record
class Param:
    """A repairable constant: id, kind (threshold, leaf, gain, target, constant), value, position."""

    id: int
    kind: str
    value: float
    span: Span
    action: str | None = None
    node: object = field(default=None, compare=False, repr=False)


@record
class Program:
    """A whole .pol policy of the tree/program family."""

    name: str
    observations: tuple[ObsDecl, ...]
    actions: tuple[ActDecl, ...]
    body: tuple[Stmt, ...]
    span: Span = _span()

    # -- lookups ---------------------------------------------------------------------
    @property
    def obs_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.observations)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.actions)

    def action(self, name: str) -> ActDecl:
        for a in self.actions:
            if a.name == name:
                return a
        raise KeyError(name)

    def observation(self, name: str) -> ObsDecl:
        for o in self.observations:
            if o.name == name:
                return o
        raise KeyError(name)

    # derived from the immutable body once (a walk of a large tree costs; callers ask often)
    @cached_property
    def pid_sites(self) -> int:
        """How many pid controllers the program has."""
        return sum(1 for node in walk(self.body) if isinstance(node, Pid))

    @cached_property
    def pids(self) -> tuple[Pid, ...]:
        """The pid calls in site (source) order."""
        return tuple(sorted((n for n in walk(self.body) if isinstance(n, Pid)), key=lambda p: p.site))

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        """Every state variable, controller by controller (see :class:`Pid`)."""
        return tuple(name for p in self.pids for name in p.state_names())

    @cached_property
    def pid_slots(self) -> tuple[int, ...]:
        """The index in the state of each controller's first variable, by site."""
        slots, k = [], 0
        for p in self.pids:
            slots.append(k)
            k += p.state_size
        return tuple(slots)

    @cached_property
    def family(self) -> str:
        """``tree`` when the body is only ifs over constant comparisons and constant leaves."""
        for node in walk(self.body):
            if isinstance(node, (Pid, BinOp, Call, Neg)):
                return "program"
            if isinstance(node, Compare) and not (
                isinstance(node.left, Obs) and isinstance(node.right, Num)
            ):
                return "program"
        return "tree"

    # -- parameters ------------------------------------------------------------------
    def parameters(self) -> tuple[Param, ...]:
        """Every constant of the body in pre-order, with the role it plays."""
        params: list[Param] = []
        _collect_params(self.body, params, None)
        return tuple(params)

    def with_values(self, values: Mapping[int, float]) -> Program:
        """A copy with parameter ``id`` set to ``values[id]`` (discrete leaves take ints)."""
        labels = {a.name: dict((v, n) for n, v in a.labels) for a in self.actions}
        counter = [0]
        body = _rewrite_block(self.body, values, counter, labels)
        return replace(self, body=body)


def pid_state_names(sites: int) -> tuple[str, ...]:
    """State variable names of ``sites`` pid controllers."""
    names: list[str] = []
    for k in range(sites):
        names += [f"pid{k}.integral", f"pid{k}.prev_error"]
    return tuple(names)


# -- traversal -----------------------------------------------------------------------

def walk(body: tuple[Stmt, ...]) -> Iterator[object]:
    """Every node under ``body`` in pre-order (statements, conditions, expressions).

    Iterative, with an explicit stack: a generator per level would pass each node up
    through every level above it (a large tree is walked by several derived facts).
    """
    stack: list[object] = list(reversed(body))
    pop, push = stack.pop, stack.extend
    children = _CHILDREN
    while stack:
        node = pop()
        yield node
        kids = children.get(type(node))
        if kids is None:
            kids = _children_of_subclass(node)
        if kids is not _NO_CHILDREN:
            push(kids(node))


def walk_node(node: object) -> Iterator[object]:
    """``node`` and every node under it, in pre-order."""
    return walk((node,))  # type: ignore[arg-type]


def _if_children(node: If) -> list[object]:
    out: list[object] = list(reversed(node.orelse))
    for cond, block in reversed(node.branches):
        out.extend(reversed(block))
        out.append(cond)
    return out


def _NO_CHILDREN(node: object) -> tuple[object, ...]:
    return ()


#: per node type, its children in reverse pre-order (as :func:`walk` pushes them)
_CHILDREN: dict[type, Callable[[Any], Sequence[object]]] = {
    Num: _NO_CHILDREN, Obs: _NO_CHILDREN, Label: _NO_CHILDREN, BoolConst: _NO_CHILDREN,
    Assign: lambda n: (n.value,),
    If: _if_children,
    Neg: lambda n: (n.operand,),
    Not: lambda n: (n.operand,),
    BinOp: lambda n: (n.right, n.left),
    Compare: lambda n: (n.right, n.left),
    Call: lambda n: n.args[::-1],
    BoolOp: lambda n: n.operands[::-1],
    Pid: lambda n: (n.kd, n.ki, n.kp, n.target, n.signal),
}


def _children_of_subclass(node: object) -> Callable[[Any], Sequence[object]]:
    """The children getter of a node whose type is a subclass of a node type (or none)."""
    for cls, kids in _CHILDREN.items():
        if isinstance(node, cls):
            return kids
    return _NO_CHILDREN


def _collect_params(body: tuple[Stmt, ...], out: list[Param], action: str | None) -> None:
    for stmt in body:
        if isinstance(stmt, Assign):
            _collect_expr(stmt.value, out, stmt.target, top=True)
        else:
            for cond, block in stmt.branches:
                _collect_cond(cond, out)
                _collect_params(block, out, action)
            _collect_params(stmt.orelse, out, action)


def _collect_cond(cond: Cond, out: list[Param]) -> None:
    if isinstance(cond, Compare):
        for side in (cond.left, cond.right):
            if isinstance(side, Num):
                out.append(Param(len(out), "threshold", side.value, side.span, None, side))
            else:
                _collect_expr(side, out, None, top=False)
    elif isinstance(cond, BoolOp):
        for o in cond.operands:
            _collect_cond(o, out)
    elif isinstance(cond, Not):
        _collect_cond(cond.operand, out)


def _collect_expr(e: Expr, out: list[Param], action: str | None, top: bool) -> None:
    if isinstance(e, Num):
        out.append(Param(len(out), "leaf" if top else "constant", e.value, e.span, action, e))
    elif isinstance(e, Label):
        out.append(Param(len(out), "leaf", float(e.value), e.span, action, e))
    elif isinstance(e, Neg):
        _collect_expr(e.operand, out, action, False)
    elif isinstance(e, BinOp) and e.op == "/" and isinstance(e.right, Num):
        _collect_expr(e.left, out, action, False)
        out.append(Param(len(out), "divisor", e.right.value, e.right.span, action, e.right))
    elif isinstance(e, BinOp):
        _collect_expr(e.left, out, action, False)
        _collect_expr(e.right, out, action, False)
    elif isinstance(e, Call):
        for a in e.args:
            _collect_expr(a, out, action, False)
    elif isinstance(e, Pid):
        _collect_expr(e.signal, out, action, False)
        for role, num in (("target", e.target), ("gain", e.kp), ("gain", e.ki), ("gain", e.kd)):
            out.append(Param(len(out), role, num.value, num.span, action, num))


def _rewrite_block(
    body: tuple[Stmt, ...], values: Mapping[int, float], c: list[int],
    labels: Mapping[str, Mapping[int, str]],
) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for stmt in body:
        if isinstance(stmt, Assign) and isinstance(stmt.value, Label):
            v = _take(values, c)
            if v is not None:
                value = int(v)
                name = labels.get(stmt.target, {}).get(value, str(value))
                stmt = replace(stmt, value=replace(stmt.value, value=value, name=name))
            out.append(stmt)
        elif isinstance(stmt, Assign):
            out.append(replace(stmt, value=_rewrite_expr(stmt.value, values, c)))
        else:
            branches = []
            for cond, block in stmt.branches:
                cond2 = _rewrite_cond(cond, values, c)
                branches.append((cond2, _rewrite_block(block, values, c, labels)))
            orelse = _rewrite_block(stmt.orelse, values, c, labels)
            out.append(replace(stmt, branches=tuple(branches), orelse=orelse))
    return tuple(out)


def _rewrite_cond(cond: Cond, values: Mapping[int, float], c: list[int]) -> Cond:
    if isinstance(cond, Compare):
        return replace(cond, left=_rewrite_expr(cond.left, values, c), right=_rewrite_expr(cond.right, values, c))
    if isinstance(cond, BoolOp):
        return replace(cond, operands=tuple(_rewrite_cond(o, values, c) for o in cond.operands))
    if isinstance(cond, Not):
        return replace(cond, operand=_rewrite_cond(cond.operand, values, c))
    return cond


def _take(values: Mapping[int, float], c: list[int]) -> float | None:
    k = c[0]
    c[0] += 1
    return values.get(k)


def _rewrite_num(num: Num, values: Mapping[int, float], c: list[int]) -> Num:
    v = _take(values, c)
    return num if v is None else replace(num, value=float(v))


def _rewrite_expr(e: Expr, values: Mapping[int, float], c: list[int]) -> Expr:
    if isinstance(e, Num):
        return _rewrite_num(e, values, c)
    if isinstance(e, Neg):
        return replace(e, operand=_rewrite_expr(e.operand, values, c))
    if isinstance(e, BinOp):
        return replace(e, left=_rewrite_expr(e.left, values, c), right=_rewrite_expr(e.right, values, c))
    if isinstance(e, Call):
        return replace(e, args=tuple(_rewrite_expr(a, values, c) for a in e.args))
    if isinstance(e, Pid):
        signal = _rewrite_expr(e.signal, values, c)
        target = _rewrite_num(e.target, values, c)
        kp = _rewrite_num(e.kp, values, c)
        ki = _rewrite_num(e.ki, values, c)
        kd = _rewrite_num(e.kd, values, c)
        return replace(e, signal=signal, target=target, kp=kp, ki=ki, kd=kd)
    return e
