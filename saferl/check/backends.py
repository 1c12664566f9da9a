"""Where pairs are verified: in this process, in a local process pool, or as Ray tasks.

Every backend runs :func:`saferl.check.forkbase.verify_pair_isolated` on each task (a child of
a pristine fork base per pair, :mod:`saferl.check.forkbase`) and returns the outcomes in
task order: a verdict or counterexample never depends on the backend.  Ray is imported only
when ``backend="ray"`` is asked for (it is the optional ``ray`` extra).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

from saferl.check.forkbase import close_isolation, verify_pair_isolated
from saferl.check.task import PairOutcome, PairTask
from saferl.errors import InputError, MissingDependencyError

__all__ = ["BACKENDS", "run_tasks", "default_jobs", "prepare_backend"]

BACKENDS = ("process", "ray")


def default_jobs() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def prepare_backend(backend: str, ray_address: str | None = None) -> None:
    """Check up front that ``backend`` can run: Ray installed, its cluster (if named) answering.

    Raises MissingDependencyError or InputError — also when every verdict will come from
    the cache, so that a broken gate configuration does not hide behind a warm cache.
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if backend != "ray":
        return
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise MissingDependencyError("ray", "ray")
    target = ray_address or os.environ.get("RAY_ADDRESS") or None
    if target:
        _probe(target)


def run_tasks(
    tasks: Sequence[PairTask], *, jobs: int, backend: str = "process", ray_address: str | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[PairOutcome]:
    """Verify every task on ``backend`` with ``jobs`` workers; outcomes in task order.

    ``on_done(n)`` is called with the number of tasks finished so far (for a progress bar)."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; backends: {', '.join(BACKENDS)}")
    if not tasks:
        return []
    done = on_done or (lambda n: None)
    if backend == "ray":
        outcomes = _run_ray(tasks, jobs, ray_address)
        done(len(outcomes))
    elif jobs <= 1 or len(tasks) == 1:
        outcomes = []
        try:
            for t in tasks:
                outcomes.append(verify_pair_isolated(t))
                done(len(outcomes))
        finally:
            close_isolation()
    else:
        outcomes = _run_pool(tasks, jobs, done)
    return sorted(outcomes, key=lambda o: o.index)


def _pool_worker_init() -> None:
    """In each pool worker: stop its fork base when the worker exits (no orphan, CPU accounted)."""
    from multiprocessing import util

    util.Finalize(None, close_isolation, exitpriority=10)


def _run_pool(tasks: Sequence[PairTask], jobs: int, done: Callable[[int], None]) -> list[PairOutcome]:
    from concurrent.futures import ProcessPoolExecutor

    # fork is cheapest where it is safe (Linux, no threads in the parent yet); else the default
    method = "fork" if sys.platform.startswith("linux") else None
    context = multiprocessing.get_context(method)
    workers = min(jobs, len(tasks))
    # chunks amortise the pickling round trip; several per worker keep the load balanced
    chunk = max(1, len(tasks) // (workers * 8))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_pool_worker_init) as pool:
        outcomes: list[PairOutcome] = []
        for outcome in pool.map(verify_pair_isolated, tasks, chunksize=chunk):
            outcomes.append(outcome)
            done(len(outcomes))
        return outcomes


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast (InputError) when ``host:port`` does not accept a connection; Ray itself waits minutes."""
    import socket

    target = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        if address in ("auto", "local"):
            return
        raise InputError(f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise InputError(f"the Ray cluster at {address} does not answer: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to a scratch file while Ray connects.

    Ray's C++ core logs each failed connection attempt straight to fd 2; a failure is
    reported as one line by the caller instead.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded, captured): nothing to silence
        yield
        return
    try:
        with tempfile.TemporaryFile() as scratch:
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _run_ray(tasks: Sequence[PairTask], jobs: int, address: str | None) -> list[PairOutcome]:
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "ray") from None
    target = address or os.environ.get("RAY_ADDRESS") or None
    started_here = False
    if not ray.is_initialized():
        if target:
            _probe(target)
        try:
            if target:
                with _native_stderr_silenced():
                    ray.init(address=target, log_to_driver=False, logging_level=logging.ERROR)
            else:
                ray.init(
                    address="local", num_cpus=jobs, include_dashboard=False,
                    log_to_driver=False, logging_level=logging.ERROR,
                )
        except Exception as exc:  # ray raises ConnectionError, RuntimeError, ValueError ...
            where = f"at {target}" if target else "(local)"
            hint = None
            if target and "RAY_AUTH_MODE" not in os.environ:
                hint = "a cluster with token authentication needs RAY_AUTH_MODE=token and its token"
            raise InputError(
                f"cannot start or reach the Ray cluster {where}: {' '.join(str(exc).split())[:300]}", hint=hint
            ) from None
        started_here = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(verify_pair_isolated)
        return list(ray.get([remote.remote(t) for t in tasks]))
    finally:
        if started_here:
            ray.shutdown()
