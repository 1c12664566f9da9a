"""C source for the shield's generated Box step: a translation of its Python source.

:func:`saferl.shield.fastpath.make_box_step` writes a straight-line Python ``step`` for a
spec and fallback; :func:`c_step_source` translates that very function, statement by
statement, into the C of a small CPython extension module (built and loaded by
:mod:`saferl.shield.native`).  Translating the generated Python rather than the spec keeps
the two steps one program: the same comparisons, the same arithmetic in the same order
(every sub-expression parenthesised as the Python tree nests it; IEEE doubles, compiled
with ``-ffp-contract=off``), ``min`` / ``max`` already written out as the conditional
expressions the builtins amount to, ``abs`` as ``fabs``, ``math.nextafter`` as libm's
``nextafter``, the float32 cast of :mod:`saferl.shield.cast` as the same bit arithmetic.

What the numeric statements cannot express (reading the proposal, the observations and
the history; building the record; calling the environment) is a fixed set of plumbing
statements, each recognised by its exact text and emitted as hand-written C.  Anything
else in the source raises :class:`NativeUnsupported`: the shield then keeps the Python
step.  Where a statement meets a value it does not expect (an observation that is not a
float, a history entry of another shape, a division by zero, which Python raises on),
the C step hands the whole step to the Python step before it has changed anything, so
the two take the same decisions, errors included.

Only generated names (``o3``, ``a0_1``, ``_m12`` … checked against an identifier pattern
and prefixed ``v_``) and numbers (as C99 hexadecimal floats, exact) reach the C source;
property ids, labels and other strings stay Python objects handed to the module at run
time.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from saferl.shield.ctemplate import EPILOGUE, PRELUDE

__all__ = ["NativeUnsupported", "StepLayout", "c_step_source", "c_number"]


class NativeUnsupported(Exception):
    """The generated Python step has something the C translation does not handle."""


@dataclass(frozen=True)
class StepLayout:
    """What the C step needs to know beyond the Python source: sizes and dtypes."""

    n_obs: int
    n_act: int
    n_state: int
    action_f32: bool  # float32 actions (else float64)
    obs_f32: bool  # float32 observations (else float64)
    projection: bool


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONSTS = {"_INF": "INFINITY", "_NAN": "NAN"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*"}


def c_number(value: object) -> str:
    """A Python number as an exact C literal (floats in C99 hexadecimal)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise NativeUnsupported(f"integer constant {value} is not exact as a double")
        return f"({value})"
    if isinstance(value, float):
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        return f"({value.hex()})"
    raise NativeUnsupported(f"constant {value!r} is not a number")


class _Translator:
    def __init__(self, layout: StepLayout, window: int):
        self.layout = layout
        self.window = window
        self.types: dict[str, str] = {}
        self.lags: set[int] = set()
        self.reads_state = False

    # -- names and expressions ------------------------------------------------------
    def var(self, name: str, kind: str | None = None) -> str:
        if not _IDENT.match(name) or name.startswith("__"):
            raise NativeUnsupported(f"name {name!r}")
        if kind is not None:
            if self.types.setdefault(name, kind) != kind:
                raise NativeUnsupported(f"{name} holds both an int and a float")
        elif name not in self.types:
            raise NativeUnsupported(f"{name} is read before it is assigned")
        return f"v_{name}"

    def kind(self, e: ast.expr) -> str:
        if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool):
            return "int"
        if isinstance(e, ast.Name) and self.types.get(e.id) == "int":
            return "int"
        return "double"

    def truth(self, e: ast.expr) -> str:
        """``e`` in a test: comparisons as they are, numbers against zero (NaN is true in both)."""
        if isinstance(e, ast.Compare | ast.BoolOp) or (isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not)):
            return self.expr(e)
        if isinstance(e, ast.Constant) and isinstance(e.value, bool):
            return c_number(e.value)
        return f"({self.expr(e)} != 0)"

    def expr(self, e: ast.expr) -> str:
        if isinstance(e, ast.Constant):
            return c_number(e.value)
        if isinstance(e, ast.Name):
            if e.id in _CONSTS:
                return _CONSTS[e.id]
            if e.id == "projection":
                return "1" if self.layout.projection else "0"
            return self.var(e.id)
        if isinstance(e, ast.UnaryOp):
            if isinstance(e.op, ast.USub):
                return f"(-{self.expr(e.operand)})"
            if isinstance(e.op, ast.Not):
                return f"(!{self.truth(e.operand)})"
        if isinstance(e, ast.BinOp):
            left, right = self.expr(e.left), self.expr(e.right)
            if type(e.op) in _ARITH:
                if self.kind(e.left) == "int" and self.kind(e.right) == "int":
                    raise NativeUnsupported("integer arithmetic")
                return f"({left} {_ARITH[type(e.op)]} {right})"
            if isinstance(e.op, ast.Div):  # Python raises on a zero divisor: the Python step then runs
                return f"sdiv({left}, {right}, &zdiv)"
        if isinstance(e, ast.BoolOp):
            op = " && " if isinstance(e.op, ast.And) else " || "
            return "(" + op.join(self.truth(v) for v in e.values) + ")"
        if isinstance(e, ast.Compare):
            terms = [e.left, *e.comparators]
            if any(type(op) not in _CMP for op in e.ops):
                raise NativeUnsupported("a comparison other than < <= > >= == !=")
            if any(not isinstance(t, ast.Name | ast.Constant) for t in terms[1:-1]):
                raise NativeUnsupported("a chained comparison over an expression")
            parts = [f"({self.expr(a)} {_CMP[type(op)]} {self.expr(b)})"
                     for a, op, b in zip(terms[:-1], e.ops, terms[1:], strict=True)]
            return "(" + " && ".join(parts) + ")"
        if isinstance(e, ast.IfExp):
            return f"({self.truth(e.test)} ? {self.expr(e.body)} : {self.expr(e.orelse)})"
        if isinstance(e, ast.NamedExpr):
            value = self.expr(e.value)
            return f"({self.var(e.target.id, self.kind(e.value))} = {value})"
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords:
            args = [self.expr(a) for a in e.args]
            if any(isinstance(a, ast.Starred) for a in e.args):
                raise NativeUnsupported("a starred argument")
            name, n = e.func.id, len(args)
            if name == "abs" and n == 1:
                return f"fabs({args[0]})"
            if name in ("_below", "_above") and n == 1:
                return f"nextafter({args[0]}, {'-' if name == '_below' else ''}INFINITY)"
            if name == "cast_into" and n == 3:
                return f"cast_into({', '.join(args)})"
        if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name) and e.value.id == "ps":
            i = e.slice
            if isinstance(i, ast.Constant) and type(i.value) is int and 0 <= i.value < self.layout.n_state:
                self.reads_state = True
                return f"psv[{i.value}]"
        raise NativeUnsupported(f"expression {ast.unparse(e)!r}")

    # -- statements -----------------------------------------------------------------
    def block(self, body: list[ast.stmt], pad: str) -> list[str]:
        out: list[str] = []
        for s in body:
            out += self.stmt(s, pad)
        return out

    def stmt(self, s: ast.stmt, pad: str) -> list[str]:
        text = ast.unparse(s)
        plumbing = self.plumbing(s, text)
        if plumbing is not None:
            return [pad + line for line in plumbing]
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            target = s.targets[0]
            if isinstance(target, ast.Name):
                value = self.expr(s.value)
                return [f"{pad}{self.var(target.id, self.kind(s.value))} = {value};"]
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == "ps":
                i = target.slice
                if isinstance(i, ast.Constant) and type(i.value) is int and 0 <= i.value < self.layout.n_state:
                    self.reads_state = True
                    return [f"{pad}psv[{i.value}] = {self.expr(s.value)}; psw[{i.value}] = 1;"]
        if isinstance(s, ast.If):
            out = [f"{pad}if ({self.truth(s.test)}) {{", *self.block(s.body, pad + "    ")]
            if s.orelse:
                out += [f"{pad}}} else {{", *self.block(s.orelse, pad + "    ")]
            return [*out, f"{pad}}}"]
        if isinstance(s, ast.Return) and text == "return general(action, False)":
            return [f"{pad}goto general;"]
        if isinstance(s, ast.Pass):
            return []
        raise NativeUnsupported(f"statement {text.splitlines()[0]!r}")

    def plumbing(self, s: ast.stmt, text: str) -> list[str] | None:
        n_act = self.layout.n_act
        acts = ", ".join(f"a{j}" for j in range(n_act))
        if isinstance(s, ast.If):
            return self.plumbing_if(s, text)
        if text == "vals = action.tolist()":
            return ["read_action((PyArrayObject *)action, av);"]
        if text in (f"{acts}, = vals", f"({acts},) = vals", f"{acts} = vals"):
            return [f"{self.var(f'a{j}', 'double')} = av[{j}];" for j in range(n_act)]
        if text == "o = shield._o":
            return ["ol = Py_XNewRef(PyDict_GetItemWithError(attrs, s_o));",
                    "if (ol == NULL || !PyList_CheckExact(ol)) goto pyfast;"]
        if isinstance(s, ast.Assign) and isinstance(s.value, ast.Name) and s.value.id == "o":
            target = s.targets[0]
            if not isinstance(target, ast.Tuple) or len(target.elts) != self.layout.n_obs:
                raise NativeUnsupported("the observations unpacked into another number of names")
            out = [f"if (PyList_GET_SIZE(ol) != {self.layout.n_obs}) goto pyfast;"]
            for i, t in enumerate(target.elts):
                if not isinstance(t, ast.Name):
                    raise NativeUnsupported("an observation unpacked into something other than a name")
                if t.id != "_":
                    out.append(f"if (get_float(PyList_GET_ITEM(ol, {i}), &{self.var(t.id, 'double')})) goto pyfast;")
            return out
        m = re.fullmatch(r"h(\d) = h\[-(\d)\]", text)
        if m and m.group(1) == m.group(2) and 1 <= int(m.group(1)) <= self.window:
            lag = int(m.group(1))
            self.lags.add(lag)
            return [f"hist[{lag}] = PySequence_GetItem(h, -{lag});",
                    f"if (hist[{lag}] == NULL || !PyTuple_CheckExact(hist[{lag}]) || PyTuple_GET_SIZE(hist[{lag}]) < 2) goto pyfast;"]
        m = re.fullmatch(r"([ao]\d+_\d) = h(\d)\[([01])\]\[(\d+)\]", text)
        if m and int(m.group(2)) in self.lags:
            name, at, slot, idx = m.group(1), m.group(2), m.group(3), m.group(4)
            return [f"if (hist_float(hist[{at}], {slot}, {idx}, &{self.var(name, 'double')})) goto pyfast;"]
        if text == ("ex = (p0,)" if n_act == 1 else f"ex = ({', '.join(f'p{j}' for j in range(n_act))})"):
            ps = ", ".join(self.var(f"p{j}") for j in range(n_act))
            return [f"{{ double xs[{n_act}] = {{{ps}}}; ex = float_tuple(xs, {n_act}); }}", "if (ex == NULL) goto fail;"]
        if text == "env_action = _array(ex, dtype=adtype)":
            ps = ", ".join(self.var(f"p{j}") for j in range(n_act))
            return [f"{{ double xs[{n_act}] = {{{ps}}}; env_action = new_action(xs); }}", "if (env_action == NULL) goto fail;"]
        if text == "ex = tuple(vals)":
            return [f"ex = float_tuple(av, {n_act});", "if (ex == NULL) goto fail;"]
        if text == "env_action = action":
            return ["env_action = Py_NewRef(action);"]
        proposed, executed = ("tuple(vals)", "ex") if n_act > 1 else ("a0", "p0")
        if text == f"rec = _new(_Rec, ({proposed}, {executed}, True, pids[k], 'violation', 'projection', None))":
            if n_act > 1:
                return ["{ PyObject *pr = float_tuple(av, N_ACT);",
                        "  rec = pr == NULL ? NULL : make_rec(rec_type, pr, ex, Py_True, pid_of(pids, v_k), s_violation, s_projection, Py_None);",
                        "  Py_XDECREF(pr); }", "if (rec == NULL) goto fail;"]
            return ["{ PyObject *pr = PyFloat_FromDouble(v_a0), *px = PyFloat_FromDouble(v_p0);",
                    "  rec = pr == NULL || px == NULL ? NULL : make_rec(rec_type, pr, px, Py_True, pid_of(pids, v_k), s_violation, s_projection, Py_None);",
                    "  Py_XDECREF(pr); Py_XDECREF(px); }", "if (rec == NULL) goto fail;"]
        same = "ex, ex" if n_act > 1 else "a0, a0"
        if text == f"rec = _new(_Rec, ({same}, False, None, None, 'policy', None))":
            if n_act > 1:
                return ["rec = make_rec(rec_type, ex, ex, Py_False, Py_None, Py_None, s_policy, Py_None);", "if (rec == NULL) goto fail;"]
            return ["{ PyObject *pr = PyFloat_FromDouble(v_a0);",
                    "  rec = pr == NULL ? NULL : make_rec(rec_type, pr, pr, Py_False, Py_None, Py_None, s_policy, Py_None);",
                    "  Py_XDECREF(pr); }", "if (rec == NULL) goto fail;"]
        if text == "fallback(*o, ps)":
            return ["if (zdiv) goto pyfast;", "if (call_fallback(fallback, ol, ps)) goto fail;"]
        if text == "obs, reward, terminated, truncated, info = env_step(env_action)":
            return ["if (zdiv) goto pyfast;", "if (write_state(ps, psv, psw, N_STATE)) goto fail;",
                    "res = env_result(PyObject_CallOneArg(env_step, env_action));", "if (res == NULL) goto fail;"]
        if text == "ptally[k] += 1":
            return ["if (increment(ptally, v_k)) goto fail;"]
        if text == "h.append((o, ex, ()))":
            return ["if (append_history(h_append, ol, ex)) goto fail;"]
        if text == "shield._t += 1":
            return ["if (increment_attr(attrs, s_t)) goto fail;"]
        if text == "info['saferl'] = rec":
            return ["if (PyObject_SetItem(RES(4), s_saferl, rec)) goto fail;"]
        if text == "return (obs, reward, terminated, truncated, info)":
            return ["ret = PyTuple_Pack(5, RES(0), RES(1), RES(2), RES(3), RES(4));", "goto done;"]
        return None

    def plumbing_if(self, s: ast.If, text: str) -> list[str] | None:
        test = ast.unparse(s.test)
        m = re.fullmatch(r"action\.__class__ is _ndarray and action\.dtype is adtype and \(action\.shape == ashape\)"
                         r"(?: and \(len\(h\) >= (\d)\))?", test)
        if m:
            if int(m.group(1) or 0) != self.window:
                raise NativeUnsupported("the history test does not match the window")
            out = ["if (!action_ok(action, adtype, N_ACT)) goto general;"]
            if self.window:
                out += ["{ Py_ssize_t nh = PyObject_Length(h); if (nh < 0) goto fail; if (nh < WINDOW) goto general; }"]
            return out + self.block(s.body, "") + (self.block(s.orelse, "") if s.orelse else [])
        if text == ("if obs.__class__ is _ndarray and obs.dtype is odtype:\n    shield._o = obs.tolist()\n"
                    "else:\n    shield._o = to_list(obs)"):
            return ["if (store_observation(attrs, RES(0), odtype, to_list)) goto fail;"]
        if text == "if terminated or truncated:\n    rec = finish(rec)":
            return ["if (finish_if_done(finish, RES(2), RES(3), &rec)) goto fail;"]
        return None


def c_step_source(py_source: str, layout: StepLayout, window: int, module: str) -> str:
    """The C source of extension module ``module`` whose ``make(ctx)`` returns the step
    that generated Python step ``py_source`` defines (``ctx``: :data:`saferl.shield.ctemplate.CONTEXT`).

    Raises:
        NativeUnsupported: the source holds something the translation does not handle.
    """
    if not _IDENT.match(module):
        raise NativeUnsupported(f"module name {module!r}")
    tree = ast.parse(py_source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) or tree.body[0].name != "step":
        raise NativeUnsupported("the source is not one step function")
    fn = tree.body[0]
    if [a.arg for a in fn.args.args] != ["action"]:
        raise NativeUnsupported("the step does not take one action")
    if not 0 <= window <= 8 or layout.n_act < 1 or layout.n_obs < 1:
        raise NativeUnsupported("sizes out of range")
    tr = _Translator(layout, window)
    body = tr.block(fn.body, "    ")
    decls = [f"    {'int' if kind == 'int' else 'double'} v_{name} = 0;" for name, kind in sorted(tr.types.items())]
    state = "    if (read_state(ps, psv, N_STATE)) goto pyfast;" if tr.reads_state else ""
    defines = "\n".join([
        f"#define N_OBS {layout.n_obs}", f"#define N_ACT {layout.n_act}", f"#define N_STATE {max(layout.n_state, 1)}",
        f"#define WINDOW {window}", f"#define ACTION_T {'float' if layout.action_f32 else 'double'}",
        f"#define OBS_T {'float' if layout.obs_f32 else 'double'}",
        f"#define CAST_F32 {1 if layout.action_f32 else 0}", f"#define MODULE_NAME \"{module}\"",
        f"#define MODULE_INIT PyInit_{module}",
    ])
    step = "\n".join([
        "static PyObject *step(PyObject *ctx, PyObject *action) {",
        "    PyObject *ret = NULL, *ol = NULL, *ex = NULL, *env_action = NULL, *rec = NULL, *res = NULL;",
        "    PyObject *hist[WINDOW + 1] = {NULL};",
        "    double av[N_ACT], psv[N_STATE];",
        "    char psw[N_STATE] = {0};",
        "    int zdiv = 0;",
        *decls,
        "    UNPACK_CONTEXT(ctx);",
        state,
        *body,
        "    goto general;",
        "general:",
        "    if (zdiv) goto pyfast;",
        "    ret = PyObject_CallFunctionObjArgs(general_step, action, Py_False, NULL);",
        "    goto done;",
        "pyfast:",
        "    PyErr_Clear();",
        "    ret = PyObject_CallOneArg(python_step, action);",
        "    goto done;",
        "fail:",
        "    ret = NULL;",
        "done:",
        "    for (int i = 0; i <= WINDOW; i++) Py_XDECREF(hist[i]);",
        "    Py_XDECREF(ol); Py_XDECREF(ex); Py_XDECREF(env_action); Py_XDECREF(rec); Py_XDECREF(res);",
        "    (void)psv; (void)psw; (void)av;",
        "    return ret;",
        "}",
    ])
    return PRELUDE.replace("@DEFINES@", defines) + "\n" + step + "\n" + EPILOGUE
