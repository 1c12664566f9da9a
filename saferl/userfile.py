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
import stat
from pathlib import Path

from saferl.errors import InputError, Location
from saferl.limits import MAX_FILE_BYTES, limit_message, shown_path

__all__ = ["read_user_text", "read_user_bytes", "check_regular_file"]


def check_regular_file(
    path: str | Path, what: str, error: type[InputError] = InputError, *, max_bytes: int = MAX_FILE_BYTES
) -> int:
    """Check that ``path`` names a regular file of at most ``max_bytes``; return its size.

    Nothing is opened, so a FIFO or a device never blocks.  Raises ``error`` otherwise.
    """
    loc = Location(shown_path(str(path)))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what} not found", loc) from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise error(f"cannot read {what}: file name too long", loc) from None
        raise error(f"cannot read {what}: {exc.strerror}", loc) from None
    except ValueError:  # an embedded NUL character in the name
        raise error(f"cannot read {what}: invalid file name", loc) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"is a directory, not a {what}", loc)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"not a regular file, cannot be a {what}", loc, hint="pass a file, not a pipe or a device")
    if st.st_size > max_bytes:
        raise error(
            limit_message(f"{what} is larger than {max_bytes} bytes", "max_file_bytes"), loc,
        )
    return st.st_size


def read_user_bytes(
    path: str | Path, what: str, error: type[InputError] = InputError, *, max_bytes: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``); ``error`` on any failure."""
    check_regular_file(path, what, error, max_bytes=max_bytes)
    loc = Location(shown_path(str(path)))
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", loc) from None
    if len(data) > max_bytes:  # it grew after the check
        raise error(limit_message(f"{what} is larger than {max_bytes} bytes", "max_file_bytes"), loc)
    return data


def read_user_text(
    path: str | Path,
    what: str,
    error: type[InputError] = InputError,
    *,
    allow_binary: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
) -> str:
    """The UTF-8 text of ``path``; ``error`` (an InputError subclass) names what went wrong.

    NUL bytes mean binary data and are refused unless ``allow_binary``; a decoding error
    reports the line it happened on.
    """
    data = read_user_bytes(path, what, error, max_bytes=max_bytes)
    shown = shown_path(str(path))
    if b"\x00" in data and not allow_binary:
        raise error(f"binary data, not a {what}", Location(shown, 1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 (byte {exc.start})", Location(shown, line, 1)) from None
