"""A random corpus of arithmetic programs × specs with an independent IEEE ground truth.

Each case is built as a small expression tree by this module, rendered to .pol and YAML
text for saferl, and *separately* translated here to z3's floating-point theory (float32
observations widened exactly, float64 round-to-nearest-even arithmetic, Python's
``min``/``max``, IEEE comparisons).  That translation shares no code with saferl's parser
or encoders, so a wrong SAFE in the encoder, the parser or the bit-precise refinement shows
up as a disagreement.  Used by tests/smt/test_float64_property.py and bench/soundness.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import z3

CONSTS = [
    0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 10.0, 1e-17, 1e-8, 1 / 3, 6.28, 0.7, 1e16, 2.0**-20,
    1e300, 1e-300, 3.4028234663852886e38, 0.30000001192092896, 53.39, 1e8,
]
CMP = ["<", "<=", ">", ">=", "==", "!="]

Tree = tuple[Any, ...]


def _const(rng: random.Random) -> float:
    c = rng.choice(CONSTS)
    return -c if rng.random() < 0.3 else c


def gen_expr(rng: random.Random, depth: int, names: tuple[str, ...]) -> Tree:
    """A random float64 expression: ('var', n) | ('num', c) | (op, a, b) | ('neg', a) | (f, a, b)."""
    if depth == 0 or rng.random() < 0.3:
        return ("var", rng.choice(names)) if rng.random() < 0.6 else ("num", _const(rng))
    kind = rng.choice(["+", "-", "*", "/", "+", "-", "*", "neg", "abs", "min", "max"])
    if kind == "/":
        return ("/", gen_expr(rng, depth - 1, names), ("num", rng.choice([c for c in CONSTS if c != 0])))
    if kind in ("neg", "abs"):
        return (kind, gen_expr(rng, depth - 1, names))
    return (kind, gen_expr(rng, depth - 1, names), gen_expr(rng, depth - 1, names))


def render(e: Tree) -> str:
    """.pol / spec text of an expression (fully parenthesised)."""
    kind = e[0]
    if kind == "var":
        return str(e[1])
    if kind == "num":
        return repr(float(e[1]))
    if kind == "neg":
        return f"(-{render(e[1])})"
    if kind in ("abs",):
        return f"abs({render(e[1])})"
    if kind in ("min", "max"):
        return f"{kind}({render(e[1])}, {render(e[2])})"
    return f"({render(e[1])} {kind} {render(e[2])})"


@dataclass(frozen=True)
class Case:
    """One program × spec, with the trees the ground truth is computed from."""

    policy: str
    spec: str
    cond: tuple[Tree, str, Tree]
    then: Tree
    orelse: Tree
    when: tuple[Tree, str, Tree]
    require: tuple[Tree, str, Tree]
    domains: dict[str, tuple[float, float]]


def gen_case(seed: int) -> Case:
    rng = random.Random(seed)
    names = ("x", "y")
    cond = (gen_expr(rng, 2, names), rng.choice(CMP), ("num", _const(rng)))
    then, orelse = gen_expr(rng, 3, names), gen_expr(rng, 2, names)
    when = (gen_expr(rng, 1, names), rng.choice(CMP), ("num", _const(rng)))
    rhs = gen_expr(rng, 1, ("x", "y")) if rng.random() < 0.5 else ("num", _const(rng))
    require = (("var", "f") if rng.random() < 0.7 else ("-", ("var", "f"), gen_expr(rng, 1, names)), rng.choice(CMP), rhs)
    domains = {}
    for n in names:
        a, b = sorted([_const(rng), _const(rng)])
        if rng.random() < 0.3:
            a, b = -abs(_const(rng)), abs(_const(rng))
        domains[n] = (a, b)
    policy = (
        "policy r\nobs x: float32\nobs y: float32\nact f: continuous\n"
        f"if {render(cond[0])} {cond[1]} {render(cond[2])} {{\n  f = {render(then)}\n}} else {{\n  f = {render(orelse)}\n}}\n"
    )

    def cmp_text(c: tuple[Tree, str, Tree]) -> str:
        return f"{render(c[0])} {c[1]} {render(c[2])}"

    dom = "".join(f"  {n}: [{lo!r}, {hi!r}]\n" for n, (lo, hi) in domains.items())
    spec = (
        f"observations:\n{dom}properties:\n"
        f"  - id: p\n    kind: invariant\n    when: '{cmp_text(when)}'\n    require: '{cmp_text(require)}'\n"
    )
    return Case(policy, spec, cond, then, orelse, when, require, domains)


# -- the independent ground truth ---------------------------------------------------------

F64 = z3.Float64()
RNE = z3.RNE()


def _z(e: Tree, env: dict[str, Any]) -> Any:
    kind = e[0]
    if kind == "var":
        return env[e[1]]
    if kind == "num":
        return z3.FPVal(e[1], F64)
    if kind == "neg":
        return z3.fpNeg(_z(e[1], env))
    if kind == "abs":
        return z3.fpAbs(_z(e[1], env))
    a, b = _z(e[1], env), _z(e[2], env)
    if kind == "min":  # Python: min(a, b) is b only when b < a
        return z3.If(z3.fpLT(b, a), b, a)
    if kind == "max":
        return z3.If(z3.fpGT(b, a), b, a)
    return {"+": z3.fpAdd, "-": z3.fpSub, "*": z3.fpMul, "/": z3.fpDiv}[kind](RNE, a, b)


def _cmp(op: str, a: Any, b: Any) -> Any:
    return {
        "<": z3.fpLT, "<=": z3.fpLEQ, ">": z3.fpGT, ">=": z3.fpGEQ, "==": z3.fpEQ,
        "!=": lambda p, q: z3.Not(z3.fpEQ(p, q)),
    }[op](a, b)


def ground_truth(case: Case, timeout_s: float = 20.0) -> str:
    """'unsafe' if some float32 observations in the domains violate the property under
    IEEE semantics, 'safe' if none do, 'unknown' on a timeout."""
    xs = {n: z3.FP(n, z3.Float32()) for n in case.domains}
    env: dict[str, Any] = {n: z3.fpToFP(RNE, v, F64) for n, v in xs.items()}
    s = z3.Solver()
    s.set("timeout", int(timeout_s * 1000))
    for n, (lo, hi) in case.domains.items():
        s.add(z3.Not(z3.fpIsNaN(xs[n])), z3.Not(z3.fpIsInf(xs[n])))
        s.add(z3.fpGEQ(env[n], z3.FPVal(lo, F64)), z3.fpLEQ(env[n], z3.FPVal(hi, F64)))
    c = _cmp(case.cond[1], _z(case.cond[0], env), _z(case.cond[2], env))
    env["f"] = z3.If(c, _z(case.then, env), _z(case.orelse, env))
    s.add(_cmp(case.when[1], _z(case.when[0], env), _z(case.when[2], env)))
    s.add(z3.Not(_cmp(case.require[1], _z(case.require[0], env), _z(case.require[2], env))))
    r = s.check()
    return "unsafe" if r == z3.sat else "safe" if r == z3.unsat else "unknown"


# -- an independent concrete evaluation (Python floats, as the runtime computes) ------------

def _py(e: Tree, env: dict[str, float]) -> float:
    kind = e[0]
    if kind == "var":
        return env[e[1]]
    if kind == "num":
        return float(e[1])
    if kind == "neg":
        return -_py(e[1], env)
    if kind == "abs":
        return abs(_py(e[1], env))
    a, b = _py(e[1], env), _py(e[2], env)
    if kind == "min":
        return min(a, b)
    if kind == "max":
        return max(a, b)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    return a / b


def _py_cmp(op: str, a: float, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


def violated(case: Case, obs: dict[str, float]) -> bool:
    """Do these (float32) observations violate the case's property at run time?"""
    env = dict(obs)
    if not all(lo <= env[n] <= hi for n, (lo, hi) in case.domains.items()):
        return False
    c = _py_cmp(case.cond[1], _py(case.cond[0], env), _py(case.cond[2], env))
    env["f"] = _py(case.then if c else case.orelse, env)
    when = _py_cmp(case.when[1], _py(case.when[0], env), _py(case.when[2], env))
    return when and not _py_cmp(case.require[1], _py(case.require[0], env), _py(case.require[2], env))
