"""One unit of work: verify one policy against one spec, in whichever process runs it.

A :class:`PairTask` carries the texts it verifies (read once by the parent, so a file
edited mid-run cannot make the cache key and the verdict disagree), and
:func:`verify_pair` returns plain data — what a process pool or a Ray task can send back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PairTask", "PairOutcome", "verify_pair", "policy_nodes", "line_anchors", "worker_versions"]


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
    """A worker's answer: a record with the anchors of its lines (see :func:`line_anchors`), or a one-line error."""

    index: int
    record: dict[str, Any] | None
    anchors: dict[str, int]
    nodes: int = 0
    error: str | None = None
    versions: dict[str, str] | None = None  # saferl and solvers where it ran (cached only if ours)


def policy_nodes(program: Any) -> list[Any]:
    """The program's nodes in a fixed order: itself, its declarations, then its body in pre-order."""
    from saferl.policy.ast import walk

    return [program, *program.observations, *program.actions, *walk(program.body)]


def line_anchors(nodes: list[Any], record: dict[str, Any]) -> dict[str, int]:
    """Property id -> index in ``nodes`` of the first node on the line the property points at.

    Two files with the same canonical digest have the same nodes in the same order, so an
    anchor finds the line again in a file whose comments or layout moved it.
    """
    first: dict[int, int] = {}
    for i, node in enumerate(nodes):
        span = getattr(node, "span", None)
        if span is not None and span.line:
            first.setdefault(span.line, i)
    return {p["id"]: first[p["policy_line"]] for p in record["properties"] if p["policy_line"] in first}


_VERSIONS: dict[str, str] = {}


def worker_versions() -> dict[str, str]:
    """saferl's and the solvers' versions in this process (a Ray worker may run another install)."""
    if not _VERSIONS:
        from saferl import __version__
        from saferl.check.cache import solver_versions, verifier_fingerprint

        _VERSIONS.update(solver_versions(), saferl=__version__, verifier=verifier_fingerprint())
    return dict(_VERSIONS)


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


def _spec_for(task: PairTask) -> Any:
    """The parsed spec of ``task``, parsed once per process (and before forking, once per worker)."""
    from saferl.spec import parse_spec

    key = (task.spec_path, task.spec_text)
    spec = _SPECS.get(key)
    if spec is None:
        spec = parse_spec(task.spec_text, task.spec_path)
        if len(_SPECS) > 256:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def verify_pair(task: PairTask) -> PairOutcome:
    """Verify ``task``; a SaferlError becomes the outcome's one-line ``error``, never an exception."""
    from saferl.errors import SaferlError
    from saferl.policy import parse_policy
    from saferl.policy.ast import Program
    from saferl.verify import VerifyOptions, verify_policy

    _fresh_solver_environment()
    try:
        program = parse_policy(task.policy_text, task.policy_path)
        if not isinstance(program, Program):
            raise SaferlError(f"{task.policy_path} is a gridworld subgoal program; certify it with 'saferl certify'")
        spec = _spec_for(task)
        options = VerifyOptions(timeout_s=task.timeout_s, cross_check=task.cross_check, solver=task.solver)
        result = verify_policy(program, spec, options, policy_path=task.policy_path)
        record = result.to_record()
        record["spec"] = task.spec_path
        nodes = policy_nodes(program)
        return PairOutcome(task.index, record, line_anchors(nodes, record), len(nodes), versions=worker_versions())
    except SaferlError as exc:
        return PairOutcome(task.index, None, {}, error=" ".join(str(exc).split()))
    except RecursionError:
        return PairOutcome(task.index, None, {}, error="policy or spec nested too deeply")
    except Exception as exc:  # a crash is never a verdict: it becomes a tool error (exit 2)
        return PairOutcome(task.index, None, {}, error=f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
