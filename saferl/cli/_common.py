"""Shared plumbing of the command modules: streams, error handling, exit codes.

Every command module builds a ``typer.Typer`` app and calls :func:`run_app`; commands read
their output streams from ``ctx.obj`` (a :class:`Streams`) and return an int.  Errors the
user caused become one line on stderr and exit code 2; nothing here prints a traceback
for bad input.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import typer

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as _click_exc  # type: ignore[no-redef]

from saferl.errors import InputError, MissingDependencyError, SaferlError, UnsupportedError

EXIT_OK = 0
EXIT_UNSAFE = 1
EXIT_ERROR = 2
EXIT_UNKNOWN = 3


@dataclass(frozen=True)
class Streams:
    """Where a command writes: the payload to ``out``, diagnostics to ``err``."""

    out: TextIO
    err: TextIO

    def error(self, prog: str, message: str) -> int:
        """Write ``prog: error: message`` as one line on stderr and return exit code 2."""
        self.err.write(f"{prog}: error: {' '.join(str(message).split())}\n")
        self.err.flush()
        return EXIT_ERROR


def streams(ctx: typer.Context) -> Streams:
    """The streams a command should write to."""
    obj = ctx.obj
    if isinstance(obj, Streams):
        return obj
    return Streams(sys.stdout, sys.stderr)


def new_app(help_text: str) -> typer.Typer:
    """A typer app configured the saferl way (no shell-completion options, no rich tracebacks)."""
    return typer.Typer(
        help=help_text,
        add_completion=False,
        pretty_exceptions_enable=False,
        no_args_is_help=False,
        rich_markup_mode=None,
    )


def run_app(app: typer.Typer, prog: str, argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run a typer ``app`` on ``argv``; map exceptions to exit codes and one-line messages."""
    s = Streams(out, err)
    try:
        with contextlib.redirect_stdout(out):
            result = app(args=argv, prog_name=prog, standalone_mode=False, obj=s)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except _click_exc.UsageError as exc:
        return s.error(prog, f"{exc.format_message()} (see '{prog} --help')")
    except _click_exc.ClickException as exc:
        return s.error(prog, exc.format_message())
    except typer.Abort:
        return s.error(prog, "aborted")
    except KeyboardInterrupt:
        err.write(f"{prog}: interrupted\n")
        return 130
    except (InputError, MissingDependencyError, UnsupportedError) as exc:
        return s.error(prog, str(exc))
    except SaferlError as exc:
        return s.error(prog, f"tool error: {exc}")
    if isinstance(result, int):
        return result
    return EXIT_OK


def read_text_file(path: Path, what: str) -> str:
    """Read a user-supplied text file, turning every OS or decoding failure into InputError."""
    from saferl.userfile import read_user_text

    return read_user_text(path, what)


def check_output_path(output: Path, option: str = "--output", *, directory: bool = False) -> None:
    """The one rule of every command that writes a file: its folder must exist
    (:func:`saferl.userfile.check_output_location`).  Commands call this before their work
    starts, and :func:`write_output` again on writing."""
    from saferl.userfile import check_output_location

    check_output_location(output, option, directory=directory)


def write_output(text: str, output: Path | None, out: TextIO) -> None:
    """Write a payload to ``output`` if given (its folder must exist), else to ``out``."""
    if output is None:
        out.write(text)
        if not text.endswith("\n"):
            out.write("\n")
        return
    check_output_path(output)
    try:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror}", None) from None
