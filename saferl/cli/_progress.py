"""One progress bar for the long commands: on stderr, only when stderr is a terminal.

It redraws when the work reports progress (no background thread, so a command may fork).

Commands pass ``enabled=False`` for machine formats (``--format json``), so a bar never
mixes with output meant for a program; on a pipe or a file nothing is written at all and
rich is not even imported.

Example:
    >>> import io
    >>> with progress_bar(io.StringIO(), "distill") as update:   # not a terminal: a no-op
    ...     update(1, 8, "agreement 97%")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Update", "progress_bar"]

Update = Callable[..., None]
"""``update(done, total=None, note="")``: the work done so far, of ``total`` (None: unknown)."""


def _noop(done: float, total: float | None = None, note: str = "") -> None:
    return None


@contextmanager
def progress_bar(err: TextIO, label: str, *, enabled: bool = True) -> Iterator[Update]:
    """A transient bar (label, bar, done/total, elapsed time, note) on ``err``; yields ``update``."""
    if not (enabled and hasattr(err, "isatty") and err.isatty()):
        yield _noop
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"), console=Console(file=err, stderr=True), transient=True,
        auto_refresh=False,  # no refresh thread: `check` forks its workers while the bar is up
    ) as bar:
        task = bar.add_task(label, total=None, note="")

        def update(done: float, total: float | None = None, note: str = "") -> None:
            bar.update(task, completed=done, total=total, note=note)
            bar.refresh()

        yield update
