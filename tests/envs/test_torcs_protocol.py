"""The SCR protocol: message formats, round trips, and failures against fake servers."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from saferl.envs.torcs.errors import ScrProtocolError, ScrTimeoutError
from saferl.envs.torcs.observation import OBSERVATION_NAMES, auto_gear, normalise_sensors
from saferl.envs.torcs.protocol import (
    DEFAULT_ANGLES,
    ScrClient,
    ServerEvent,
    format_action,
    format_init,
    parse_sensors,
)

FULL = (
    "(angle 0.01)(curLapTime 1.5)(damage 0)(distFromStart 12.5)(distRaced 2.5)"
    "(focus -1 -1 -1 -1 -1)(fuel 94)(gear 1)(lastLapTime 0)(opponents"
    + " 200" * 36
    + ")(racePos 1)(rpm 4000)(speedX 90)(speedY -0.5)(speedZ 0.1)(track"
    + "".join(f" {i + 1}" for i in range(19))
    + ")(trackPos -0.25)(wheelSpinVel 10 11 12 13)(z 0.34)"
)


def test_init_message_lists_the_angles() -> None:
    assert format_init() == "SCR(init -90 -75 -60 -45 -30 -20 -15 -10 -5 0 5 10 15 20 30 45 60 75 90)"
    with pytest.raises(ScrProtocolError, match="19 angles"):
        format_init((0.0, 1.0))


def test_action_message_has_the_protocol_order() -> None:
    assert format_action(accel=0.5, brake=0.0, gear=3, steer=-0.125) == (
        "(accel 0.5)(brake 0)(gear 3)(steer -0.125)(clutch 0)(focus 0)(meta 0)"
    )


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@given(st.dictionaries(st.from_regex(r"[a-zA-Z]{1,12}", fullmatch=True),
                       st.lists(finite, min_size=1, max_size=20), min_size=1, max_size=8))
def test_sensor_messages_round_trip(groups: dict[str, list[float]]) -> None:
    text = "".join(f"({name} {' '.join(f'{v:.9g}' for v in values)})" for name, values in groups.items())
    parsed = parse_sensors(text)
    for name, values in groups.items():
        got = np.atleast_1d(np.asarray(parsed[name], dtype=np.float32))
        # Nine significant digits carry every float32 exactly.
        assert got.tolist() == np.asarray(values, dtype=np.float32).tolist()


@given(steer=finite, accel=finite, brake=finite, gear=st.integers(-1, 6))
def test_action_round_trips_through_the_sensor_parser(steer: float, accel: float, brake: float, gear: int) -> None:
    parsed = parse_sensors(format_action(accel=accel, brake=brake, gear=gear, steer=steer))
    got = [np.float32(parsed[k]) for k in ("accel", "brake", "steer")]
    assert got == [np.float32(accel), np.float32(brake), np.float32(steer)]
    assert parsed["gear"] == gear


@pytest.mark.parametrize(
    "message, match",
    [
        ("angle 0.1", "malformed SCR sensor message"),
        ("(angle)", "malformed SCR sensor group"),
        ("(angle 0.1)(speedX fast)", "non-numeric value in SCR sensor group"),
        ("(angle 0.1)((track 1 2)", "malformed SCR sensor group"),
        ("", "malformed SCR sensor message"),
    ],
)
def test_malformed_sensor_messages_are_rejected(message: str, match: str) -> None:
    with pytest.raises(ScrProtocolError, match=match):
        parse_sensors(message)


def test_normalised_observation_follows_propel() -> None:
    values = normalise_sensors(parse_sensors(FULL))
    assert len(values) == len(OBSERVATION_NAMES) == 29
    named = dict(zip(OBSERVATION_NAMES, values, strict=True))
    assert named["angle"] == pytest.approx(0.01 / 3.141592653589793)
    assert named["trackPos"] == -0.25
    assert named["speedX"] == pytest.approx(0.3)
    assert named["rpm"] == pytest.approx(0.4)
    assert named["wheelSpinVel3"] == pytest.approx(0.13)
    assert named["track0"] == pytest.approx(1 / 200) and named["track18"] == pytest.approx(19 / 200)


def test_short_track_vector_is_a_protocol_error() -> None:
    sensors = parse_sensors(FULL)
    sensors["track"] = (1.0, 2.0)
    with pytest.raises(ScrProtocolError, match="track must have 19 values"):
        normalise_sensors(sensors)


def test_automatic_gearbox_thresholds() -> None:
    assert [auto_gear(v) for v in (0, 50, 51, 81, 111, 141, 171, 300)] == [1, 1, 2, 3, 4, 5, 6, 6]


class FakeServer:
    """A scripted SCR server on a loopback port: replies to each datagram from a list."""

    def __init__(self, replies: list[str | None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.replies = list(replies)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.sock.settimeout(3.0)
        while self.replies:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                return
            self.received.append(data.decode())
            reply = self.replies.pop(0)
            if reply is not None:
                self.sock.sendto(reply.encode(), addr)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def test_handshake_then_sensors_then_shutdown() -> None:
    server = FakeServer(["***identified***", FULL, "***shutdown***"])
    try:
        with ScrClient(server.port, timeout_s=2.0) as client:
            client.identify(DEFAULT_ANGLES)
            client.send_action(accel=1.0, gear=1)
            first = client.receive()
            assert isinstance(first, dict) and first["speedX"] == 90.0
            client.send_action(accel=0.0, brake=1.0)
            assert client.receive() == ServerEvent("shutdown")
        assert server.received[0].startswith("SCR(init -90")
        assert server.received[1].startswith("(accel 1)(brake 0)(gear 1)")
    finally:
        server.close()


def test_silent_server_ends_in_a_clear_timeout() -> None:
    server = FakeServer(["***identified***", None])
    try:
        with ScrClient(server.port, timeout_s=0.3) as client:
            client.identify()
            client.send_action(accel=1.0)
            start = time.monotonic()
            with pytest.raises(ScrTimeoutError, match=rf"port {server.port} was silent for 0.3 s"):
                client.receive()
            assert time.monotonic() - start < 2.0
    finally:
        server.close()


def test_no_server_at_all_times_out_on_identify() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens here now
    with ScrClient(port, timeout_s=0.3) as client, pytest.raises(
        ScrTimeoutError, match=rf"no SCR server answered on 127.0.0.1:{port} within 0.3 s"
    ):
        client.identify()


def test_dead_server_is_noticed_through_alive() -> None:
    server = FakeServer(["***identified***", None])
    try:
        with ScrClient(server.port, timeout_s=30.0, alive=lambda: False) as client:
            client.identify()
            client.send_action()
            start = time.monotonic()
            with pytest.raises(ScrTimeoutError, match="exited"):
                client.receive()
            assert time.monotonic() - start < 2.0
    finally:
        server.close()


@pytest.mark.parametrize(
    "reply, match",
    [
        ("(angle 0.1)(speedX oops)", "non-numeric value"),
        ("(angle 0.1)", "SCR sensor message lacks curLapTime"),
        ("hello", "malformed SCR sensor message"),
    ],
)
def test_malformed_server_messages_end_in_protocol_errors(reply: str, match: str) -> None:
    server = FakeServer(["***identified***", reply])
    try:
        with ScrClient(server.port, timeout_s=2.0) as client:
            client.identify()
            client.send_action()
            with pytest.raises(ScrProtocolError, match=match):
                client.receive()
    finally:
        server.close()


def test_wrong_handshake_answer_is_a_protocol_error() -> None:
    server = FakeServer(["(angle 0)"])
    try:
        with ScrClient(server.port, timeout_s=2.0) as client, pytest.raises(
            ScrProtocolError, match=r"expected \*\*\*identified\*\*\*"
        ):
            client.identify()
    finally:
        server.close()
