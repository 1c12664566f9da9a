"""Reading files users hand us: every OS, binary or decoding failure becomes one InputError.

Only regular files are opened (a FIFO, a device such as ``/dev/zero`` or a directory is
refused before anything could block), and no more than
:data:`~saferl.limits.MAX_FILE_BYTES` are read.

Example:
    >>> read_user_text("no/such/file.pol", "policy file")
    Traceback (most recent call last):
    ...
    saferl.errors.InputError: no/such/file.pol: policy file not found
"""

from __future__ import annotations

import errno
import os
import re
import stat
from itertools import accumulate
from pathlib import Path
from typing import Any

from saferl.errors import InputError, Location
from saferl.limits import MAX_DATA_DEPTH, MAX_FILE_BYTES, limit_message

__all__ = [
    "read_user_text", "read_user_bytes", "check_regular_file", "check_directory", "user_path_kind", "parse_user_json",
    "check_output_location",
]

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _stat(path: str | Path, what: str, error: type[InputError], hint: str | None = None) -> os.stat_result:
    loc = Location(str(path))
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found", loc, hint=hint) from None
    except OSError as exc:
        reason = "file name too long" if exc.errno == errno.ENAMETOOLONG else exc.strerror
        raise error(f"cannot read {what}: {reason}", loc, hint=hint) from None
    except ValueError:  # an embedded NUL character in the name
        raise error(f"cannot read {what}: invalid file name", loc, hint=hint) from None


def user_path_kind(path: str | Path, what: str, error: type[InputError] = InputError, hint: str | None = None) -> str:
    """``"dir"`` or ``"file"`` (a regular file) for ``path``, without opening it; ``error``
    for a missing path, a too-long name, a FIFO, a device or a socket (never blocks)."""
    st = _stat(path, what, error, hint)
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if not stat.S_ISREG(st.st_mode):
        raise error(f"not a regular file, cannot be a {what}", Location(str(path)), hint="pass a file, not a pipe or a device")
    return "file"


def check_directory(path: str | Path, what: str, error: type[InputError] = InputError, hint: str | None = None) -> None:
    """Check that ``path`` names a directory; raise ``error`` (with ``hint``) otherwise."""
    st = _stat(path, what, error, hint)
    if not stat.S_ISDIR(st.st_mode):
        raise error(f"not a directory, cannot be a {what}", Location(str(path)), hint=hint)


def check_output_location(output: str | Path, option: str = "--output", *, directory: bool = False) -> None:
    """The one rule of every command that writes a file: its folder must exist.

    saferl creates the file (or, with ``directory``, the model directory itself) but never
    the folders above it, so that a typo in a path is an InputError (exit 2), not a new tree.

    Example:
        >>> check_output_location("/no/such/dir/out.pol")
        Traceback (most recent call last):
        ...
        saferl.errors.InputError: --output /no/such/dir/out.pol: directory /no/such/dir does not exist (hint: create it first)
    """
    from saferl.limits import shown_path

    path = Path(output)
    shown = shown_path(str(path))
    try:
        if path.is_dir() and not directory:
            raise InputError(f"{option} {shown} is a directory", hint="give a file name")
        if directory and path.exists() and not path.is_dir():
            raise InputError(f"{option} {shown} exists and is not a directory")
        if not path.parent.is_dir():
            raise InputError(f"{option} {shown}: directory {shown_path(str(path.parent))} does not exist", hint="create it first")
    except InputError:
        raise
    except OSError as exc:
        reason = "file name too long" if exc.errno == errno.ENAMETOOLONG else exc.strerror
        raise InputError(f"{option} {shown}: {reason}") from None
    except ValueError:  # an embedded NUL character
        raise InputError(f"{option} {shown}: invalid file name") from None


def parse_user_json(text: str, path: str | Path, what: str, error: type[InputError] = InputError) -> Any:
    """Decode the JSON ``text`` of a user file, at most :data:`~saferl.limits.MAX_DATA_DEPTH`
    lists and objects deep; every failure is ``error`` with a location."""
    outside_strings = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = max(accumulate(_BRACKET_STEP[c] for c in outside_strings), default=0)
    if depth > MAX_DATA_DEPTH:
        exc = error(
            limit_message(f"{what}: lists and objects nested deeper than {MAX_DATA_DEPTH} levels", "max_data_depth"),
            Location(str(path)),
        )
        exc.limit = "max_data_depth"
        raise exc
    import json  # only for JSON files (the verify path reads none)

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc.msg}", Location(str(path), exc.lineno, exc.colno)) from None
    except (RecursionError, ValueError) as exc:  # ValueError: e.g. an integer of too many digits
        raise error(f"{what} is not valid JSON: {' '.join(str(exc).split())}", Location(str(path))) from None


def check_regular_file(
    path: str | Path, what: str, error: type[InputError] = InputError, *, max_bytes: int = MAX_FILE_BYTES,
    limit: str = "max_file_bytes",
) -> int:
    """Check that ``path`` names a regular file of at most ``max_bytes``; return its size.

    Nothing is opened, so a FIFO or a device never blocks.  Raises ``error`` otherwise
    (``limit`` names the size limit in the message).
    """
    loc = Location(str(path))
    st = _stat(path, what, error)
    if stat.S_ISDIR(st.st_mode):
        raise error(f"is a directory, not a {what}", loc)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"not a regular file, cannot be a {what}", loc, hint="pass a file, not a pipe or a device")
    if st.st_size > max_bytes:
        raise error(limit_message(f"{what} is larger than {max_bytes} bytes", limit), loc)
    return st.st_size


def read_user_bytes(
    path: str | Path, what: str, error: type[InputError] = InputError, *, max_bytes: int = MAX_FILE_BYTES,
    limit: str = "max_file_bytes",
) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``); ``error`` on any failure."""
    check_regular_file(path, what, error, max_bytes=max_bytes, limit=limit)
    loc = Location(str(path))
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", loc) from None
    if len(data) > max_bytes:  # it grew after the check
        raise error(limit_message(f"{what} is larger than {max_bytes} bytes", limit), loc)
    return data


def read_user_text(
    path: str | Path,
    what: str,
    error: type[InputError] = InputError,
    *,
    allow_binary: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
    limit: str = "max_file_bytes",
) -> str:
    """The UTF-8 text of ``path``; ``error`` (an InputError subclass) names what went wrong.

    NUL bytes mean binary data and are refused unless ``allow_binary``; a decoding error
    reports the line it happened on.
    """
    data = read_user_bytes(path, what, error, max_bytes=max_bytes, limit=limit)
    shown = str(path)
    if b"\x00" in data and not allow_binary:
        raise error(f"binary data, not a {what}", Location(shown, 1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 (byte {exc.start})", Location(shown, line, 1)) from None
