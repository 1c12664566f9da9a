"""What the argparse-based commands share (they avoid typer so that they start light).

:class:`Parser` turns a usage error into an :class:`~saferl.errors.InputError`;
:func:`parse_or_help` writes ``--help`` to the command's stream; :func:`run_plain` maps
saferl's errors to one line on stderr and exit code 2 (the dispatcher in
:mod:`saferl.cli` turns anything unexpected into exit 2 as well).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO

from saferl.errors import InputError, MissingDependencyError, SaferlError, UnsupportedError

__all__ = ["Parser", "HelpFormatter", "terminal_columns", "parse_or_help", "run_plain", "EXIT_ERROR"]

EXIT_ERROR = 2


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` (``COLUMNS``, else the terminal of stdout,
    else 80), without importing shutil and the compressors it loads."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter at the terminal's width, found without shutil (argparse makes
    one for every option it adds, to check its metavar)."""

    def __init__(self, prog: str, **kwargs: Any):
        kwargs.setdefault("width", terminal_columns() - 2)  # as argparse narrows the terminal's
        super().__init__(prog, **kwargs)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are :class:`InputError` (exit 2, one line)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see '{self.prog} --help')")


def parse_or_help(parser: argparse.ArgumentParser, argv: list[str], out: TextIO) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code after ``--help`` was written to ``out``."""
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text):
        try:
            return parser.parse_args(argv)
        except SystemExit as exc:  # --help
            out.write(help_text.getvalue())
            return int(exc.code or 0)


def run_plain(prog: str, command: Callable[[], int], err: TextIO, interrupted: str = "interrupted") -> int:
    """Run ``command``; saferl's errors become ``prog: error: ...`` and exit code 2."""
    try:
        return command()
    except KeyboardInterrupt:
        err.write(f"{prog}: {interrupted}\n")
        return 130
    except (InputError, MissingDependencyError, UnsupportedError) as exc:
        err.write(f"{prog}: error: {' '.join(str(exc).split())}\n")
        return EXIT_ERROR
    except SaferlError as exc:
        err.write(f"{prog}: error: tool error: {' '.join(str(exc).split())}\n")
        return EXIT_ERROR
