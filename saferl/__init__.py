"""saferl: verify, repair, distill and shield reinforcement-learning policies.

The public API is curated here and loaded on first use, so ``import saferl`` pulls in no
torch, scikit-learn, typer, rich, gymnasium or solver.

Example:
    >>> import saferl
    >>> policy = saferl.parse_policy('''
    ... policy demo
    ... obs x: float32
    ... act a: discrete {left = 0, right = 1}
    ... if x <= 0 { a = left } else { a = right }
    ... ''')
    >>> saferl.ProgramPolicy(policy).act_dict({"x": 1.0})
    {'a': 1}
    >>> spec = saferl.parse_spec("properties:\\n  - {id: p, kind: invariant, when: x > 0, require: a == right}\\n")
    >>> saferl.verify_policy(policy, spec).verdict
    <Verdict.SAFE: 'SAFE'>
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_API = {
    "parse_policy": "saferl.policy",
    "load_policy": "saferl.policy",
    "format_policy": "saferl.policy",
    "policy_digest": "saferl.policy",
    "ProgramPolicy": "saferl.policy",
    "Program": "saferl.policy",
    "parse_spec": "saferl.spec",
    "load_spec": "saferl.spec",
    "Spec": "saferl.spec",
    "verify_policy": "saferl.verify",
    "VerifyOptions": "saferl.verify",
    "Verdict": "saferl.results",
    "VerifyResult": "saferl.results",
    "PropertyResult": "saferl.results",
    "Counterexample": "saferl.results",
    "evaluate_policy": "saferl.rollout",
    "SaferlError": "saferl.errors",
    "InputError": "saferl.errors",
    "PolicyParseError": "saferl.errors",
    "SpecError": "saferl.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'saferl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
