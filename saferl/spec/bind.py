"""Bind a spec to a policy: resolve every name, check every range, report at the YAML line.

A name in a spec expression is an observation, an action, a PID state variable
(``pid0.integral``) or a label of a discrete action (``right``).  Binding fails with a
:class:`~saferl.errors.SpecError` at the name's position when it is none of these.

Labels are scoped per action, as in the policy: in ``p == left`` the label means the value
``left`` has for action ``p``, whatever another action calls ``left``.  A label that is
not compared with an action directly must mean the same value for every action that
declares it, else it is ambiguous (an error).  :func:`property_condition` hands every
consumer (encoder, replay, shield) expressions whose labels are already constants.
"""

from __future__ import annotations

from saferl.errors import Location, SpecError
from saferl.policy.ast import Program
from saferl.record import record
from saferl.spec.expr import (
    SBin,
    SBool,
    SCall,
    SCmp,
    SConst,
    SExpr,
    SNeg,
    SNot,
    SNum,
    SVar,
    variables,
)
from saferl.spec.load import Property, Spec

__all__ = ["Binding", "bind_spec", "property_condition", "resolve_labels"]


@record
class Binding:
    """What each spec name means for one policy.

    ``action_labels`` maps each discrete action to its own labels; ``labels`` holds the
    labels that mean one value for every action declaring them (usable anywhere).
    """

    program: Program
    labels: dict[str, float]
    action_labels: dict[str, dict[str, float]]

    def kind_of(self, name: str) -> str:
        if name in self.program.obs_names:
            return "obs"
        if name in self.program.action_names:
            return "action"
        if name in self.program.state_names:
            return "state"
        if any(name in table for table in self.action_labels.values()):
            return "label"
        raise KeyError(name)

    def label_value(self, name: str, action: str | None = None, loc: Location | None = None) -> float:
        """The value of label ``name``: of ``action`` when given, else the one value all
        actions declaring it agree on; a :class:`SpecError` when there is none."""
        if action is not None:
            table = self.action_labels.get(action, {})
            if name not in table:
                raise SpecError(
                    f"{name!r} is not a label of action {action!r}", loc,
                    hint=f"labels of {action!r}: {', '.join(table) or 'none (continuous)'}",
                )
            return table[name]
        if name in self.labels:
            return self.labels[name]
        meanings = ", ".join(f"{v:g} for {a!r}" for a, t in self.action_labels.items() for n, v in t.items() if n == name)
        raise SpecError(
            f"label {name!r} is ambiguous: it means {meanings}", loc,
            hint=f"compare it with one action, e.g. {next(a for a, t in self.action_labels.items() if name in t)} == {name}",
        )


def _labels(program: Program) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    per_action = {a.name: {n: float(v) for n, v in a.labels} for a in program.actions if a.kind == "discrete"}
    values: dict[str, set[float]] = {}
    for table in per_action.values():
        for n, v in table.items():
            values.setdefault(n, set()).add(v)
    unique = {n: next(iter(vs)) for n, vs in values.items() if len(vs) == 1}
    return unique, per_action


def resolve_labels(e: SExpr, binding: Binding) -> SExpr:
    """``e`` with every label replaced by its value, scoped by the action it is compared with."""
    if isinstance(e, SVar):
        if binding.kind_of(e.name) == "label":
            return SNum(binding.label_value(e.name, None, e.loc))
        return e
    if isinstance(e, SCmp):
        left, right = e.left, e.right
        for a, b in ((left, right), (right, left)):
            if (
                isinstance(a, SVar) and isinstance(b, SVar)
                and binding.kind_of(a.name) == "label" and binding.kind_of(b.name) == "action"
            ):
                value = SNum(binding.label_value(a.name, b.name, a.loc))
                return SCmp(e.op, value, right) if a is left else SCmp(e.op, left, value)
        return SCmp(e.op, resolve_labels(left, binding), resolve_labels(right, binding))
    if isinstance(e, SNeg):
        return SNeg(resolve_labels(e.operand, binding))
    if isinstance(e, SNot):
        return SNot(resolve_labels(e.operand, binding))
    if isinstance(e, SBin):
        return SBin(e.op, resolve_labels(e.left, binding), resolve_labels(e.right, binding))
    if isinstance(e, SCall):
        return SCall(e.func, tuple(resolve_labels(a, binding) for a in e.args))
    if isinstance(e, SBool):
        return SBool(e.op, tuple(resolve_labels(o, binding) for o in e.operands))
    return e


def property_condition(prop: Property, binding: Binding) -> tuple[SExpr, SExpr]:
    """(when, require) of a property, bounds turned into comparisons, labels resolved."""
    when = resolve_labels(prop.when, binding) if prop.when is not None else SConst(True)
    if prop.kind != "bounds":
        if prop.require is None:
            raise SpecError(f"property {prop.id!r} has no 'require'", Location("<spec>", prop.line))
        return when, resolve_labels(prop.require, binding)
    var = SVar(prop.action or "")
    if prop.allowed:
        eqs: tuple[SExpr, ...] = tuple(
            SCmp("==", var, SNum(binding.label_value(a, prop.action))) for a in prop.allowed
        )
        return when, eqs[0] if len(eqs) == 1 else SBool("or", eqs)
    low = prop.low if prop.low is not None else float("-inf")
    high = prop.high if prop.high is not None else float("inf")
    return when, SBool("and", (SCmp(">=", var, SNum(low)), SCmp("<=", var, SNum(high))))


def _hint(name: str, binding: Binding) -> str:
    labels = {n for t in binding.action_labels.values() for n in t}
    names = [*binding.program.obs_names, *binding.program.action_names, *binding.program.state_names, *sorted(labels)]
    import difflib  # only for an error's hint

    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "names are the policy's observations, actions, labels and pid<k>.integral / pid<k>.prev_error"


def bind_spec(spec: Spec, program: Program) -> Binding:
    """Check that ``spec`` fits ``program``; return the name binding."""
    binding = Binding(program, *_labels(program))
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
        property_condition(prop, binding)  # labels resolve (scoped per action) or fail here
    return binding


def is_constant(e: SExpr) -> bool:
    return isinstance(e, SNum) or (isinstance(e, SBin) and is_constant(e.left) and is_constant(e.right))
