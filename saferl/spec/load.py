"""YAML specs: the schema, loaded with line numbers (errors point at the YAML line).

A spec file looks like::

    spec: cartpole-pole-follow
    description: When the pole leans and keeps falling one way, push the cart that way.
    observations:            # the verified domain of each observation (others: unbounded)
      pole_angle: [-0.2095, 0.2095]
    state:                   # ranges of program state (pid<k>.integral, pid<k>.prev_error)
      pid0.integral: [-50, 50]
    properties:
      - id: push-right-when-falling-right
        kind: invariant
        when: pole_angle > 0.02 and pole_angular_velocity > 0.3
        require: push == right
      - id: force-range
        kind: bounds
        action: force
        range: [-1, 1]
      - id: accel-smooth
        kind: smoothness
        when: sum(k = 0..5, abs(rpm[t-k] - rpm[t-k-1])) < 0.003
        require: abs(accel[t] - accel[t-1]) <= 0.63

PyYAML is used only through ``compose`` with saferl's plain-data loader
(:mod:`saferl.yamlfile`): no objects, no tags beyond plain data, numbers such as ``1e-30``
read as numbers (YAML 1.1 would read them as text), and no more than
:data:`~saferl.limits.MAX_DATA_DEPTH` nested lists and mappings.
"""

from __future__ import annotations

import math
import re
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from saferl.errors import Location, SpecError
from saferl.limits import MAX_HISTORY_LAG, MAX_NAME_LENGTH, MAX_NUMBER_LENGTH, limit_message
from saferl.record import record
from saferl.spec.closedloop import ClosedLoopProperty, closed_loop_kind, parse_closed_loop
from saferl.spec.expr import SExpr, parse_spec_expr, variables
from saferl.userfile import read_user_text
from saferl.yamlfile import YAML_TAG, compose_user_yaml

__all__ = ["Property", "Spec", "load_spec", "parse_spec", "KINDS"]

KINDS = ("invariant", "bounds", "smoothness")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_TOP_KEYS = {"spec", "description", "observations", "state", "properties", "timeout"}
_PROP_KEYS = {
    "invariant": {"id", "kind", "description", "when", "require", "timeout"},
    "bounds": {"id", "kind", "description", "action", "range", "allowed", "when", "timeout"},
    "smoothness": {"id", "kind", "description", "when", "require", "window", "timeout"},
}
_TAG = YAML_TAG


@record
class Property:
    """One property of a spec, with the YAML line it starts on.

    ``mode`` is ``single`` (one observation), ``history`` (lags ``x[t-k]``) or ``two-run``
    (primed names ``x'``); smoothness properties are history or two-run.
    """

    id: str
    kind: str
    line: int
    description: str = ""
    when: SExpr | None = None
    require: SExpr | None = None
    action: str | None = None
    low: float | None = None
    high: float | None = None
    allowed: tuple[str, ...] = ()
    mode: str = "single"
    window: int = 0
    timeout_s: float | None = None
    locations: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)


@record
class Spec:
    """A whole spec file."""

    name: str
    path: str
    properties: tuple[Property, ...]
    description: str = ""
    domains: dict[str, tuple[float, float]] = field(default_factory=dict)
    state: dict[str, tuple[float, float]] = field(default_factory=dict)
    timeout_s: float | None = None
    locations: dict[str, Location] = field(default_factory=dict, compare=False, repr=False)
    #: safety / reach properties over a dynamics model (checked by saferl.closedloop)
    closed_loop: tuple[ClosedLoopProperty, ...] = ()


class _Loader:
    def __init__(self, text: str, path: str):
        self.path = path
        self.text = text

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def err(self, msg: str, node: yaml.Node, hint: str | None = None) -> SpecError:
        return SpecError(msg, self.loc(node), hint=hint)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.err(f"{what} must be a mapping (key: value)", node)
        out = []
        seen: set[str] = set()
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.err("keys must be plain names", k)
            if len(k.value) > MAX_NAME_LENGTH:
                exc = self.err(limit_message(f"key longer than {MAX_NAME_LENGTH} characters", "max_name_length"), k)
                exc.limit = "max_name_length"
                raise exc
            if k.value in seen:
                raise self.err(f"duplicate key {k.value!r}", k)
            seen.add(k.value)
            out.append((k.value, k, v))
        return out

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(f"{what} must be a single value", node)
        if node.tag in (_TAG + "int", _TAG + "float") and len(node.value) > MAX_NUMBER_LENGTH:
            exc = self.err(
                limit_message(f"{what}: number longer than {MAX_NUMBER_LENGTH} characters", "max_number_length"), node
            )
            exc.limit = "max_number_length"
            raise exc
        if node.tag == _TAG + "str":
            return str(node.value)
        try:
            return yaml.SafeLoader("").construct_object(node, deep=True)  # type: ignore[no-untyped-call]
        except (yaml.YAMLError, ValueError, OverflowError):
            raise self.err(f"{what}: cannot read {node.value!r}", node) from None

    def name(self, node: yaml.Node, what: str) -> str:
        """A non-empty name (text, or an integer written without quotes)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "null":
            raise self.err(f"{what} is empty", node, hint="write a name after the colon")
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise self.err(f"{what} must be a name, got {node.value!r}", node, hint="quote it if it is meant as text")
        return str(value)

    def string(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.err(f"{what} must be text", node)
        return str(node.value)

    def number(self, node: yaml.Node, what: str) -> float:
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.err(f"{what} must be a number, got {node.value!r}", node)
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f) or abs(f) > 1e300:
            raise self.err(f"{what} must be a finite number, got {node.value!r}", node)
        return f

    def integer(self, node: yaml.Node, what: str) -> int:
        """A whole number written as one (``1.5`` and ``2.0`` are refused, never truncated)."""
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.err(f"{what} must be a whole number, got {node.value!r}", node)
        return value

    def interval(self, node: yaml.Node, what: str) -> tuple[float, float]:
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 2:
            raise self.err(f"{what} must be a list [low, high]", node)
        low = self.number(node.value[0], f"{what}'s low end")
        high = self.number(node.value[1], f"{what}'s high end")
        if low > high:
            raise self.err(f"{what} is empty: [{low}, {high}]", node, hint="low must not exceed high")
        return low, high

    def expr(self, node: yaml.Node, what: str) -> SExpr:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            return parse_spec_expr("true" if self.scalar(node, what) else "false", self.path, 1, 1)
        text = self.string(node, what)
        line = node.start_mark.line + 1
        col = node.start_mark.column + 1 + (1 if node.style in ("'", '"') else 0)
        if node.style in ("|", ">") or "\n" in text:
            # block scalars start on the next line; report the first line of the block
            text = " ".join(text.split())
            line += 1 if node.style in ("|", ">") else 0
        return parse_spec_expr(text, self.path, line, col)

    def load(self) -> Spec:
        root = compose_user_yaml(self.text, self.path, "spec", SpecError)
        if root is None:
            raise SpecError("empty spec file", Location(self.path, 1, 1), hint="a spec needs 'spec:' and 'properties:'")
        name = ""
        description = ""
        domains: dict[str, tuple[float, float]] = {}
        state: dict[str, tuple[float, float]] = {}
        props: list[Property] = []
        timeout = None
        locations: dict[str, Location] = {}
        props_node = None
        for key, knode, value in self.mapping(root, "a spec"):
            if key not in _TOP_KEYS:
                raise self.err(f"unknown key {key!r}", knode, hint=f"keys: {', '.join(sorted(_TOP_KEYS))}")
            if key == "spec":
                name = self.name(value, "the spec's name")
            elif key == "description":
                description = self.string(value, "description")
            elif key == "timeout":
                timeout = self.number(value, "timeout")
                if timeout <= 0:
                    raise self.err("timeout must be positive", value)
            elif key in ("observations", "state"):
                target = domains if key == "observations" else state
                if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
                    continue
                for n, nnode, iv in self.mapping(value, key):
                    target[n] = self.interval(iv, f"the range of {n!r}")
                    locations[f"{key}.{n}"] = self.loc(nnode)
            else:
                props_node = value
        if props_node is None:
            raise SpecError("the spec has no 'properties:'", Location(self.path, 1, 1), hint="list at least one property")
        if not isinstance(props_node, yaml.SequenceNode) or not props_node.value:
            raise self.err("'properties' must be a non-empty list", props_node)
        seen: set[str] = set()
        closed: list[ClosedLoopProperty] = []
        for pnode in props_node.value:
            prop: Property | ClosedLoopProperty
            if closed_loop_kind(pnode):
                self.check_id(pnode)
                prop = parse_closed_loop(self, pnode)
                closed.append(prop)
            else:
                prop = self.prop(pnode)
                props.append(prop)
            if prop.id in seen:
                raise self.err(f"duplicate property id {prop.id!r}", pnode, hint="ids must be unique")
            seen.add(prop.id)
        return Spec(
            name or Path(self.path).stem, self.path, tuple(props), description, domains, state, timeout, locations,
            tuple(closed),
        )

    def check_id(self, node: yaml.Node) -> None:
        """Refuse an empty or non-name ``id`` of a property mapping at its line."""
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "id":
                    self.name(v, "the property's id")

    def prop(self, node: yaml.Node) -> Property:
        entries = self.mapping(node, "a property")
        keys = {k: (kn, v) for k, kn, v in entries}
        if "id" not in keys:
            raise self.err("a property needs an 'id'", node)
        pid = self.name(keys["id"][1], "the property's id")
        if not _ID.match(pid):
            raise self.err(f"bad property id {pid!r}", keys["id"][1], hint="letters, digits, '_', '-', '.'; start with a letter")
        if "kind" not in keys:
            raise self.err(f"property {pid!r} needs a 'kind'", node, hint=f"kinds: {', '.join(KINDS)}")
        kind = self.string(keys["kind"][1], "kind")
        if kind not in KINDS:
            raise self.err(f"unknown kind {kind!r}", keys["kind"][1], hint=f"kinds: {', '.join(KINDS)}")
        for k, (kn, _) in keys.items():
            if k not in _PROP_KEYS[kind]:
                raise self.err(f"unknown key {k!r} for a {kind} property", kn, hint=f"keys: {', '.join(sorted(_PROP_KEYS[kind]))}")
        line = node.start_mark.line + 1
        locs = {k: self.loc(v) for k, (_, v) in keys.items()}
        common: dict[str, Any] = {"id": pid, "kind": kind, "line": line, "locations": locs}
        if "description" in keys:
            common["description"] = self.string(keys["description"][1], "description")
        if "timeout" in keys:
            t = self.number(keys["timeout"][1], "timeout")
            if t <= 0:
                raise self.err("timeout must be positive", keys["timeout"][1])
            common["timeout_s"] = t
        when = self.expr(keys["when"][1], "when") if "when" in keys else None
        if kind == "bounds":
            if "action" not in keys:
                raise self.err(f"bounds property {pid!r} needs 'action'", node)
            action = self.string(keys["action"][1], "action")
            if ("range" in keys) == ("allowed" in keys):
                raise self.err(f"bounds property {pid!r} needs exactly one of 'range' or 'allowed'", node)
            if "range" in keys:
                low, high = self.interval(keys["range"][1], "range")
                return Property(**common, when=when, action=action, low=low, high=high)
            anode = keys["allowed"][1]
            if not isinstance(anode, yaml.SequenceNode) or not anode.value:
                raise self.err("'allowed' must be a non-empty list of labels", anode)
            allowed = tuple(self.name(a, "a label") for a in anode.value)
            return Property(**common, when=when, action=action, allowed=allowed)
        if "require" not in keys:
            raise self.err(f"{kind} property {pid!r} needs 'require'", node)
        require = self.expr(keys["require"][1], "require")
        vs = variables(require) + (variables(when) if when is not None else [])
        lags = max((v.lag for v in vs), default=0)
        primed = any(v.copy for v in vs)
        if primed and lags:
            raise self.err("a property is either two-run (x') or history (x[t-k]), not both", node)
        mode = "two-run" if primed else ("history" if lags else "single")
        if kind == "invariant" and mode != "single":
            raise self.err(
                f"invariant {pid!r} refers to other steps or runs", keys["require"][1],
                hint="use kind: smoothness for x[t-k] and x'",
            )
        if kind == "smoothness" and mode == "single":
            raise self.err(
                f"smoothness property {pid!r} compares nothing over time or runs", keys["require"][1],
                hint="use x[t-1] (history) or x' (two runs)",
            )
        window = lags
        if "window" in keys:
            wnode = keys["window"][1]
            window = self.integer(wnode, "window")
            if window > MAX_HISTORY_LAG:
                exc = self.err(
                    limit_message(f"window {window} is longer than {MAX_HISTORY_LAG} steps", "max_history_lag"), wnode
                )
                exc.limit = "max_history_lag"
                raise exc
            if window < lags:
                raise self.err(f"window {window} is shorter than the lags used ({lags})", wnode)
        return Property(**common, when=when, require=require, mode=mode, window=window)


def parse_spec(text: str, path: str = "<string>") -> Spec:
    """Parse spec YAML text."""
    return _Loader(text, path).load()


def load_spec(path: str | Path) -> Spec:
    """Read and parse a spec file; every failure is a SpecError with the path."""
    return parse_spec(read_user_text(path, "spec file", SpecError), str(path))
