"""Reading files users hand us: every OS, binary or decoding failure becomes one InputError.

Example:
    >>> read_user_text("no/such/file.pol", "policy file")
    Traceback (most recent call last):
    ...
    saferl.errors.InputError: no/such/file.pol: policy file not found
"""

from __future__ import annotations

from pathlib import Path

from saferl.errors import InputError, Location

__all__ = ["read_user_text"]


def read_user_text(
    path: str | Path, what: str, error: type[InputError] = InputError, *, allow_binary: bool = False
) -> str:
    """The UTF-8 text of ``path``; ``error`` (an InputError subclass) names what went wrong.

    NUL bytes mean binary data and are refused unless ``allow_binary``; a decoding error
    reports the line it happened on.
    """
    p = Path(path)
    loc = Location(str(p))
    if p.is_dir():
        raise error(f"is a directory, not a {what}", loc)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found", loc) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror}", loc) from None
    if b"\x00" in data and not allow_binary:
        raise error(f"binary data, not a {what}", Location(str(p), 1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 (byte {exc.start})", Location(str(p), line, 1)) from None
