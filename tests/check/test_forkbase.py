"""The fork base: one pristine process per backend worker, a child per pair."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from saferl.check.forkbase import ForkBase
from saferl.check.task import PairOutcome, PairTask


class NotImportableThere:
    """A task the base's children cannot unpickle (this test module is not on their path)."""


def _task(root: Path, policy: str) -> PairTask:
    spec = root / "specs/cartpole/pole_follow.yaml"
    return PairTask(0, policy, (root / policy).read_text(), "specs/cartpole/pole_follow.yaml", spec.read_text())


def test_answers_survive_a_killed_base_and_a_dead_child(root: Path) -> None:
    base = ForkBase()
    try:
        status, first = base.run(_task(root, "policies/cartpole/worst.pol"))
        assert status == "ok" and isinstance(first, PairOutcome) and first.record is not None
        assert first.record["verdict"] == "UNSAFE"
        status, value = base.run(NotImportableThere())
        assert status == "died" and os.WIFEXITED(value) and os.WEXITSTATUS(value) == 1
        assert base.proc is not None
        os.kill(base.proc.pid, signal.SIGKILL)
        base.proc.wait()
        status, again = base.run(_task(root, "policies/cartpole/worst.pol"))  # a new base starts
        assert status == "ok" and again.record is not None
        assert [(p["id"], p["verdict"], p["counterexample"]) for p in again.record["properties"]] == [
            (p["id"], p["verdict"], p["counterexample"]) for p in first.record["properties"]
        ]
    finally:
        proc = base.proc
        base.close()
    assert base.proc is None and (proc is None or proc.poll() is not None)
