"""Closed-loop safety and reachability of a policy driving a dynamics model.

For every property: falsification first (vectorized simulation; a violation is replayed in
gymnasium before it is reported UNSAFE), then a proof — a bounded propagation of boxes
split on the policy's tests, or for ``horizon: forever`` an inductive invariant on a grid
of cells (greatest fixpoint) re-checked by an independent certificate check.  Otherwise
UNKNOWN, with the number of steps that were proved.

Example:
    >>> from saferl.policy import parse_policy
    >>> from saferl.spec import parse_spec
    >>> p = parse_policy("policy p\\nobs x: float32\\nobs v: float32\\nact f: continuous [-1, 1]\\n"
    ...                  "if v >= 0 { f = 1 } else { f = -1 }\\n")
    >>> s = parse_spec("properties:\\n  - {id: r, kind: reach, dynamics: MountainCarContinuous-v0,"
    ...                " initial: {position: [-0.55, -0.5]}, eventually: position >= 0.45, within: 300}\\n")
    >>> [r.verdict.value for r in verify_closed_loop(p, s)]
    ['SAFE']
"""

from __future__ import annotations

from saferl.closedloop.engine import ClosedLoopOptions, ClosedLoopOutcome, check_property
from saferl.policy.ast import Program
from saferl.results import PropertyResult
from saferl.spec.load import Spec

__all__ = ["verify_closed_loop", "check_closed_loop", "check_property", "ClosedLoopOptions", "ClosedLoopOutcome"]


def check_closed_loop(
    program: Program, spec: Spec, options: ClosedLoopOptions | None = None, *, policy_path: str = "",
    keep_tube: bool = False,
) -> list[ClosedLoopOutcome]:
    """Every closed-loop property of ``spec``, with what a report or a plot can show."""
    return [check_property(program, prop, options, policy_path=policy_path, keep_tube=keep_tube) for prop in spec.closed_loop]


def verify_closed_loop(
    program: Program, spec: Spec, options: ClosedLoopOptions | None = None, *, policy_path: str = "",
) -> list[PropertyResult]:
    """The verdict on every closed-loop property (``safety`` / ``reach``) of ``spec``.

    UNSAFE results carry a counterexample trajectory replayed in gymnasium (which must be
    installed: the ``learn`` extra); a policy whose observations do not match the model's is
    an :class:`~saferl.errors.InputError`; an invariant whose certificate fails is an
    :class:`~saferl.errors.InternalError` (a tool error, never SAFE).
    """
    return [o.result for o in check_closed_loop(program, spec, options, policy_path=policy_path)]
