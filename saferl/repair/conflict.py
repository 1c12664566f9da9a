"""Is the spec itself unsatisfiable somewhere?  Then no policy of any shape can be repaired.

For policies whose actions are all discrete, a point where every combination of action
labels violates some single-step property is a proof that the properties conflict: it is
reported with the properties involved, and explains an unrepairable result exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from pysmt.fnode import FNode
from pysmt.shortcuts import And, Or

from saferl.policy.ast import Assign, Label, Program
from saferl.repair.result import Witness
from saferl.smt.encode import ProgramEncoder
from saferl.smt.props import encode_property
from saferl.spec.bind import bind_spec
from saferl.spec.load import Spec

__all__ = ["spec_conflict"]

MAX_COMBOS = 64


def spec_conflict(
    program: Program, spec: Spec, timeout_s: float = 5.0, deadline: float | None = None,
) -> tuple[Witness, tuple[str, ...]] | None:
    """A point where no action satisfies every single-step property, with those properties
    (``timeout_s`` nominal seconds of solver work, :mod:`saferl.smt.work`)."""
    from saferl.repair.points import is_linear, solve_fresh
    from saferl.smt.solve import solve
    from saferl.smt.work import wall_limit
    from saferl.verify import decode

    if not program.actions or any(a.kind != "discrete" or not a.labels for a in program.actions):
        return None
    props = [p for p in spec.properties if p.kind != "smoothness"]
    if not props:
        return None
    combos = list(itertools.product(*[a.labels for a in program.actions]))
    if len(combos) > MAX_COMBOS:
        return None
    per_combo = []
    frame = None
    violations: list[list[tuple[str, FNode]]] = []
    for combo in combos:
        body = tuple(Assign(a.name, Label(lab, val)) for a, (lab, val) in zip(program.actions, combo, strict=True))
        const = replace(program, body=body)
        binding = bind_spec(spec, const)
        forms = []
        for p in props:
            f, frame = encode_property(p, spec, binding, ProgramEncoder(const, rounding=False))
            forms.append((p.id, f))
        violations.append(forms)
        per_combo.append(Or([f for _, f in forms]))
    if frame is None:
        return None
    query = And(per_combo)
    if is_linear(query):  # a context of its own: the same witness run to run
        status, model, _ = solve_fresh(query, frame.free_symbols(), timeout_s, deadline)
    else:
        outcome = solve(query, frame.free_symbols(), "z3", wall_limit(timeout_s, deadline))
        status, model = outcome.status, outcome.model
    if status != "sat" or model is None:
        return None
    values = decode(frame, model, program)
    involved: list[str] = []
    subs = {s: v for s, v in model.items()}
    from saferl.smt.encode import real

    sub_nodes = {s: real(v) for s, v in subs.items()}
    for forms in violations:
        for pid, f in forms:
            if f.substitute(sub_nodes).simplify().is_true() and pid not in involved:
                involved.append(pid)
                break
    obs = {lbl: dict(d) for lbl, d in values.obs.items()}
    return Witness(involved[0] if involved else props[0].id, obs), tuple(involved)
