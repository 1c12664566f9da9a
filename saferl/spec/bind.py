"""Bind a spec to a policy: resolve every name, check every range, report at the YAML line.

A name in a spec expression is an observation, an action, a PID state variable
(``pid0.integral``) or a label of a discrete action (``right``).  Binding fails with a
:class:`~saferl.errors.SpecError` at the name's position when it is none of these.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from saferl.errors import Location, SpecError
from saferl.policy.ast import Program
from saferl.spec.expr import SBin, SBool, SCmp, SConst, SExpr, SNum, SVar, variables
from saferl.spec.load import Property, Spec

__all__ = ["Binding", "bind_spec", "property_condition"]


@dataclass(frozen=True)
class Binding:
    """What each spec name means for one policy."""

    program: Program
    labels: dict[str, float]

    def kind_of(self, name: str) -> str:
        if name in self.program.obs_names:
            return "obs"
        if name in self.program.action_names:
            return "action"
        if name in self.program.state_names:
            return "state"
        if name in self.labels:
            return "label"
        raise KeyError(name)


def _labels(program: Program) -> dict[str, float]:
    out: dict[str, float] = {}
    for a in program.actions:
        for n, v in a.labels:
            out[n] = float(v)
    return out


def property_condition(prop: Property, binding: Binding) -> tuple[SExpr, SExpr]:
    """(when, require) of a property, bounds turned into comparisons."""
    when = prop.when if prop.when is not None else SConst(True)
    if prop.kind != "bounds":
        if prop.require is None:
            raise SpecError(f"property {prop.id!r} has no 'require'", Location("<spec>", prop.line))
        return when, prop.require
    var = SVar(prop.action or "")
    if prop.allowed:
        eqs: tuple[SExpr, ...] = tuple(SCmp("==", var, SNum(binding.labels[a])) for a in prop.allowed)
        return when, eqs[0] if len(eqs) == 1 else SBool("or", eqs)
    low = prop.low if prop.low is not None else float("-inf")
    high = prop.high if prop.high is not None else float("inf")
    return when, SBool("and", (SCmp(">=", var, SNum(low)), SCmp("<=", var, SNum(high))))


def _hint(name: str, binding: Binding) -> str:
    names = [*binding.program.obs_names, *binding.program.action_names, *binding.program.state_names, *binding.labels]
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "names are the policy's observations, actions, labels and pid<k>.integral / pid<k>.prev_error"


def bind_spec(spec: Spec, program: Program) -> Binding:
    """Check that ``spec`` fits ``program``; return the name binding."""
    binding = Binding(program, _labels(program))
    for key, loc in spec.locations.items():
        section, _, name = key.partition(".")
        if section == "observations" and name not in program.obs_names:
            raise SpecError(f"{name!r} is not an observation of policy {program.name!r}", loc, hint=_hint(name, binding))
        if section == "state" and name not in program.state_names:
            raise SpecError(
                f"{name!r} is not a state variable of policy {program.name!r}", loc,
                hint=f"state variables: {', '.join(program.state_names) or 'none (the policy has no pid)'}",
            )
    for name, (low, high) in spec.state.items():
        if not low <= 0.0 <= high:
            raise SpecError(
                f"the range of {name!r} excludes the initial state 0", spec.locations.get(f"state.{name}"),
                hint="pid state starts at 0, so its range must contain 0",
            )
    for prop in spec.properties:
        ploc = Location(spec.path, prop.line)
        if prop.kind == "bounds":
            aloc = prop.locations.get("action", ploc)
            if prop.action not in program.action_names:
                raise SpecError(f"{prop.action!r} is not an action of policy {program.name!r}", aloc, hint=_hint(prop.action or "", binding))
            decl = program.action(prop.action)
            if prop.allowed:
                if decl.kind != "discrete":
                    raise SpecError(f"'allowed' needs a discrete action; {decl.name!r} is continuous", aloc, hint="use 'range'")
                for a in prop.allowed:
                    if a not in dict(decl.labels):
                        raise SpecError(f"{a!r} is not a label of {decl.name!r}", prop.locations.get("allowed", ploc))
        exprs = [e for e in (prop.when, prop.require) if e is not None]
        for e in exprs:
            for v in variables(e):
                try:
                    kind = binding.kind_of(v.name)
                except KeyError:
                    raise SpecError(f"unknown name {v.name!r}", v.loc or ploc, hint=_hint(v.name, binding)) from None
                if kind == "label" and (v.lag or v.copy):
                    raise SpecError(f"label {v.name!r} takes no history index or prime", v.loc or ploc)
    return binding


def is_constant(e: SExpr) -> bool:
    return isinstance(e, SNum) or (isinstance(e, SBin) and is_constant(e.left) and is_constant(e.right))
