"""One unit of work: verify one policy against one spec, in whichever process runs it.

A :class:`PairTask` carries the texts it verifies (read once by the parent, so a file
edited mid-run cannot make the cache key and the verdict disagree), and
:func:`verify_pair` returns plain data — what a process pool or a Ray task can send back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PairTask", "PairOutcome", "verify_pair", "canonical_line_map"]


@dataclass(frozen=True)
class PairTask:
    """What a worker needs to verify one pair; ``index`` orders the results."""

    index: int
    policy_path: str
    policy_text: str
    spec_path: str
    spec_text: str
    timeout_s: float | None = None
    cross_check: bool = False
    solver: str = "z3"


@dataclass(frozen=True)
class PairOutcome:
    """A worker's answer: a record and its canonical lines, or a one-line error."""

    index: int
    record: dict[str, Any] | None
    canonical_lines: dict[str, int]
    error: str | None = None


def canonical_line_map(program: Any) -> dict[int, int]:
    """Source line -> line of the same node in the program's canonical text (printer output)."""
    from saferl.policy.ast import walk
    from saferl.policy.parser import parse_program
    from saferl.policy.printer import format_program

    canonical = parse_program(format_program(program), "<canonical>")

    def nodes(p: Any) -> list[Any]:
        return [p, *p.observations, *p.actions, *walk(p.body)]

    mapping: dict[int, int] = {}
    for ours, theirs in zip(nodes(program), nodes(canonical), strict=False):
        a, b = getattr(ours, "span", None), getattr(theirs, "span", None)
        if a is not None and b is not None and a.line and b.line:
            mapping.setdefault(a.line, b.line)
    return mapping


_SPECS: dict[tuple[str, str], Any] = {}  # per worker process: parsed specs by (path, text)


def _fresh_solver_environment() -> None:
    """A new pySMT environment and z3 context for every pair.

    z3's models (so the counterexamples) depend on what its context and pySMT's formula
    manager built before; fresh ones make a pair's answer the same whichever worker runs
    it after whatever other pairs (process pool, Ray, in-process), and keep memory flat.
    """
    import z3.z3 as z3py
    from pysmt.environment import reset_env

    reset_env()
    if hasattr(z3py, "_main_ctx"):  # z3py has no public reset: it makes a new main context on next use
        z3py._main_ctx = None


def verify_pair(task: PairTask) -> PairOutcome:
    """Verify ``task``; a SaferlError becomes the outcome's one-line ``error``, never an exception."""
    from saferl.errors import SaferlError
    from saferl.policy import parse_policy
    from saferl.policy.ast import Program
    from saferl.spec import parse_spec
    from saferl.verify import VerifyOptions, verify_policy

    _fresh_solver_environment()
    try:
        program = parse_policy(task.policy_text, task.policy_path)
        if not isinstance(program, Program):
            raise SaferlError(f"{task.policy_path} is a gridworld subgoal program; certify it with 'saferl certify'")
        key = (task.spec_path, task.spec_text)
        spec = _SPECS.get(key)
        if spec is None:
            spec = parse_spec(task.spec_text, task.spec_path)
            if len(_SPECS) > 256:
                _SPECS.clear()
            _SPECS[key] = spec
        options = VerifyOptions(timeout_s=task.timeout_s, cross_check=task.cross_check, solver=task.solver)
        result = verify_policy(program, spec, options, policy_path=task.policy_path)
        record = result.to_record()
        record["spec"] = task.spec_path
        lines = canonical_line_map(program)
        canonical = {p["id"]: lines.get(p["policy_line"], p["policy_line"]) for p in record["properties"]}
        return PairOutcome(task.index, record, canonical)
    except SaferlError as exc:
        return PairOutcome(task.index, None, {}, " ".join(str(exc).split()))
    except RecursionError:
        return PairOutcome(task.index, None, {}, "policy or spec nested too deeply")
    except Exception as exc:  # a crash is never a verdict: it becomes a tool error (exit 2)
        return PairOutcome(task.index, None, {}, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
