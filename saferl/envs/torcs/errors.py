"""Errors of saferl's TORCS support, each narrow (all derive from saferl's own classes)."""

from __future__ import annotations

from saferl.errors import InputError, SaferlError

__all__ = [
    "ScrProtocolError",
    "ScrTimeoutError",
    "TorcsError",
    "TorcsNotInstalledError",
    "TrackError",
    "UnknownTrackError",
]


class TorcsError(SaferlError):
    """Real TORCS failed: it did not start, crashed, or broke the protocol."""


class TorcsNotInstalledError(TorcsError):
    """TORCS or the saferl_scr robot is missing; the message says how to install it."""


class ScrProtocolError(TorcsError):
    """An SCR message was malformed or out of order."""


class ScrTimeoutError(TorcsError):
    """The SCR server fell silent (or exited) while the client waited."""


class TrackError(SaferlError):
    """A TORCS track file could not be read or makes no geometric sense."""


class UnknownTrackError(InputError):
    """The user named a track that is not installed."""
