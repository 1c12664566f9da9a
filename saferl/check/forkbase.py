"""A pristine process that forks one child per pair, so that no pair sees what z3 did before.

z3 keeps process-wide state that a fresh context does not reset (its symbol table, its
allocator), and its models — the counterexamples saferl reports — depend on it.  A pair
verified in a worker that verified other pairs before, or in a Ray worker whose heap looks
nothing like a pool worker's, can get another (equally valid) counterexample.  So every
backend worker starts one *fork base*: a fresh interpreter with a fixed environment that
imports the verifier and then, for each pair, forks a child that reads the task, verifies
it and answers.  The base itself never touches a task, so every child starts from the same
state, whichever backend, worker or history: the same pair gets the same counterexample.

Protocol on the base's stdin/stdout: frames of an 8-byte big-endian length and a pickle —
:class:`~saferl.check.task.PairTask` in, ``("ok", PairOutcome)`` or ``("died", status)`` out.
The pickles travel only between this process and its own children.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from saferl.check.task import PairOutcome, PairTask, verify_pair

__all__ = ["ForkBase", "serve", "verify_pair_isolated", "close_isolation", "ISOLATION"]

_HEADER = 8
_EOF_EXIT = 3


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _frame(obj: Any) -> bytes:
    payload = pickle.dumps(obj)
    return len(payload).to_bytes(_HEADER, "big") + payload


def _child(out_fd: int) -> None:  # pragma: no cover - runs in a forked child
    code = 1
    try:
        header = _read_exact(0, _HEADER)
        if len(header) < _HEADER:
            code = _EOF_EXIT
            return
        task = pickle.loads(_read_exact(0, int.from_bytes(header, "big")))  # from our parent
        _write_all(out_fd, _frame(("ok", verify_pair(task))))
        code = 0
    finally:
        os._exit(code)


def serve() -> None:  # pragma: no cover - runs in the base process
    """The base's main loop: preload the verifier, then fork a child per task until stdin ends."""
    import saferl.verify  # noqa: F401 - preloaded, so children do not import it again

    out_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt the answers
    while True:
        pid = os.fork()
        if pid == 0:
            _child(out_fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            continue
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EOF_EXIT:
            return
        _write_all(out_fd, _frame(("died", status)))


def _environment() -> dict[str, str]:
    """A fixed environment, so that the base starts the same under any backend."""
    package_root = str(Path(__file__).resolve().parents[2])
    return {"PYTHONPATH": package_root, "PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8", "PATH": os.defpath}


class ForkBase:
    """The driver's side: start the base on first use, send tasks, read answers."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Any = None

    def _start(self) -> subprocess.Popen[bytes]:
        self.close()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from saferl.check.forkbase import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env=_environment(), cwd="/", close_fds=True,
        )
        return self.proc

    def _failure(self) -> str:
        why = "the verifying process stopped"
        if self.log is not None:
            self.log.seek(0)
            lines = [ln for ln in self.log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            if lines:
                why += f": {lines[-1].strip()[:300]}"
        self.close()
        return why

    def run(self, task: Any) -> tuple[str, Any]:
        """Verify ``task`` in a fresh child of the base: ("ok", PairOutcome), ("died", status) or ("error", why)."""
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        if proc.stdin is None or proc.stdout is None:
            return ("error", "the verifier process has no pipes")
        try:
            proc.stdin.write(_frame(task))
            proc.stdin.flush()
            header = proc.stdout.read(_HEADER)
            if len(header) < _HEADER:
                return "error", self._failure()
            payload = proc.stdout.read(int.from_bytes(header, "big"))
            answer = pickle.loads(payload)  # from the base we started
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return "error", self._failure()
        if not (isinstance(answer, tuple) and len(answer) == 2):
            return "error", self._failure()
        return answer[0], answer[1]

    def close(self) -> None:
        """Stop the base (it also stops by itself when this process goes away)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.log is not None:
            self.log.close()
            self.log = None


#: how :func:`verify_pair_isolated` runs a pair: "base" (a child of a pristine fork base,
#: see :mod:`saferl.check.forkbase`) or "inline" (in this process: for tests that patch it)
ISOLATION = "base"
_BASE: Any = None


def verify_pair_isolated(task: PairTask) -> PairOutcome:
    """:func:`verify_pair` in a child of this process's fork base; the same answer anywhere.

    Every pair starts from the same pristine state, so its counterexample does not depend
    on the backend, the worker or what ran before (see :mod:`saferl.check.forkbase`).
    Without ``os.fork``, or with :data:`ISOLATION` ``"inline"``, the pair runs here.
    """
    global _BASE
    if ISOLATION == "inline" or not hasattr(os, "fork"):
        return verify_pair(task)
    if _BASE is None:
        _BASE = ForkBase()
    status, value = _BASE.run(task)
    if status == "ok" and isinstance(value, PairOutcome):
        return value
    if status == "died":
        why = f"signal {os.WTERMSIG(value)}" if os.WIFSIGNALED(value) else f"exit status {os.waitstatus_to_exitcode(value)}"
        return PairOutcome(task.index, None, {}, error=f"internal error: the process verifying this pair died ({why})")
    return PairOutcome(task.index, None, {}, error=f"internal error: {value}")


def close_isolation() -> None:
    """Stop this process's fork base, if one was started."""
    global _BASE
    if _BASE is not None:
        _BASE.close()
        _BASE = None
