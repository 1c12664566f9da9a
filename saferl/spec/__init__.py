"""YAML specs: properties over a policy's observations and actions.

Example:
    >>> spec = parse_spec("properties:\\n  - {id: p1, kind: invariant, when: x > 0, require: a == right}\\n")
    >>> spec.properties[0].id
    'p1'
"""

from saferl.spec.bind import Binding, bind_spec
from saferl.spec.evaluate import eval_sexpr
from saferl.spec.expr import parse_spec_expr
from saferl.spec.load import KINDS, Property, Spec, load_spec, parse_spec

__all__ = ["Spec", "Property", "KINDS", "load_spec", "parse_spec", "parse_spec_expr", "bind_spec", "Binding", "eval_sexpr"]
