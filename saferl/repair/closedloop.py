"""Repair against closed-loop properties (``kind: safety`` / ``reach`` over a dynamics model).

A closed-loop counterexample is a trajectory; the per-state repair engine works on points.
The bridge, a counterexample-guided loop one level up::

    pins := {}
    repeat:
        check every closed-loop property of the candidate (saferl.closedloop: falsify, prove)
        all SAFE: done (the candidate is re-verified by the closed-loop engine: that is the gate)
        UNSAFE: the replayed trajectory gives repair points — states on it where another
                action, then the policy, stays safe past the violation — each one a pin
                "at these observations, this action"
        candidate := repair_policy(original, per-state properties + every pin so far)

Every round repairs the *original* against all pins found so far (the smallest change that
fixes every state the loop has learnt about).  UNKNOWN closed-loop verdicts end the loop
(not repaired: nothing to learn from, nothing proved).

Example::

    result = repair_closed_loop(load_policy("broken.pol"), load_spec("specs/closedloop/cartpole.yaml"))
    result.status, result.rounds        # ('repaired', 2)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from saferl.closedloop.engine import ClosedLoopOptions, check_property
from saferl.closedloop.repairpoints import RepairPoint, repair_points
from saferl.errors import InputError
from saferl.policy import format_policy, parse_policy
from saferl.policy.ast import Program
from saferl.repair.engine import RepairOptions, repair_policy
from saferl.repair.result import RepairResult
from saferl.results import PropertyResult, Verdict
from saferl.spec.load import Spec, parse_spec

__all__ = ["ClosedLoopRepairResult", "repair_closed_loop", "pin_properties", "render_text"]

#: rounds of (closed-loop check, per-state repair) at most
MAX_ROUNDS = 8
#: repair points taken from one counterexample
POINTS_PER_TRAJECTORY = 4


@dataclass(frozen=True)
class ClosedLoopRepairResult:
    """How a closed-loop repair ended: ``status`` as :data:`saferl.repair.result.STATUSES`.

    ``closed_loop`` holds the last closed-loop verdicts (of the returned policy when
    repaired: every one SAFE); ``pins`` the repair points imposed; ``per_state`` the last
    per-state repair (its changes, its proof of the pins and of the spec's own properties).
    """

    status: str
    policy_name: str
    policy_text: str
    rounds: int
    pins: tuple[RepairPoint, ...]
    closed_loop: tuple[PropertyResult, ...]
    per_state: RepairResult | None
    reason: str
    time_s: float
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_record(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "policy_name": self.policy_name,
            "rounds": self.rounds,
            "reason": self.reason,
            "time_s": round(self.time_s, 3),
            "closed_loop": [r.to_record() for r in self.closed_loop],
            "pins": [p.to_record() for p in self.pins],
            "changes": [c.to_record() for c in self.per_state.changes] if self.per_state is not None else [],
            "history": list(self.history),
            "policy": self.policy_text if self.status in ("repaired", "already-safe") else None,
        }


def _action_text(program: Program, value: float) -> str:
    decl = program.actions[0]
    if decl.kind == "discrete":
        for label, v in decl.labels:
            if v == int(value):
                return f"{decl.name} == {label}"
        raise InputError(f"action value {value} has no label in {program.name!r}")
    return f"{decl.name} == {float(value)!r}"


def pin_properties(program: Program, pins: list[RepairPoint], prefix: str = "closed-loop-pin") -> str:
    """The pins as ``invariant`` properties (YAML list items): at exactly these float32
    observations, the alternative action."""
    lines = []
    for i, p in enumerate(pins):
        when = " and ".join(f"{name} == {float(v)!r}" for name, v in p.observations.items())
        lines.append(f"  - id: {prefix}-{i + 1}\n    kind: invariant\n    when: {when}\n"
                     f"    require: {_action_text(program, p.alternative)}\n")
    return "".join(lines)


def _pinned_spec(spec: Spec, program: Program, pins: list[RepairPoint]) -> Spec:
    if not pins:
        return replace(spec, closed_loop=())
    pinned = parse_spec("properties:\n" + pin_properties(program, pins), "<closed-loop repair points>")
    return replace(spec, properties=tuple(spec.properties) + pinned.properties, closed_loop=())


def repair_closed_loop(
    program: Program, spec: Spec, options: RepairOptions | None = None, *, policy_path: str = "<policy>",
    source_text: str | None = None, max_rounds: int = MAX_ROUNDS,
) -> ClosedLoopRepairResult:
    """Repair ``program`` until every closed-loop property of ``spec`` (and every per-state
    one) is proved; the returned policy's closed-loop verdicts are the closed-loop engine's."""
    if not spec.closed_loop:
        raise InputError(f"spec {spec.name!r} has no closed-loop property")
    opts = options or RepairOptions()
    start = time.perf_counter()
    deadline = start + opts.timeout_s
    text0 = format_policy(program)
    current, current_text = program, source_text if source_text is not None else text0
    pins: list[RepairPoint] = []
    seen: set[tuple[float, ...]] = set()
    per_state: RepairResult | None = None
    history: list[dict[str, Any]] = []
    results: list[PropertyResult] = []

    def end(status: str, reason: str, rounds: int) -> ClosedLoopRepairResult:
        text = current_text if status in ("repaired", "already-safe") else text0
        return ClosedLoopRepairResult(status, program.name, text, rounds, tuple(pins), tuple(results), per_state,
                                      reason, time.perf_counter() - start, tuple(history))

    for rnd in range(max_rounds + 1):
        outs = []
        for prop in spec.closed_loop:
            left = deadline - time.perf_counter()
            if left <= 0:
                return end("not-repaired", "budget exhausted while checking the closed loop", rnd)
            budget = min(left, prop.timeout_s) if prop.timeout_s else left
            outs.append((prop, check_property(current, prop, ClosedLoopOptions(timeout_s=budget), policy_path=policy_path)))
        results = [o.result for _, o in outs]
        history.append({"round": rnd, "verdicts": {p.id: o.result.verdict.value for p, o in outs}, "pins": len(pins)})
        unsafe = [(p, o) for p, o in outs if o.result.verdict is Verdict.UNSAFE]
        if not unsafe:
            undecided = [o.result for _, o in outs if o.result.verdict is not Verdict.SAFE]
            if undecided:
                return end("not-repaired", f"the closed-loop engine could not decide {undecided[0].property_id!r} "
                           f"({undecided[0].message})", rnd)
            if rnd > 0:
                return end("repaired", f"every closed-loop property proved after {rnd} round(s) of repair", rnd)
            if not spec.properties or _per_state_safe(program, spec):
                return end("already-safe", "every property is already proved", 0)
        if rnd == max_rounds:
            why = unsafe[0][1].result.message if unsafe else "the per-state properties are not proved"
            return end("not-repaired", f"still not proved after {max_rounds} rounds ({why})", rnd)
        new = 0
        for prop, out in unsafe:  # (none in round 0 when only the per-state properties fail)
            if out.trajectory is None:
                continue
            for pt in repair_points(current, prop, out.trajectory, limit=POINTS_PER_TRAJECTORY):
                key = tuple(pt.observations.values())
                if key not in seen:
                    seen.add(key)
                    pins.append(pt)
                    new += 1
        if unsafe and not new:
            return end("not-repaired", "no state on the counterexample where another action keeps the property "
                       f"({unsafe[0][1].result.message})", rnd)
        left = deadline - time.perf_counter()
        if left <= 1.0:
            return end("not-repaired", "budget exhausted before the per-state repair", rnd)
        per_state = repair_policy(program, _pinned_spec(spec, program, pins), replace(opts, timeout_s=left),
                                  policy_path=policy_path, source_text=source_text)
        if per_state.status not in ("repaired", "already-safe"):
            # 'unrepairable' there is about the pins, which are a choice, not a proof about the spec
            return end("not-repaired", f"the per-state repair failed ({per_state.status}): {per_state.reason}", rnd + 1)
        current_text = per_state.policy_text
        current = parse_policy(current_text, policy_path)
    return end("not-repaired", "the per-state properties are not proved", 0)  # unreachable: the loop returns


def _per_state_safe(program: Program, spec: Spec) -> bool:
    from saferl.verify import verify_policy

    return verify_policy(program, replace(spec, closed_loop=())).verdict is Verdict.SAFE


def render_text(result: ClosedLoopRepairResult, policy: str, output: str | None) -> str:
    """The report of ``saferl repair`` for a closed-loop spec."""
    head = {"repaired": "repaired", "already-safe": "already safe"}.get(result.status, "not repaired")
    lines = [f"{head}: {policy} ({result.reason}; {result.rounds} round(s), {len(result.pins)} repair point(s), "
             f"{result.time_s:.1f} s)"]
    for r in result.closed_loop:
        lines.append(f"  {r.property_id}: {r.verdict.value} — {r.message}")
    if result.per_state is not None and result.status == "repaired":
        for c in result.per_state.changes:
            lines.append(f"  line {c.old_line}: {c.old_text.strip()}  ->  {c.new_text.strip()}")
    for p in result.pins[:5]:
        obs = ", ".join(f"{k}={v:.6g}" for k, v in p.observations.items())
        lines.append(f"  pin (step {p.step} of a counterexample): {obs} -> action {p.alternative:g}")
    if len(result.pins) > 5:
        lines.append(f"  ... {len(result.pins) - 5} more repair points")
    if output:
        lines.append(f"written to {output}")
    return "\n".join(lines) + "\n"
