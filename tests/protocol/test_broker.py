"""The anonymous-client probe, against a real Mosquitto and against fake servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import socket
from typing import TYPE_CHECKING

import pytest

from custom_components.novabot.protocol import ProbeOutcome, ProbeResult, probe_broker
from custom_components.novabot.protocol.broker import connect_packet

if TYPE_CHECKING:
    from tests.mosquitto import Mosquitto, MosquittoFactory

type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
type ServerFactory = Callable[[Handler], Awaitable[int]]


@pytest.fixture
async def tcp_server(socket_enabled: None) -> AsyncIterator[ServerFactory]:
    """Start plain TCP servers on free loopback ports; return their port."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        server.close_clients()
        await server.wait_closed()


async def read_connect(reader: asyncio.StreamReader) -> bytes:
    """Read one MQTT CONNECT packet (short enough for a one-byte length)."""
    header = await reader.readexactly(2)
    return header + await reader.readexactly(header[1])


# --- against Mosquitto -----------------------------------------------------------


async def test_broker_admitting_anonymous_clients_is_accepted(
    mosquitto: Mosquitto,
) -> None:
    result = await probe_broker(mosquitto.host, mosquitto.port, timeout=5)

    assert result == ProbeResult(ProbeOutcome.ACCEPTED, return_code=0)
    assert not result.login_required


async def test_broker_refusing_anonymous_clients_requires_a_login(
    mosquitto_factory: MosquittoFactory,
) -> None:
    broker = mosquitto_factory(allow_anonymous=False, users={"homeassistant": "pw"})

    result = await probe_broker(broker.host, broker.port, timeout=5)

    assert result.outcome is ProbeOutcome.REFUSED
    assert result.return_code == 5
    assert result.login_required


async def test_probe_follows_a_broker_restarted_on_the_same_port(
    mosquitto: Mosquitto,
) -> None:
    port = mosquitto.port
    await mosquitto.async_stop()
    stopped = await probe_broker("127.0.0.1", port, timeout=2)

    await mosquitto.async_start()
    assert mosquitto.port == port
    assert (await probe_broker("127.0.0.1", port, timeout=5)).outcome is (
        ProbeOutcome.ACCEPTED
    )
    assert stopped.outcome is ProbeOutcome.UNREACHABLE


def test_mosquitto_helper_restarts_on_the_same_port(socket_enabled: None) -> None:
    from tests.mosquitto import Mosquitto

    with Mosquitto() as broker:
        port = broker.port
        broker.restart()

        assert broker.running
        assert broker.port == port
        with socket.create_connection((broker.host, port), timeout=2):
            pass
    assert not broker.running


async def test_mosquitto_helper_users_can_log_in_where_anonymous_cannot(
    mosquitto_factory: MosquittoFactory,
) -> None:
    broker = mosquitto_factory(
        allow_anonymous=False,
        users={"homeassistant": "s3cret"},
        acl="user homeassistant\ntopic readwrite #\n",
    )

    async def connack(packet: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(broker.host, broker.port)
        writer.write(packet)
        answer = await reader.readexactly(4)
        writer.close()
        await writer.wait_closed()
        return answer

    assert await connack(connect_with_login("homeassistant", "s3cret")) == (
        b"\x20\x02\x00\x00"
    )
    assert await connack(connect_with_login("homeassistant", "wrong")) == (
        b"\x20\x02\x00\x05"
    )


def connect_with_login(username: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with username and password (test helper)."""

    def field(value: str) -> bytes:
        return len(value.encode()).to_bytes(2, "big") + value.encode()

    body = (
        field("MQTT")
        + bytes([4, 0xC2])
        + (10).to_bytes(2, "big")
        + field("login-test")
        + field(username)
        + field(password)
    )
    return bytes([0x10, len(body)]) + body


# --- unreachable ------------------------------------------------------------------------


async def test_closed_port_is_unreachable(socket_enabled: None) -> None:
    from tests.mosquitto import free_port

    result = await probe_broker("127.0.0.1", free_port(), timeout=2)

    assert result.outcome is ProbeOutcome.UNREACHABLE
    assert result.return_code is None
    assert result.detail
    assert not result.login_required


async def test_unresolvable_name_is_unreachable(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_name(host: str, *_args: object, **_kwargs: object) -> list[object]:
        # the test harness forbids DNS; answer as a resolver would for .invalid
        raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host}")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)

    result = await probe_broker("nonexistent.invalid", 1883, timeout=2)

    assert result.outcome is ProbeOutcome.UNREACHABLE
    assert "not known" in result.detail


async def test_connection_that_never_completes_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never_connects(*_args: object, **_kwargs: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(asyncio, "open_connection", never_connects)

    result = await probe_broker("192.0.2.1", 1883, timeout=0.05)

    assert result == ProbeResult(
        ProbeOutcome.UNREACHABLE, detail="connection timed out"
    )


async def test_error_without_a_message_is_named_in_the_detail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refused(*_args: object, **_kwargs: object) -> None:
        raise ConnectionRefusedError

    monkeypatch.setattr(asyncio, "open_connection", refused)

    result = await probe_broker("127.0.0.1", 1883, timeout=1)

    assert result == ProbeResult(
        ProbeOutcome.UNREACHABLE, detail="ConnectionRefusedError"
    )


# --- not MQTT ---------------------------------------------------------------------------


async def test_server_answering_garbage_is_not_mqtt(tcp_server: ServerFactory) -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    port = await tcp_server(http)

    result = await probe_broker("127.0.0.1", port, timeout=2)

    assert result == ProbeResult(
        ProbeOutcome.NOT_MQTT, detail="answer is not a CONNACK"
    )


async def test_server_answering_a_connack_of_the_wrong_length_is_not_mqtt(
    tcp_server: ServerFactory,
) -> None:
    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_connect(reader)
        writer.write(b"\x20\x03\x00\x00\x00")
        await writer.drain()

    port = await tcp_server(odd)

    result = await probe_broker("127.0.0.1", port, timeout=2)

    assert result.outcome is ProbeOutcome.NOT_MQTT


@pytest.mark.parametrize("answer", [b"", b"\x20", b"\x20\x02\x00"])
async def test_server_closing_before_a_full_connack_is_not_mqtt(
    tcp_server: ServerFactory, answer: bytes
) -> None:
    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_connect(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    port = await tcp_server(hang_up)

    result = await probe_broker("127.0.0.1", port, timeout=2)

    assert result == ProbeResult(
        ProbeOutcome.NOT_MQTT, detail="connection closed without CONNACK"
    )


async def test_silent_server_is_not_mqtt_after_the_timeout(
    tcp_server: ServerFactory,
) -> None:
    async def silent(
        reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # until the probe gives up and closes

    port = await tcp_server(silent)

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await probe_broker("127.0.0.1", port, timeout=0.2)

    assert result == ProbeResult(ProbeOutcome.NOT_MQTT, detail="no CONNACK in time")
    assert 0.15 <= loop.time() - started < 2


# --- the packet ---------------------------------------------------------------------------


async def test_probe_sends_an_anonymous_mqtt_311_connect_and_disconnects(
    tcp_server: ServerFactory,
) -> None:
    received: list[bytes] = []

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        received.append(await read_connect(reader))
        writer.write(b"\x20\x02\x00\x00")
        await writer.drain()
        received.append(await reader.read())  # what follows, until the probe closes

    port = await tcp_server(broker)

    result = await probe_broker("127.0.0.1", port, timeout=2)
    for _ in range(100):  # let the server read to the end
        if len(received) == 2:
            break
        await asyncio.sleep(0.01)

    assert result.outcome is ProbeOutcome.ACCEPTED
    packet, after = received
    assert packet[0] == 0x10  # CONNECT
    assert packet[1] == len(packet) - 2  # remaining length
    assert packet[2:8] == b"\x00\x04MQTT"  # protocol name
    assert packet[8] == 4  # protocol level: MQTT 3.1.1
    flags = packet[9]
    assert flags == 0x02  # clean session only
    assert not flags & 0x80  # no username
    assert not flags & 0x40  # no password
    assert not flags & 0x04  # no will
    assert int.from_bytes(packet[10:12], "big") == 10  # keep-alive seconds
    client_id_length = int.from_bytes(packet[12:14], "big")
    client_id = packet[14:].decode()
    assert len(client_id) == client_id_length
    assert client_id.startswith("novabot-probe-")
    assert len(packet) == 14 + client_id_length  # nothing after the client id
    assert after == b"\xe0\x00"  # DISCONNECT


async def test_refused_probe_does_not_send_disconnect(
    tcp_server: ServerFactory,
) -> None:
    received: list[bytes] = []

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_connect(reader)
        writer.write(b"\x20\x02\x00\x04")
        await writer.drain()
        received.append(await reader.read())

    port = await tcp_server(broker)

    result = await probe_broker("127.0.0.1", port, timeout=2)
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.01)

    assert result == ProbeResult(ProbeOutcome.REFUSED, return_code=4)
    assert result.login_required
    assert received == [b""]


@pytest.mark.parametrize(
    ("code", "login"), [(1, False), (2, False), (3, False), (4, True), (5, True)]
)
async def test_login_required_only_for_bad_credentials_or_not_authorised(
    tcp_server: ServerFactory, code: int, login: bool
) -> None:
    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_connect(reader)
        writer.write(bytes([0x20, 0x02, 0x00, code]))
        await writer.drain()

    port = await tcp_server(broker)

    result = await probe_broker("127.0.0.1", port, timeout=2)

    assert result.outcome is ProbeOutcome.REFUSED
    assert result.return_code == code
    assert result.login_required is login


def test_session_present_flag_is_ignored() -> None:
    assert ProbeResult(ProbeOutcome.ACCEPTED, 0).login_required is False


def test_long_client_id_uses_a_two_byte_remaining_length() -> None:
    packet = connect_packet("c" * 200)

    remaining = (packet[1] & 0x7F) + (packet[2] << 7)
    assert packet[1] & 0x80
    assert remaining == len(packet) - 3 == 12 + 200
    assert packet[3:9] == b"\x00\x04MQTT"


async def test_probe_leaves_no_connection_open(tcp_server: ServerFactory) -> None:
    closed = asyncio.Event()

    async def broker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_connect(reader)
        writer.write(b"\x20\x02\x00\x00")
        await writer.drain()
        with contextlib.suppress(ConnectionError):
            await reader.read()
        closed.set()

    port = await tcp_server(broker)

    await probe_broker("127.0.0.1", port, timeout=2)

    await asyncio.wait_for(closed.wait(), 2)


def test_mosquitto_helper_reports_a_broker_that_cannot_start(
    socket_enabled: None,
) -> None:
    from tests.mosquitto import Mosquitto

    with Mosquitto() as running:
        clash = Mosquitto(port=running.port)

        with pytest.raises(RuntimeError, match="mosquitto exited") as err:
            clash.start()

        assert "Address already in use" in str(err.value)
        assert not clash.running
        assert clash.log() == ""  # its files are gone
        assert running.running
