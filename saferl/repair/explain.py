"""Turning the winning repair (or the failure) into a :class:`RepairResult`'s parts:
the text handed back, the diff old -> new, and the explanation when nothing worked."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from saferl.policy import format_policy, parse_policy
from saferl.policy.ast import Assign, Program, walk
from saferl.repair.points import Point
from saferl.repair.result import Edit, ParamChange, RepairResult, Witness
from saferl.repair.shapes import _Outcome, _Shape

if TYPE_CHECKING:
    from saferl.repair.engine import _Repairer

__all__ = ["_output_text", "_diff", "_unrepairable", "_forcing_points", "_assign_lines"]


def _assign_lines(program: Program) -> list[int]:
    return [n.span.line for n in walk(program.body) if isinstance(n, Assign)]


def _forcing_points(r: _Repairer, best: _Outcome) -> list[Point]:
    """The counterexamples that forced the change: the original's, then later ones (at most 12)."""
    return r.points[:12]


def _output_text(r: _Repairer, best: _Outcome, final: Program) -> tuple[str, Program]:
    """The repaired policy as the user's own text patched (when that is exact), else canonical."""
    from saferl.repair.patch import patch_source

    canonical_text = format_policy(final)
    blocks: dict[int, str] = {}
    if best.shape.kind != "parametric":
        lines_new = canonical_text.splitlines()
        new = sorted({p.span.line for p in final.parameters() if best.shape.origin.get(p.id) is None})
        # the top-level blocks the edits made, in order: one per replaced leaf (else give up)
        spans: list[tuple[int, int]] = []
        for line in new:
            if spans and line <= spans[-1][1]:
                continue
            spans.append((line, _block_end(lines_new, line - 1)))
        leaves = sorted(_leaf_lines_of(best.shape))
        canon_lines, user_lines = _assign_lines(r.p0), _assign_lines(r.user)
        if len(spans) != len(leaves) or any(ln not in canon_lines for ln in leaves):
            return canonical_text, final
        for ln, (first, end) in zip(leaves, spans, strict=True):
            blocks[user_lines[canon_lines.index(ln)]] = "\n".join(lines_new[first - 1: end])
    patched = patch_source(r.source_text, r.user, final, best.shape.origin, blocks)
    if patched is None:
        return canonical_text, final
    return patched, parse_policy(patched, "<repaired>")


def _diff(r: _Repairer, best: _Outcome, final: Program, text: str) -> tuple[list[ParamChange], list[Edit]]:
    user_params = r.user.parameters()
    final_params = final.parameters()
    lines_new = text.splitlines()
    changes: list[ParamChange] = []
    for k, o in best.shape.origin.items():
        if o is None:
            continue
        old = user_params[o]
        new = final_params[k]
        if old.value != new.value:
            changes.append(ParamChange(
                old.kind, old.value, new.value, old.span.line, new.span.line, old.action,
                _line_text(r, old.span.line), lines_new[new.span.line - 1].rstrip() if new.span.line else "",
            ))
    edits: list[Edit] = []
    if best.shape.kind != "parametric":
        # map canonical-original leaf lines to the user's file through assignment order
        canon_lines = _assign_lines(r.p0)
        user_lines_a = _assign_lines(r.user)
        lo_hi = [p.span.line for p in final_params if best.shape.origin.get(p.id) is None]
        new_lines = (min(lo_hi), max(lo_hi)) if lo_hi else (0, 0)
        end = _block_end(lines_new, new_lines[0] - 1) if lo_hi else 0
        leaves = [int(x) for x in _leaf_lines_of(best.shape)]
        for ln in leaves:
            user_ln = user_lines_a[canon_lines.index(ln)] if ln in canon_lines else ln
            edits.append(Edit(
                best.shape.kind, user_ln, (new_lines[0], end or new_lines[1]), _line_text(r, user_ln),
                "\n".join(lines_new[new_lines[0] - 1: (end or new_lines[1])]),
            ))
    return changes, edits


def _leaf_lines_of(shape: _Shape) -> list[int]:
    """Canonical lines of the leaves the shape's edits replaced."""
    return list(shape.leaves) or [shape.leaf_line]


def _block_end(lines: list[str], first: int) -> int:
    """The 1-based line closing the ``if`` that starts at 0-based index ``first``."""
    depth = 0
    for i in range(first, len(lines)):
        depth += lines[i].count("{") - lines[i].count("}")
        if depth <= 0 and i > first:
            return i + 1
    return first + 1


def _line_text(r: _Repairer, line: int) -> str:
    lines = r.source_text.splitlines()
    return lines[line - 1].rstrip() if 0 < line <= len(lines) else ""


def _unrepairable(
    r: _Repairer, original: Any, failures: list[_Outcome], returns: dict[str, float], elapsed: float,
    unknown0: list[str],
) -> RepairResult:
    from saferl.repair.conflict import spec_conflict

    witnesses: list[Witness] = []
    reasons: list[str] = []
    conflict = r.conflict
    spare = r.end - time.perf_counter()  # what the budget leaves for this explanation
    if conflict is None and spare > 0.1:
        conflict = spec_conflict(r.p0, r.spec, min(max(1.0, r.solver_timeout()), spare))
    if conflict is not None:
        w, props = conflict
        witnesses.append(w)
        reasons.append(
            f"the spec itself conflicts: at {w.describe().split(' at ', 1)[1]} no action satisfies "
            f"{' and '.join(props)} together, so no policy of any shape can be repaired"
        )
    core: list[Point] = []
    for f in failures:
        if f.status == "unsat" and f.core:
            core = f.core
            break
    if core:
        core_props = sorted({p.property_id for p in core})
        reasons.append(
            f"no parameter values of the policy's shape satisfy {len(core)} counterexample(s) of "
            f"{', '.join(core_props)} together"
        )
        witnesses += [p.witness(r.p0) for p in core[:12]]
    tried = list(r.attempts)
    # "unrepairable" only where the constraint problem proves it: the spec conflicts, or the
    # search ran to its end and the parameters' problem is unsat; a search cut short by the
    # budget (or left undecided) is "not repaired" and says what was tried
    cut = r.budget_cut() or any(f.status == "budget" for f in failures)
    status = "unrepairable" if conflict is not None or (core and not cut) else "not-repaired"
    if status == "not-repaired":
        if r.budget_cut():
            head = f"budget exhausted after {elapsed:.1f} s of {r.opts.timeout_s:g} s"
        elif cut:
            head = "budget exhausted: " + next(f.detail for f in failures if f.status == "budget")
        else:
            last = failures[-1] if failures else None
            head = last.detail if last is not None and last.detail else "no repair found"
        shown = "; ".join(f"{a.shape}: {a.outcome}" for a in tried[:6])
        more = f" and {len(tried) - 6} more" if len(tried) > 6 else ""
        reasons = [head, *reasons, f"tried {shown}{more}" if tried else "nothing tried"]
    elif len(tried) > 1:
        reasons.append(f"{len(tried) - 1} structural edit(s) tried, none verified")
    if unknown0:
        reasons.append(f"could not decide {', '.join(unknown0)} on the original policy within the time limit")
    kind = "conflicting"
    if not witnesses:
        witnesses = [p.witness(r.p0) for p in r.points[:12]]
        kind = "open"
    elapsed = max(elapsed, time.perf_counter() - r.start)
    return RepairResult(
        status, r.user.name, format_policy(r.user), original, (), (), tuple(witnesses), tuple(r.attempts),
        r.iterations, elapsed, reason="; ".join(reasons), returns=returns,
        behaviour_states=len(r.visited) if r.visited else 0, original_verdict=original.verdict,
        witness_kind=kind,
    )
