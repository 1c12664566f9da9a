"""The generated fast ``step`` of the shield (a friend of :class:`~saferl.shield.Shield`).

The shield replaces its ``step`` on reset by a function generated here for its spec and
fallback, with the property checks in line (no per-property dispatch, no dicts):

* Discrete action space, stateless fallback, no history properties
  (:func:`make_fast_step`'s first case): the fallback program's tree is inlined too, and
  every record is built once and shared.
* Box action space (:func:`make_box_step`), e.g. a TORCS driver: the proposal is read
  once (``tolist``), checked against every property (history properties from the
  history's last entries), projected into the allowed interval in line when it breaks
  one, and the fallback's PID state is advanced by its update alone (the program's
  action is not computed unless it is needed), exactly as the full program would.

Anything unusual (invalid action, the first steps of an episode before the history is
full, a projection that fails, a fallback needed) is handed to the general path,
``Shield._step``, which starts over: the fast step changes nothing before it decides
to keep the step, so the two paths take the same decisions and leave the same state.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from saferl.policy.ast import Assign, BinOp, Call, If, Neg, Pid, Program, walk
from saferl.shield.compile import bound_lines, inline_fallback, program_expr_source
from saferl.shield.records import ShieldRecord

if TYPE_CHECKING:
    from saferl.shield.wrapper import Shield

__all__ = ["make_fast_step", "make_box_step", "pid_update_lines"]


#: the end of both generated steps: count the step, close the record, hand the env's answer back
_RETURN_LINES = (
    "            shield._t += 1",
    "            if terminated or truncated:",
    "                rec = finish(rec)",
    "            info['saferl'] = rec",
    "            return obs, reward, terminated, truncated, info",
    "    return general(action, False)",
)


def _implied_by_space(shield: Shield, pid: str) -> bool:
    """Is ``pid`` an unconditional ``allowed`` bounds property every action of the space meets?"""
    prop = next(p for p in shield.safety_spec.properties if p.id == pid)
    if prop.kind != "bounds" or not prop.allowed or prop.when is not None or not shield._discrete:
        return False
    labels = dict(shield.fallback.action(prop.action or "").labels)  # labels are per action
    allowed = {labels[a] for a in prop.allowed}
    return all(v in allowed for v in range(shield._start, shield._start + shield._n))


def make_fast_step(shield: Shield) -> Callable[[Any], Any] | None:
    """Straight-line ``step`` for the common case: Discrete, stateless, no history.

    With a look-ahead, a proposal it allows is handled here too; one it objects to goes to
    the general path.

    A valid action that satisfies every property, or one that breaks a property
    while the fallback's action satisfies all of them, is handled here; anything
    else (invalid actions, a failing fallback) goes to the general path
    (:meth:`_step`), which re-checks from scratch.  Records are built once per
    (proposed, executed, property) and shared; interventions are tallied per
    property in a list and folded into the episode counters when they are read.
    """
    if not shield._discrete:
        return make_box_step(shield)
    if shield._stateful or shield.checks.window or shield.checks.uses_state:
        return None
    if not shield._plain_tolist:
        return None
    n_obs = len(shield.fallback.observations)
    start, end = shield._start, shield._start + shield._n
    if shield._n * shield._n * (len(shield._ids) + 1) > 100_000:
        return None  # too many shared records to build; the general path handles it
    off = "" if start == 0 else f" - {start}"
    unpack = ", ".join(f"o{i}" for i in range(n_obs))
    # the fallback's body in line (no call, no tuple) when it is a stateless program
    inline = inline_fallback(shield.fallback, "b0", "                ") or [
        f"                b0 = int(fallback({unpack}, ps)[0])"
    ]
    lines = [
        "def step(action):",
        "    cls = action.__class__",
        "    if cls is int or cls is _i64:",
        "        a0 = action if cls is int else int(action)",
        f"        if {start} <= a0 < {end}:",
        f"            {unpack}, = shield._o",
    ]
    first = True
    for k, m in enumerate(shield.checks.monitored):
        if _implied_by_space(shield, m.id):
            continue  # every action in the space satisfies it; the range test above suffices
        test = f"not {m.require_src}" if m.when_src == "True" else f"{m.when_src} and not {m.require_src}"
        lines.append(f"            {'if' if first else 'elif'} {test}:")
        lines.append(f"                k = {k + 1}")
        first = False
    lines += [
        "            if True:" if first else "            else:",
        "                k = 0",
        # the look-ahead objects: the general path decides (fallback, records, counters)
        *(["            if not k and look(shield._o, a0):", "                return general(action, False)"]
          if shield.lookahead is not None else []),
        "            if k:",
        *inline,
        f"                if not ({start} <= b0 < {end}):",
        "                    return general(action, False)",
    ]
    for m in shield.checks.monitored:  # the fallback's action must pass every property too
        if _implied_by_space(shield, m.id):
            continue
        when, require = (re.sub(r"\ba0\b", "b0", x) for x in (m.when_src, m.require_src))
        test = f"not {require}" if when == "True" else f"{when} and not {require}"
        lines += [f"                if {test}:", "                    return general(action, False)"]
    lines += [
        "                tally[k] += 1",
        f"                rec = substituted[a0{off}][b0{off}][k]",
        # the environment gets the action object the policy gave (an int or an
        # np.int64), or the substitute in the same type: the shield should not change
        # what the environment's own checks cost
        f"                action = b0 if cls is int else np_values[b0{off}]",
        "            else:",
        f"                rec = passed[a0{off}]",
        "            obs, reward, terminated, truncated, info = env_step(action)",
        "            try:",
        "                shield._o = obs.tolist()",
        "            except AttributeError:",
        "                shield._o = to_list(obs)",
        *_RETURN_LINES,
    ]
    src = "\n".join(lines) + "\n"
    ids = shield._ids
    # every (proposed, substitute, property) record, built once: n * n * (K + 1) tuples
    substituted = [
        [[ShieldRecord(a, b, True, ids[k - 1], "violation", "fallback") if k else None for k in range(len(ids) + 1)]
         for b in range(start, end)]
        for a in range(start, end)
    ]

    namespace: dict[str, Any] = {
        "__builtins__": {"int": int, "abs": abs, "min": min, "max": max},
        "_i64": np.int64, "shield": shield, "general": shield._step, "env_step": shield.env.step,
        "to_list": shield._to_list, "finish": shield._finish, "_INF": math.inf, "_NAN": math.nan,
        "passed": [ShieldRecord(v, v, False, None, None, "policy") for v in range(start, end)],
        "np_values": [np.int64(v) for v in range(start, end)],
        "fallback": shield._fb_step, "ps": shield._ps, "check": shield.checks.check, "tally": shield._tally,
        "substituted": substituted,
        "look": shield.lookahead.code if shield.lookahead is not None else None,
    }
    return _define_step(src, namespace, f"<shield-step:{shield.safety_spec.name}>")


# -- Box action spaces ------------------------------------------------------------------

def _pids(e: Any) -> list[Pid]:
    """The pid calls of an expression in evaluation order (the order compile_program updates them)."""
    if isinstance(e, Pid):
        return [*_pids(e.signal), e]
    if isinstance(e, Neg):
        return _pids(e.operand)
    if isinstance(e, BinOp):
        return _pids(e.left) + _pids(e.right)
    if isinstance(e, Call):
        return [p for a in e.args for p in _pids(a)]
    return []


def pid_update_lines(program: Program, pad: str) -> list[str] | None:
    """Lines advancing the state list ``ps`` of ``program``'s pid controllers by one step,
    reading observation ``i`` from ``o{i}``, without computing any action: the same
    operations, in the same order, as :func:`saferl.policy.evaluate.compile_program`'s
    step does on the state, so the state stays bit for bit what the full program leaves.

    None when that cannot be done without the actions: a pid inside an ``if`` (its state
    advances only on the steps its branch runs) or a pid in another pid's signal.
    """
    index = {name: i for i, name in enumerate(program.obs_names)}
    lines: list[str] = []
    for stmt in program.body:
        if isinstance(stmt, If):
            if any(isinstance(node, Pid) for node in walk((stmt,))):
                return None
            continue
        if not isinstance(stmt, Assign):
            return None
        for pid in _pids(stmt.value):
            if _pids(pid.signal):
                return None
            k = program.pid_slots[pid.site]
            e = f"e{pid.site}"
            lines.append(f"{pad}{e} = {pid.target.value!r} - {program_expr_source(pid.signal, index)}")
            if pid.window is None:
                lines.append(f"{pad}ps[{k}] = ps[{k}] + {e}")
                lines.append(f"{pad}ps[{k + 1}] = {e}")
            else:
                for j in range(pid.state_size - 1, 0, -1):
                    lines.append(f"{pad}ps[{k + j}] = ps[{k + j - 1}]")
                lines.append(f"{pad}ps[{k}] = {e}")
    return lines


def _box_implies(shield: Shield, pid: str) -> bool:
    """Is ``pid`` an unconditional ``range`` property that every action of the box meets?"""
    prop = next(p for p in shield.safety_spec.properties if p.id == pid)
    if prop.kind != "bounds" or prop.when is not None or prop.allowed or prop.low is None or prop.high is None:
        return False
    j = shield.fallback.action_names.index(prop.action or "")
    return prop.low <= shield._alow[j] and shield._ahigh[j] <= prop.high


def make_box_step(shield: Shield) -> Callable[[Any], Any] | None:
    """Straight-line ``step`` for a Box action space (a continuous driver behind the shield).

    Handled here: a valid proposal (an array of the space's dtype and shape inside the
    box) once the history holds every past step the properties refer to, that either
    satisfies every property or breaks one and is projected into the interval every
    property allows (the projection re-checked against all of them).  Anything else goes
    to the general path (:meth:`Shield._step`) before the fast step has changed anything.
    The fallback's PID state advances on every step by its update alone
    (:func:`pid_update_lines`; the whole program when the update cannot be separated).
    Interventions are tallied per property in a list and folded into the episode's
    counters when they are read.  None when the shield's set-up needs the general path
    throughout (look-ahead, unbounded box, properties over the fallback's state, float64
    observations cast to float32).
    """
    checks = shield.checks
    if shield.lookahead is not None or not shield._plain_tolist or shield._open_box or checks.uses_state:
        return None
    n_obs, n_act, window = len(shield.fallback.observations), len(shield._alow), checks.window
    if window > 8:
        return None
    state_lines = pid_update_lines(shield.fallback, "            ") if shield._stateful else []
    if state_lines is None:
        state_lines = ["            fallback(*o, ps)"]
    acts = [f"a{j}" for j in range(n_act)]
    props = list(checks.monitored)
    # a range property that contains the box holds for every action the box test lets
    # through, and for every projection (clamped into the box): not tested again
    tested = [m for m in props if not _box_implies(shield, m.id)]

    def test(m: Any, rename: str | None = None) -> str:
        when, require = m.when_src, m.require_src
        if rename is not None:
            when, require = (re.sub(r"\ba(\d+)\b", rf"{rename}\1", x) for x in (when, require))
        return f"not {require}" if when == "True" else f"{when} and not {require}"

    body = [m.when_src + " " + m.require_src for m in props] + state_lines
    body += [v for m in props for _, _, v, _ in m.bounds]
    text = "\n".join(body)
    used_now = {int(i) for i in re.findall(r"\bo(\d+)\b", text)}
    used_past = sorted({(kind, int(i), int(lag)) for kind, i, lag in re.findall(r"\b([oa])(\d+)_(\d+)\b", text)})
    unpack = ", ".join(f"o{i}" if i in used_now else "_" for i in range(n_obs))
    # min / max calls over this step's observations that every step evaluates (in the
    # unconditional checks or the PID update) and that occur more than once (the free
    # distance ahead, the speed caps the projection uses again) are computed once per step
    anchor = "\n".join([m.require_src for m in tested if m.when_src == "True"] + state_lines)
    box = " and ".join(f"{shield._alow[j]!r} <= a{j} <= {shield._ahigh[j]!r}" for j in range(n_act))
    lines = [
        "def step(action):",
        f"    if action.__class__ is _ndarray and action.dtype is adtype and action.shape == ashape{' and len(h) >= ' + str(window) if window else ''}:",
        "        vals = action.tolist()",
        f"        {', '.join(acts)}, = vals",
        f"        if {box}:",
        "            o = shield._o",
        f"            {unpack}, = o" if used_now else "            pass",
    ]
    for lag in sorted({lag for _, _, lag in used_past}):
        lines.append(f"            h{lag} = h[-{lag}]")
    for kind, i, lag in used_past:
        lines.append(f"            {kind}{i}_{lag} = h{lag}[{0 if kind == 'o' else 1}][{i}]")
    lines.append(_HOIST)
    for n, m in enumerate(tested):
        lines += [f"            {'if' if n == 0 else 'elif'} {test(m)}:", f"                k = {props.index(m) + 1}"]
    lines += ["            else:" if tested else "            if True:", "                k = 0"]
    lines += [
        "            if k:",
        "                if not projection:",
        "                    return general(action, False)",
    ]
    for j in range(n_act):
        lines += [f"                lo{j} = -_INF", f"                hi{j} = _INF"]
        for m in props:
            bounds = [(side, value, strict) for jj, side, value, strict in m.bounds if jj == j]
            if not bounds:
                continue
            lines.append(f"                if {m.when_src}:")
            lines += bound_lines(j, bounds, "                    ")
        lines += [
            f"                lo{j} = max(lo{j}, {shield._alow[j]!r})",
            f"                hi{j} = min(hi{j}, {shield._ahigh[j]!r})",
            f"                if not lo{j} <= hi{j}:",
            "                    return general(action, False)",
            f"                p{j} = min(max(a{j}, lo{j}), hi{j})",
            # an unclamped value is already of the action dtype and inside [lo, hi]: the
            # cast would return it unchanged
            f"                if p{j} != a{j}:",
            f"                    p{j} = cast_into(p{j}, lo{j}, hi{j})",
        ]
    if tested:
        lines.append("                if " + " or ".join(f"({test(m, 'p')})" for m in tested) + ":")
        lines.append("                    return general(action, False)")
    ex_p = f"({', '.join(f'p{j}' for j in range(n_act))},)"
    # counters move only once the environment has taken the step (as the general path's);
    # the history's state slot stays empty: no property reads the fallback's state
    lines += [
        f"                ex = {ex_p}",
        # a flat box: the new array has the space's shape already
        f"                env_action = _array(ex, dtype=adtype){'' if len(shield._ashape) == 1 else '.reshape(ashape)'}",
        f"                rec = _new(_Rec, ({'a0' if n_act == 1 else 'tuple(vals)'}, {'p0' if n_act == 1 else 'ex'}, True, "
        "pids[k], 'violation', 'projection', None))",
        "            else:",
        "                ex = tuple(vals)",
        "                env_action = action",
        f"                rec = _new(_Rec, ({'a0, a0' if n_act == 1 else 'ex, ex'}, False, None, None, 'policy', None))",
        *state_lines,
        "            obs, reward, terminated, truncated, info = env_step(env_action)",
        "            if k:",
        "                ptally[k] += 1",
        *(["            h.append((o, ex, ()))"] if window else []),
        "            if obs.__class__ is _ndarray and obs.dtype is odtype:",
        "                shield._o = obs.tolist()",
        "            else:",
        "                shield._o = to_list(obs)",
        *_RETURN_LINES,
    ]
    src = _inline_min_max(_hoist("\n".join(lines) + "\n", anchor))
    namespace: dict[str, Any] = {
        "__builtins__": {"min": min, "max": max, "abs": abs, "len": len, "tuple": tuple},
        "_ndarray": np.ndarray, "_array": np.array, "_new": tuple.__new__, "_Rec": ShieldRecord,
        "_INF": math.inf, "_NAN": math.nan,
        "_below": lambda x: math.nextafter(x, -math.inf), "_above": lambda x: math.nextafter(x, math.inf),
        "shield": shield, "general": shield._step, "env_step": shield.env.step, "to_list": shield._to_list,
        "finish": shield._finish, "cast_into": shield._cast_into, "fallback": shield._fb_step,
        "ps": shield._ps, "h": shield._h, "ptally": shield._ptally, "projection": shield.projection,
        "adtype": shield._adtype, "ashape": shield._ashape, "odtype": shield._odtype,
        "pids": (None, *shield._ids),
    }
    return _define_step(src, namespace, f"<shield-box-step:{shield.safety_spec.name}>")


def _calls(text: str) -> list[str]:
    """Every ``min(…)`` / ``max(…)`` call in generated source, as written (outer and inner)."""
    out = []
    for m in re.finditer(r"(?<![\w.])(?:min|max)\(", text):
        depth = 0
        for i in range(m.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                out.append(text[m.start(): i + 1])
                break
    return out


_HOIST = "            # hoisted"


def _hoist(src: str, anchor: str) -> str:
    """``src`` with every min / max call over this step's observations and constants only
    that ``anchor`` evaluates and ``src`` holds more than once computed once, at the
    ``_HOIST`` line, into ``c0``, ``c1``, … (inner calls first, so outer ones reuse them).
    The same pure expression of the same values: the result is unchanged."""
    seen: list[str] = []
    for call in _calls(anchor):
        if re.search(r"\b(?:[aps]\d|o\d+_|c\d|e\d)", call) is None and call not in seen:
            seen.append(call)  # actions, the past, state or temporaries would not be this step's observations
    head, _, tail = src.partition(_HOIST + "\n")
    todo = sorted((c for c in seen if tail.count(c) > 1), key=len)
    defs: list[str] = []
    while todo:
        text = todo.pop(0)
        name = f"c{len(defs)}"
        defs.append(f"            {name} = {text}\n")
        tail = tail.replace(text, name)
        todo = [c.replace(text, name) for c in todo]
    return head + "".join(defs) + tail


class _MinMax(ast.NodeTransformer):
    """``max(a, b)`` -> ``(b if b > a else a)`` and ``min(a, b)`` -> ``(b if b < a else a)``,
    which is what the builtins return (the first argument unless the second is strictly
    greater / smaller: NaN and signed zeros alike), each argument evaluated once."""

    def __init__(self) -> None:
        self.n = 0

    def _once(self, e: ast.expr) -> tuple[ast.expr, ast.expr]:
        if isinstance(e, ast.Name | ast.Constant) or (isinstance(e, ast.UnaryOp) and isinstance(e.operand, ast.Constant)):
            return e, e
        self.n += 1
        name = f"_m{self.n}"
        return ast.Name(name, ast.Load()), ast.NamedExpr(ast.Name(name, ast.Store()), e)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and len(node.args) == 2 and not node.keywords:
            a_ref, a_first = self._once(node.args[0])
            b_ref, b_first = self._once(node.args[1])
            op: ast.cmpop = ast.Gt() if node.func.id == "max" else ast.Lt()
            return ast.IfExp(ast.Compare(b_first, [op], [a_first]), b_ref, a_ref)
        return node


def _inline_min_max(src: str) -> str:
    tree = _MinMax().visit(ast.parse(src))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _define_step(src: str, namespace: dict[str, Any], filename: str) -> Callable[[Any], Any]:
    """The ``step`` function that generated source ``src`` defines over ``namespace`` (its
    source kept as the docstring, for a reader in a debugger)."""
    local: dict[str, Any] = {}
    exec(compile(src, filename, "exec"), namespace, local)
    fn: Callable[[Any], Any] = local["step"]
    fn.__doc__ = src
    return fn
