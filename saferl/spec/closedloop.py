"""Closed-loop properties (``kind: safety`` and ``kind: reach``) over a dynamics model.

A closed-loop property is about the *state* of an environment driven by the policy::

    - id: pole-up-forever
      kind: safety
      dynamics: CartPole-v1          # a model of saferl.dynamics
      parameters: {force_mag: 10.0}  # optional: override physical parameters
      initial: reset                 # or {theta: [-0.05, 0.05], ...} or a list of such boxes
      always: abs(theta) <= 0.20943951023931953
      horizon: forever               # or a number of steps
    - id: car-reaches-flag
      kind: reach
      dynamics: MountainCarContinuous-v0
      initial: {position: [-0.6, -0.4], velocity: [0, 0]}
      eventually: position >= 0.45
      within: 999
      avoid: velocity < -0.07        # optional

Names in conditions are the model's state variables.  Variables an ``initial`` box does not
list take their range from the environment's reset distribution.  This module knows the
models by name only (:data:`ENVIRONMENTS`), so that loading a spec never imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import field
from typing import Any

import yaml

from saferl.errors import Location, SpecError
from saferl.record import record
from saferl.spec.expr import SExpr, variables

__all__ = ["ClosedLoopProperty", "ENVIRONMENTS", "CLOSED_LOOP_KINDS", "closed_loop_kind", "parse_closed_loop"]

CLOSED_LOOP_KINDS = ("safety", "reach")
MAX_STEPS = 1_000_000

#: env id -> (state variables, reset box, state space, parameters); kept equal to
#: saferl.dynamics by a test
ENVIRONMENTS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "state": ("x", "x_dot", "theta", "theta_dot"),
        "reset": ((-0.05, 0.05),) * 4,
        "space": ((-4.8, 4.8), (-math.inf, math.inf), (-0.41887902047863906, 0.41887902047863906), (-math.inf, math.inf)),
        "parameters": ("gravity", "masscart", "masspole", "length", "force_mag", "tau"),
    },
    "Pendulum-v1": {
        "state": ("theta", "theta_dot"),
        "reset": ((-math.pi, math.pi), (-1.0, 1.0)),
        "space": ((-1e6, 1e6), (-8.0, 8.0)),
        "parameters": ("g", "m", "l", "dt", "max_speed", "max_torque"),
    },
    "MountainCarContinuous-v0": {
        "state": ("position", "velocity"),
        "reset": ((-0.6, -0.4), (0.0, 0.0)),
        "space": ((-1.2, 0.6), (-0.07, 0.07)),
        "parameters": ("power", "max_speed", "min_position", "max_position"),
    },
}

_KEYS = {
    "safety": {"id", "kind", "description", "dynamics", "parameters", "initial", "always", "horizon", "timeout"},
    "reach": {"id", "kind", "description", "dynamics", "parameters", "initial", "eventually", "within", "avoid", "timeout"},
}

Box = tuple[tuple[float, float], ...]


@record
class ClosedLoopProperty:
    """A safety or reach property of the closed loop, with the YAML line it starts on.

    ``initial`` is a tuple of boxes over the state variables (in the model's order);
    ``horizon`` None means forever (safety).  ``steps`` is the horizon or ``within``.
    """

    id: str
    kind: str
    line: int
    dynamics: str
    initial: tuple[Box, ...]
    steps: int | None
    description: str = ""
    parameters: dict[str, float] = field(default_factory=dict)
    always: SExpr | None = None
    eventually: SExpr | None = None
    avoid: SExpr | None = None
    initial_is_reset: bool = False
    timeout_s: float | None = None
    locations: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(ENVIRONMENTS[self.dynamics]["state"])


def closed_loop_kind(node: yaml.Node) -> str | None:
    """``safety`` or ``reach`` when the YAML property node is a closed-loop one, else None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == "kind" and isinstance(v, yaml.ScalarNode):
            return v.value if v.value in CLOSED_LOOP_KINDS else None
    return None


def _steps(loader: Any, node: yaml.Node, what: str, forever: bool) -> int | None:
    if forever and isinstance(node, yaml.ScalarNode) and node.value == "forever":
        return None
    value = loader.number(node, what)
    if value != int(value) or not 1 <= value <= MAX_STEPS:
        hint = "a whole number of steps from 1 to 1000000" + (", or 'forever'" if forever else "")
        raise loader.err(f"{what} must be a whole number of steps, got {node.value!r}", node, hint=hint)
    return int(value)


def _box(loader: Any, node: yaml.Node, env: dict[str, Any]) -> Box:
    names = env["state"]
    ranges = dict(zip(names, env["reset"], strict=True))
    for name, knode, vnode in loader.mapping(node, "an initial box"):
        if name not in names:
            raise loader.err(f"{name!r} is not a state variable", knode, hint=f"state variables: {', '.join(names)}")
        ranges[name] = loader.interval(vnode, f"the initial range of {name!r}")
    for name, (low, high), (slow, shigh) in zip(names, [ranges[n] for n in names], env["space"], strict=True):
        if low < slow or high > shigh:
            raise loader.err(
                f"the initial range of {name!r} [{low}, {high}] leaves the state space [{slow}, {shigh}]", node,
            )
    return tuple(ranges[n] for n in names)


def _check_names(loader: Any, e: SExpr, env: dict[str, Any], node: yaml.Node) -> None:
    for v in variables(e):
        if v.lag or v.copy:
            raise loader.err(f"{v.name!r}: closed-loop conditions are about the current state", node)
        if v.name not in env["state"]:
            loc = v.loc or loader.loc(node)
            raise SpecError(f"{v.name!r} is not a state variable", loc, hint=f"state variables: {', '.join(env['state'])}")


def parse_closed_loop(loader: Any, node: yaml.Node) -> ClosedLoopProperty:
    """Parse one closed-loop property node with the spec loader's helpers (``loader`` is
    :class:`saferl.spec.load`'s loader: ``mapping``, ``string``, ``number``, ``interval``,
    ``expr``, ``err``, ``loc``)."""
    keys = {k: (kn, v) for k, kn, v in loader.mapping(node, "a property")}
    if "id" not in keys:
        raise loader.err("a property needs an 'id'", node)
    pid = str(loader.scalar(keys["id"][1], "id"))
    kind = loader.string(keys["kind"][1], "kind")
    for k, (kn, _) in keys.items():
        if k not in _KEYS[kind]:
            raise loader.err(f"unknown key {k!r} for a {kind} property", kn, hint=f"keys: {', '.join(sorted(_KEYS[kind]))}")
    if "dynamics" not in keys:
        raise loader.err(f"{kind} property {pid!r} needs 'dynamics'", node, hint=f"dynamics: {', '.join(ENVIRONMENTS)}")
    dnode = keys["dynamics"][1]
    dyn = loader.string(dnode, "dynamics")
    if dyn not in ENVIRONMENTS:
        raise loader.err(f"unknown dynamics {dyn!r}", dnode, hint=f"known: {', '.join(ENVIRONMENTS)}")
    env = ENVIRONMENTS[dyn]
    params: dict[str, float] = {}
    if "parameters" in keys:
        for name, knode, vnode in loader.mapping(keys["parameters"][1], "parameters"):
            if name not in env["parameters"]:
                raise loader.err(f"{dyn} has no parameter {name!r}", knode, hint=f"parameters: {', '.join(env['parameters'])}")
            value = loader.number(vnode, f"parameter {name!r}")
            if value <= 0 and name not in ("min_position", "max_position"):
                raise loader.err(f"parameter {name!r} must be positive, got {value}", vnode)
            params[name] = value
    if "initial" not in keys:
        raise loader.err(f"{kind} property {pid!r} needs 'initial'", node, hint="initial: reset, or a box {var: [low, high]}")
    inode = keys["initial"][1]
    is_reset = isinstance(inode, yaml.ScalarNode) and inode.value == "reset"
    if is_reset:
        initial: tuple[Box, ...] = (tuple(env["reset"]),)
    elif isinstance(inode, yaml.SequenceNode) and inode.value and isinstance(inode.value[0], yaml.MappingNode):
        initial = tuple(_box(loader, b, env) for b in inode.value)
    elif isinstance(inode, yaml.MappingNode):
        initial = (_box(loader, inode, env),)
    else:
        raise loader.err("'initial' must be 'reset', a box {var: [low, high]} or a list of boxes", inode)
    line = node.start_mark.line + 1
    locs = {k: loader.loc(v) for k, (_, v) in keys.items()}
    common: dict[str, Any] = {
        "id": pid, "kind": kind, "line": line, "dynamics": dyn, "initial": initial, "parameters": params,
        "initial_is_reset": is_reset, "locations": locs,
    }
    if "description" in keys:
        common["description"] = loader.string(keys["description"][1], "description")
    if "timeout" in keys:
        t = loader.number(keys["timeout"][1], "timeout")
        if t <= 0:
            raise loader.err("timeout must be positive", keys["timeout"][1])
        common["timeout_s"] = t
    exprs: dict[str, SExpr] = {}
    needed = ("always", "horizon") if kind == "safety" else ("eventually", "within")
    for k in needed:
        if k not in keys:
            raise loader.err(f"{kind} property {pid!r} needs {k!r}", node)
    for k in ("always", "eventually", "avoid"):
        if k in keys:
            exprs[k] = loader.expr(keys[k][1], k)
            _check_names(loader, exprs[k], env, keys[k][1])
    if kind == "safety":
        steps = _steps(loader, keys["horizon"][1], "horizon", forever=True)
    else:
        steps = _steps(loader, keys["within"][1], "within", forever=False)
    return ClosedLoopProperty(
        **common, steps=steps, always=exprs.get("always"), eventually=exprs.get("eventually"), avoid=exprs.get("avoid"),
    )
