"""The broker probe: no login and a made-up one, against real Mosquitto and fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from pathlib import Path
import socket
from typing import TYPE_CHECKING, Any

import pytest

from custom_components.novabot.protocol import (
    ANONYMOUS_LOGIN,
    Admission,
    ChargerLogin,
    ProbeOutcome,
    ProbeResult,
    arbitrary_login,
    probe_broker,
    probe_charger_logins,
)
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


class FakeBroker:
    """A server that reads a CONNECT, writes ``answer``, and records what follows."""

    def __init__(self, answer: bytes, *, hang_up: bool = False) -> None:
        self.answer = answer
        self.hang_up = hang_up
        self.connect = b""
        self.after: bytes | None = None  # what the probe sent after the answer
        self.done = asyncio.Event()

    async def __call__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connect = await read_connect(reader)
        writer.write(self.answer)
        await writer.drain()
        if self.hang_up:
            writer.close()
        else:
            with contextlib.suppress(ConnectionError):
                self.after = await reader.read()  # until the probe closes
        self.done.set()


type BrokerFactory = Callable[..., Awaitable[tuple[int, FakeBroker]]]


@pytest.fixture
def fake_broker(tcp_server: ServerFactory) -> BrokerFactory:
    """Start a :class:`FakeBroker`; its port and itself."""

    async def start(answer: bytes, *, hang_up: bool = False) -> tuple[int, FakeBroker]:
        broker = FakeBroker(answer, hang_up=hang_up)
        return await tcp_server(broker), broker

    return start


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


# --- any login ----------------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"
ACCEPTED = ProbeResult(ProbeOutcome.ACCEPTED, return_code=0)
NOT_AUTHORISED = ProbeResult(ProbeOutcome.REFUSED, return_code=5)
SERIAL = "LFIC1230700123"
# The ways chargers may log in: none (v0.3.6); what v0.4.0 sends is disputed:
# one charger's cloud account, its serial number, or anything at all.
EVERY_LOGIN = {
    "anonymous": ANONYMOUS_LOGIN,
    "li9hep19": ChargerLogin("v0.4.0", "li9hep19", "jzd4wac6"),
    "serial number": ChargerLogin("v0.4.0", SERIAL),
    "random": ChargerLogin("v0.4.0", "rnd-7f3a9c", "Zq8-lK2x"),
}


def test_the_probe_has_no_fixed_login_of_a_charger() -> None:
    # li9hep19 is one charger's cloud account: probing with it proves nothing.
    first, second = arbitrary_login(), arbitrary_login()

    assert (ANONYMOUS_LOGIN.username, ANONYMOUS_LOGIN.password) == (None, None)
    assert first.username
    assert first.password
    assert (first.username, first.password) != (second.username, second.password)
    assert "li9hep19" not in {first.username, second.username}
    assert "jzd4wac6" not in repr(first)
    assert first.password not in repr(first)


async def test_the_probe_connects_without_a_login_and_with_a_made_up_one(
    tcp_server: ServerFactory,
) -> None:
    connects: list[bytes] = []

    async def accept(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connects.append(await read_connect(reader))
        writer.write(b"\x20\x02\x00\x00")
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the probe closes

    port = await tcp_server(accept)

    first = await probe_charger_logins("127.0.0.1", port, timeout=2)
    second = await probe_charger_logins("127.0.0.1", port, timeout=2)

    assert first.admits_every_charger
    logins = [*first.results, *second.results]
    assert logins[0] == logins[2] == ANONYMOUS_LOGIN
    assert logins[1] != logins[3]  # made up again for each probe
    flags = sorted(packet[9] for packet in connects)
    assert flags == [0x02, 0x02, 0xC2, 0xC2]  # none; username and password
    made_up = [packet for packet in connects if packet[9] == 0xC2]
    assert made_up[0] != made_up[1]


@pytest.mark.parametrize(
    ("broker", "refused"),
    [
        ({"allow_anonymous": True}, ()),
        # Anonymous clients welcome, but a password file: a charger that logs in
        # with a name the file lacks is refused, so no direct mode.
        ({"allow_anonymous": True, "users": {"homeassistant": "pw"}}, ("v0.4.0",)),
        (
            {"allow_anonymous": False, "users": {"homeassistant": "pw"}},
            ("v0.3.6", "v0.4.0"),
        ),
        # Knowing li9hep19 proves nothing: it is one charger's account.
        (
            {"allow_anonymous": False, "users": {"li9hep19": "jzd4wac6"}},
            ("v0.3.6", "v0.4.0"),
        ),
    ],
    ids=[
        "anonymous-without-password-file-admits-any-login",
        "password-file-refuses-a-login-it-does-not-know",
        "like-the-addon-refuses-both",
        "a-broker-knowing-li9hep19-is-not-enough",
    ],
)
async def test_direct_mode_only_for_a_broker_that_admits_any_login(
    mosquitto_factory: MosquittoFactory,
    broker: dict[str, Any],
    refused: tuple[str, ...],
) -> None:
    mosquitto = mosquitto_factory(**broker)

    admission = await probe_charger_logins(mosquitto.host, mosquitto.port)

    assert tuple(login.firmware for login in admission.refused_logins) == refused
    assert admission.admits_every_charger is (refused == ())
    assert admission.failure is None
    assert all(
        admission.results[login] == NOT_AUTHORISED for login in admission.refused_logins
    )


def readme_block(first_line: str) -> str:
    """The README code block that starts with ``first_line``."""
    for block in README.read_text().split("```")[1::2]:
        body = block.split("\n", 1)[1]
        if body.startswith(first_line):
            return body
    raise AssertionError(f"no README code block starts with {first_line!r}")


@pytest.fixture
def readme_broker(mosquitto_factory: MosquittoFactory) -> tuple[Mosquitto, int]:
    """Mosquitto with the README's direct-mode configuration, on free ports.

    Its main listener (1883 in the README) is the broker's port, the chargers'
    (1884) the second value; only ports, addresses and paths are adapted.
    """
    from tests.mosquitto import free_port

    chargers_port = free_port()
    config = (
        readme_block("# /etc/mosquitto/conf.d/novabot.conf")
        .replace("listener 1883", "listener {port} 127.0.0.1")
        .replace("listener 1884", f"listener {chargers_port} 127.0.0.1")
        .replace("/etc/mosquitto/passwd", "{directory}/passwords")
        .replace("/etc/mosquitto/", "{directory}/")
    )
    broker = mosquitto_factory(
        config=config,
        users={"homeassistant": "pw"},
        files={"novabot.acl": readme_block("# /etc/mosquitto/novabot.acl")},
    )
    return broker, chargers_port


async def test_the_readme_direct_mode_broker_passes_the_probe(
    readme_broker: tuple[Mosquitto, int],
) -> None:
    broker, chargers_port = readme_broker

    admission = await probe_charger_logins(broker.host, chargers_port)

    assert admission.admits_every_charger


@pytest.mark.parametrize("login", EVERY_LOGIN.values(), ids=EVERY_LOGIN)
async def test_the_readme_direct_mode_broker_admits_any_login_to_dart_only(
    readme_broker: tuple[Mosquitto, int], login: ChargerLogin
) -> None:
    broker, chargers_port = readme_broker

    received = await topics_relayed(
        broker,
        chargers_port,
        login,
        [
            "homeassistant/status",
            "homeassistant/sensor/x/config",
            f"Dart/Receive_mqtt/{SERIAL}",
        ],
    )

    # Messages its ACL denies never reach Home Assistant: the first to arrive
    # is the last one published, the charger's report.
    assert received == f"Dart/Receive_mqtt/{SERIAL}"


async def topics_relayed(
    broker: Mosquitto, chargers_port: int, login: ChargerLogin, topics: list[str]
) -> str:
    """The charger publishes to ``topics``; what Home Assistant receives first.

    Home Assistant logs in on the main listener and subscribes to everything.
    """
    home_assistant = await mqtt_session(
        broker.host,
        broker.port,
        "acl-home-assistant",
        ChargerLogin("-", "homeassistant", "pw"),
    )
    charger = await mqtt_session(broker.host, chargers_port, "ESP32_1a2b3c", login)
    try:
        reader, writer = home_assistant
        body = (1).to_bytes(2) + utf8("#") + b"\x00"
        writer.write(bytes([0x82, len(body)]) + body)
        assert (await reader.readexactly(5))[:2] == b"\x90\x03"  # SUBACK
        for topic in topics:
            publish = utf8(topic) + b"payload"
            charger[1].write(bytes([0x30, len(publish)]) + publish)
        header = await asyncio.wait_for(reader.readexactly(2), 5)
        body = await reader.readexactly(header[1])
        return body[2 : 2 + int.from_bytes(body[:2])].decode()
    finally:
        for _, session_writer in (charger, home_assistant):
            session_writer.close()
            await session_writer.wait_closed()


def utf8(value: str) -> bytes:
    return len(value.encode()).to_bytes(2) + value.encode()


async def mqtt_session(
    host: str, port: int, client_id: str, login: ChargerLogin
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connected MQTT 3.1.1 session."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(client_id, login))
    assert await reader.readexactly(4) == b"\x20\x02\x00\x00"
    return reader, writer


@pytest.mark.parametrize("login", EVERY_LOGIN.values(), ids=EVERY_LOGIN)
async def test_mosquitto_answers_a_connect_half_closed_right_after(
    mosquitto: Mosquitto, login: ChargerLogin
) -> None:
    # Stock chargers send FIN right after their CONNECT; the broker must answer.
    reader, writer = await asyncio.open_connection(mosquitto.host, mosquitto.port)
    writer.write(connect_packet("ESP32_1a2b3c", login))
    writer.write_eof()

    assert await asyncio.wait_for(reader.readexactly(4), 5) == (b"\x20\x02\x00\x00")
    writer.close()
    await writer.wait_closed()


MADE_UP = arbitrary_login()


@pytest.mark.parametrize(
    ("results", "direct", "refused", "failure"),
    [
        ((ACCEPTED, ACCEPTED), True, (), None),
        ((NOT_AUTHORISED, ACCEPTED), False, (ANONYMOUS_LOGIN,), None),
        (
            (ACCEPTED, ProbeResult(ProbeOutcome.REFUSED, return_code=4)),
            False,
            (MADE_UP,),
            None,
        ),
        (
            (ProbeResult(ProbeOutcome.REFUSED, return_code=3), NOT_AUTHORISED),
            False,
            (MADE_UP,),
            ProbeResult(ProbeOutcome.REFUSED, return_code=3),
        ),
        (
            (NOT_AUTHORISED, ProbeResult(ProbeOutcome.NOT_MQTT)),
            False,
            (ANONYMOUS_LOGIN,),
            ProbeResult(ProbeOutcome.NOT_MQTT),
        ),
        (
            (ProbeResult(ProbeOutcome.UNREACHABLE),) * 2,
            False,
            (),
            ProbeResult(ProbeOutcome.UNREACHABLE),
        ),
    ],
    ids=["both", "none refused", "made-up refused", "refused 3", "not mqtt", "nobody"],
)
def test_admission_summarises_both_results(
    results: tuple[ProbeResult, ProbeResult],
    direct: bool,
    refused: tuple[Any, ...],
    failure: ProbeResult | None,
) -> None:
    admission = Admission(dict(zip((ANONYMOUS_LOGIN, MADE_UP), results, strict=True)))

    assert admission.admits_every_charger is direct
    assert admission.refused_logins == refused
    assert admission.failure == failure


async def test_a_login_probe_sends_its_username_and_password(
    fake_broker: BrokerFactory,
) -> None:
    port, broker = await fake_broker(b"\x20\x02\x00\x00")

    result = await probe_broker("127.0.0.1", port, EVERY_LOGIN["li9hep19"], timeout=2)

    assert result.outcome is ProbeOutcome.ACCEPTED
    packet = broker.connect
    assert packet[9] == 0xC2  # username, password, clean session
    client_id_length = int.from_bytes(packet[12:14])
    payload = packet[14 + client_id_length :]
    assert payload == b"\x00\x08li9hep19\x00\x08jzd4wac6"


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


@pytest.mark.parametrize(
    ("answer", "hang_up", "detail"),
    [
        (b"\x20\x03\x00\x00\x00", False, "answer is not a CONNACK"),  # wrong length
        (b"", True, "connection closed without CONNACK"),
        (b"\x20", True, "connection closed without CONNACK"),
        (b"\x20\x02\x00", True, "connection closed without CONNACK"),
    ],
    ids=["wrong-length", "nothing", "one-byte", "three-bytes"],
)
async def test_what_is_not_a_whole_connack_is_not_mqtt(
    fake_broker: BrokerFactory, answer: bytes, hang_up: bool, detail: str
) -> None:
    port, _ = await fake_broker(answer, hang_up=hang_up)

    result = await probe_broker("127.0.0.1", port, timeout=2)

    assert result == ProbeResult(ProbeOutcome.NOT_MQTT, detail=detail)


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
    fake_broker: BrokerFactory,
) -> None:
    port, broker = await fake_broker(b"\x20\x02\x00\x00")

    result = await probe_broker("127.0.0.1", port, timeout=2)
    await asyncio.wait_for(broker.done.wait(), 2)

    assert result.outcome is ProbeOutcome.ACCEPTED
    packet = broker.connect
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
    assert broker.after == b"\xe0\x00"  # DISCONNECT, then the probe closes


async def test_refused_probe_does_not_send_disconnect(
    fake_broker: BrokerFactory,
) -> None:
    port, broker = await fake_broker(b"\x20\x02\x00\x04")

    result = await probe_broker("127.0.0.1", port, timeout=2)
    await asyncio.wait_for(broker.done.wait(), 2)

    assert result == ProbeResult(ProbeOutcome.REFUSED, return_code=4)
    assert result.login_required
    assert broker.after == b""


@pytest.mark.parametrize(
    ("code", "login"), [(1, False), (2, False), (3, False), (4, True), (5, True)]
)
async def test_login_required_only_for_bad_credentials_or_not_authorised(
    fake_broker: BrokerFactory, code: int, login: bool
) -> None:
    port, _ = await fake_broker(bytes([0x20, 0x02, 0x00, code]))

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


async def test_probe_leaves_no_connection_open(fake_broker: BrokerFactory) -> None:
    port, broker = await fake_broker(b"\x20\x02\x00\x00")

    await probe_broker("127.0.0.1", port, timeout=2)

    await asyncio.wait_for(broker.done.wait(), 2)  # the probe closed its side


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
