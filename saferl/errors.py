"""The exceptions saferl raises, each narrow and documented.

Everything saferl raises on purpose derives from :class:`SaferlError`.  Errors caused by
what a user gave us (a file, an argument) derive from :class:`InputError`; the CLI turns
them into a one-line message and exit code 2, never a traceback.

Example:
    >>> from saferl.errors import PolicyParseError, Location
    >>> err = PolicyParseError("unexpected ')'", Location("p.pol", 3, 7), hint="remove it")
    >>> str(err)
    "p.pol:3:7: unexpected ')' (hint: remove it)"
"""

from __future__ import annotations

from saferl.limits import shown_path
from saferl.record import record

__all__ = [
    "Location",
    "SaferlError",
    "InputError",
    "PolicyParseError",
    "SpecError",
    "ModelFileError",
    "UnsupportedError",
    "MissingDependencyError",
    "SolverError",
    "InternalError",
]


@record
class Location:
    """A place in a file: 1-based line and column (0 means unknown)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        path = shown_path(self.path)
        if self.line <= 0:
            return path
        if self.col <= 0:
            return f"{path}:{self.line}"
        return f"{path}:{self.line}:{self.col}"


class SaferlError(Exception):
    """Base class of every error saferl raises deliberately."""


class InputError(SaferlError, ValueError):
    """Something the user gave us is malformed; carries an optional location and hint."""

    #: the name of the :mod:`saferl.limits` limit this error reports, if it reports one
    limit: str | None = None

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as one line: ``path:line:col: message (hint: ...)``."""
        text = self.message.replace("\n", " ")
        if self.location is not None:
            text = f"{self.location}: {text}"
        if self.hint:
            text = f"{text} (hint: {self.hint})"
        return text

    def __str__(self) -> str:
        return self.one_line()


class PolicyParseError(InputError):
    """A .pol file (or policy text) is not a valid policy."""


class SpecError(InputError):
    """A YAML spec is malformed, or does not fit the policy it is checked against."""


class ModelFileError(InputError):
    """A model file (network weights, manifest, archive, gridworld instance) is malformed."""


class UnsupportedError(SaferlError):
    """A valid input asks for something saferl does not do (yet)."""


class MissingDependencyError(SaferlError, ImportError):
    """An optional dependency is missing; the message carries the exact install line."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"this needs {package}, which is not installed; install it with: "
            f"pip install torch==2.13.0 && pip install 'saferl[{extra}]'"
            if extra == "learn"
            else f"this needs {package}, which is not installed; install it with: "
            f"pip install 'saferl[{extra}]'"
        )


class SolverError(SaferlError):
    """A solver failed, or two solvers disagreed (a tool error: exit 2)."""


class InternalError(SaferlError):
    """saferl broke one of its own invariants (for example a counterexample did not replay)."""
