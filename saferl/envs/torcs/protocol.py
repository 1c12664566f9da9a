"""The SCR UDP protocol, client side: message formats and a blocking client.

The Simulated Car Racing (SCR) protocol is plain text over UDP.  The client identifies
itself with ``SCR(init a1 ... a19)`` (the 19 range-finder angles, in degrees) and the
server (our robot inside TORCS) answers ``***identified***``.  Then, once per 20 ms of
simulated time, the server sends a sensor message ``(angle 0.01)(curLapTime 1.2)...``
and the client answers with an action ``(accel 1)(brake 0)(gear 1)(steer 0)(clutch 0)
(focus 0)(meta 0)``.  The server ends with ``***shutdown***`` (race over) or
``***restart***`` (after ``meta 1``).

Example:
    >>> parse_sensors("(angle 0.5)(track 1 2 3)")["track"]
    (1.0, 2.0, 3.0)
    >>> format_action(accel=1.0, steer=-0.25, gear=2)
    '(accel 1)(brake 0)(gear 2)(steer -0.25)(clutch 0)(focus 0)(meta 0)'
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from saferl.envs.torcs.errors import ScrProtocolError, ScrTimeoutError

__all__ = [
    "DEFAULT_ANGLES",
    "IDENTIFIED",
    "RESTART",
    "SHUTDOWN",
    "ScrClient",
    "ServerEvent",
    "format_action",
    "format_init",
    "parse_sensors",
]

IDENTIFIED = "***identified***"
SHUTDOWN = "***shutdown***"
RESTART = "***restart***"

#: The range-finder fan PROPEL (and gym_torcs) used, in degrees, left (-) to right (+).
DEFAULT_ANGLES: tuple[float, ...] = (
    -90.0, -75.0, -60.0, -45.0, -30.0, -20.0, -15.0, -10.0, -5.0, 0.0,
    5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0,
)  # fmt: skip

#: Sensors every server message must carry for saferl's environments.
REQUIRED_SENSORS = (
    "angle", "curLapTime", "damage", "distFromStart", "distRaced", "lastLapTime",
    "rpm", "speedX", "speedY", "speedZ", "track", "trackPos", "wheelSpinVel",
)  # fmt: skip


def format_init(angles: tuple[float, ...] = DEFAULT_ANGLES, client_id: str = "SCR") -> str:
    """The identification message: ``SCR(init a1 ... a19)``."""
    if len(angles) != 19:
        raise ScrProtocolError(f"the SCR init message needs 19 angles, got {len(angles)}")
    return f"{client_id}(init {' '.join(f'{a:.9g}' for a in angles)})"


def format_action(
    accel: float = 0.0,
    brake: float = 0.0,
    gear: int = 1,
    steer: float = 0.0,
    clutch: float = 0.0,
    focus: float = 0.0,
    meta: int = 0,
) -> str:
    """An action message, fields in the protocol's order."""
    return (
        f"(accel {accel:.9g})(brake {brake:.9g})(gear {int(gear):d})(steer {steer:.9g})"
        f"(clutch {clutch:.9g})(focus {focus:.9g})(meta {int(meta):d})"
    )


def parse_sensors(message: str) -> dict[str, float | tuple[float, ...]]:
    """Parse a sensor message into ``name -> value`` (lists become tuples).

    Raises :class:`ScrProtocolError` with the offending text when the message is not a
    sequence of ``(name number...)`` groups.
    """
    text = message.strip().rstrip("\x00")
    if not text.startswith("(") or not text.endswith(")"):
        raise ScrProtocolError(f"malformed SCR sensor message: {_excerpt(text)}")
    result: dict[str, float | tuple[float, ...]] = {}
    for group in text[1:-1].split(")("):
        parts = group.split()
        if len(parts) < 2 or "(" in group or ")" in group:
            raise ScrProtocolError(f"malformed SCR sensor group ({_excerpt(group)})")
        try:
            values = [float(p) for p in parts[1:]]
        except ValueError:
            raise ScrProtocolError(
                f"non-numeric value in SCR sensor group ({_excerpt(group)})"
            ) from None
        result[parts[0]] = values[0] if len(values) == 1 else tuple(values)
    return result


def _excerpt(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class ServerEvent:
    """A control message from the server: ``"shutdown"`` or ``"restart"``."""

    kind: str


class ScrClient:
    """A blocking SCR client on one UDP port.

    ``alive`` (optional) is polled while waiting; when it returns False the wait ends
    with :class:`ScrTimeoutError` at once (for example when the TORCS process died).

    Example:
        client = ScrClient(3001)
        client.identify(timeout_s=5)
        sensors = client.receive()          # dict, or a ServerEvent
        client.send_action(accel=1.0, gear=1)
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        timeout_s: float = 10.0,
        alive: Callable[[], bool] | None = None,
    ) -> None:
        self.address = (host, port)
        self.timeout_s = timeout_s
        self._alive = alive
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.connect(self.address)
        self.identified = False

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self._sock.close()

    def __enter__(self) -> ScrClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identify(
        self, angles: tuple[float, ...] = DEFAULT_ANGLES, timeout_s: float | None = None,
        retry_s: float = 0.02,
    ) -> None:
        """Send the init message until the server answers ``***identified***``."""
        message = format_init(angles).encode()
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            try:
                self._sock.send(message)
            except ConnectionRefusedError:
                pass  # the server has not bound its port yet
            try:
                reply = self._recv_text(min(retry_s, max(deadline - time.monotonic(), 0.001)))
            except ScrTimeoutError:
                reply = None
            if reply is not None and reply.startswith(IDENTIFIED):
                self.identified = True
                return
            if reply is not None:
                raise ScrProtocolError(
                    f"expected {IDENTIFIED} from the SCR server, got: {_excerpt(reply)}"
                )
            if self._alive is not None and not self._alive():
                raise ScrTimeoutError("the SCR server exited before identifying the client")
            if time.monotonic() > deadline:
                raise ScrTimeoutError(
                    f"no SCR server answered on {self.address[0]}:{self.address[1]} "
                    f"within {self.timeout_s if timeout_s is None else timeout_s:g} s"
                )

    def receive(self) -> dict[str, float | tuple[float, ...]] | ServerEvent:
        """The next sensor message (parsed), or a :class:`ServerEvent`."""
        text = self._recv_text(self.timeout_s)
        if text.startswith(SHUTDOWN):
            return ServerEvent("shutdown")
        if text.startswith(RESTART):
            return ServerEvent("restart")
        if text.startswith(IDENTIFIED):
            return self.receive()  # an answer to a repeated init: harmless
        sensors = parse_sensors(text)
        absent = [name for name in REQUIRED_SENSORS if name not in sensors]
        if absent:
            raise ScrProtocolError(f"SCR sensor message lacks {', '.join(absent)}")
        return sensors

    def send_action(self, **fields: float) -> None:
        """Send one action message (see :func:`format_action` for the fields)."""
        self.send_text(format_action(**fields))  # type: ignore[arg-type]

    def send_text(self, text: str) -> None:
        """Send raw text (for tests and custom messages)."""
        try:
            self._sock.send(text.encode())
        except ConnectionRefusedError:
            raise ScrTimeoutError(
                f"the SCR server on port {self.address[1]} is gone"
            ) from None

    def _recv_text(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        # Wait in short slices so a dead server is noticed quickly.
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScrTimeoutError(
                    f"the SCR server on port {self.address[1]} was silent for {timeout_s:g} s"
                )
            self._sock.settimeout(min(left, 0.25))
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                if self._alive is not None and not self._alive():
                    raise ScrTimeoutError(
                        f"the SCR server on port {self.address[1]} exited"
                    ) from None
                continue
            except ConnectionRefusedError:
                if self._alive is not None and not self._alive():
                    raise ScrTimeoutError(
                        f"the SCR server on port {self.address[1]} exited"
                    ) from None
                time.sleep(0.001)
                continue
            try:
                return data.decode("ascii")
            except UnicodeDecodeError:
                raise ScrProtocolError(
                    f"SCR message is not ASCII text: {data[:40]!r}"
                ) from None
