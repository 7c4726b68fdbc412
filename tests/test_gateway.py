"""The gateway, exercised over real loopback sockets.

Chargers are played by paho-mqtt in the charger's shape (MQTT 3.1.1, no
credentials, client id ``ESP32_1a2b3c``) driven by the test's event loop (no
thread), or by raw sockets where a real client would not misbehave enough.
Home Assistant's MQTT is the harness's mock: ``mqtt_mock.async_publish``
records what is relayed up, ``async_fire_mqtt_message`` plays a command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
import contextlib
import errno
import logging
import socket
from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock, MagicMock, patch

from homeassistant.components import mqtt
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.exceptions import HomeAssistantError
from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.gateway import (
    DATA_GATEWAY,
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    Disconnect,
    Drop,
    GatewayError,
    GatewayMqttUnavailableError,
    GatewayPortInUseError,
    GatewayStartError,
    async_get_gateway_diagnostics,
    async_use_gateway,
    broker,
    connection,
    limits,
)
from custom_components.novabot.protocol import CHARGER_LOGINS, ChargerLogin
from custom_components.novabot.protocol.broker import (
    connect_packet as charger_connect_packet,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from paho.mqtt.reasoncodes import ReasonCode
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from custom_components.novabot.gateway.broker import NovabotGateway

SN = "LFIC1230700123"
OTHER_SN = "LFIC1230700999"
CLIENT_ID = "ESP32_1a2b3c"
LOOPBACK = "127.0.0.1"
STATUS = f"Dart/Receive_mqtt/{SN}"
COMMAND = f"Dart/Send_mqtt/{SN}"
# What an encrypting charger sends: not UTF-8, must arrive byte for byte.
REPORT = bytes(range(256)) + b'{"up_status_info":{"charger_status":285212929}}'

type Release = Callable[[], Awaitable[None]]


# Helpers.


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (the gateway let it go)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
            sock.listen()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            return False
        return True


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - counters change in many places
            await asyncio.sleep(0.01)


def packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT packet: fixed header (with varint length) and body."""
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def utf8(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    client_id: str = "raw", keepalive: int = 60, name: bytes = b"MQTT", level: int = 4
) -> bytes:
    """An anonymous clean-session CONNECT."""
    return packet(
        0x10,
        utf8(name) + bytes([level, 0x02]) + keepalive.to_bytes(2) + utf8(client_id),
    )


def publish_packet(topic: str, payload: bytes) -> bytes:
    return packet(0x30, utf8(topic) + payload)


def counters(hass: HomeAssistant) -> dict[str, Any]:
    result: dict[str, Any] = async_get_gateway_diagnostics(hass)["counters"]
    return result


def dropped(hass: HomeAssistant, reason: str) -> int:
    count: int = counters(hass)["dropped"].get(reason, 0)
    return count


def relayed_up(mqtt_mock: MqttMockHAClient) -> list[tuple[Any, ...]]:
    """(topic, payload, qos, retain) of every report published on Home Assistant's MQTT."""
    return [
        tuple(call.args[:4])
        for call in mqtt_mock.async_publish.call_args_list
        if call.args[0].startswith("Dart/Receive_mqtt/")
    ]


def running_gateway(hass: HomeAssistant) -> NovabotGateway:
    gateway = hass.data[DATA_GATEWAY].gateway
    assert gateway is not None
    return gateway


class PahoCharger:
    """A paho-mqtt client shaped like the charger, driven by the running loop.

    paho's external-loop callbacks register its socket with asyncio, so no
    thread is started and nothing outlives ``close()``.
    """

    def __init__(self, port: int, client_id: str = CLIENT_ID) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        self.connack: asyncio.Future[ReasonCode] = self.loop.create_future()
        self.disconnected = asyncio.Event()
        self.messages: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        client = self.client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    def _on_socket_open(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)

    def _on_socket_close(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def _on_register_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _on_connect(self, *args: Any) -> None:
        if not self.connack.done():
            self.connack.set_result(args[3])

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    def _on_message(self, client: paho.Client, _: Any, message: Any) -> None:
        self.messages.put_nowait(message)

    def _on_subscribe(self, *args: Any) -> None:
        self._subacks.pop(args[2]).set_result(args[3])

    async def connect(self) -> ReasonCode:
        # Connecting over loopback does not block for any noticeable time.
        self.client.connect(LOOPBACK, self.port, keepalive=60)
        async with asyncio.timeout(5):
            return await self.connack

    async def subscribe(self, *topics: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe([(topic, 1) for topic in topics])
        future = self._subacks[mid] = self.loop.create_future()
        async with asyncio.timeout(5):
            return await future

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0)

    async def receive(self) -> paho.MQTTMessage:
        async with asyncio.timeout(5):
            return await self.messages.get()

    async def wait_disconnected(self) -> None:
        async with asyncio.timeout(5):
            await self.disconnected.wait()

    async def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
            await self.wait_disconnected()
        if (sock := self.client.socket()) is not None:  # never got connected
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
            sock.close()


class RawClient:
    """A client on a plain socket, for what a real MQTT client would not send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection(LOOPBACK, port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def connect(self, client_id: str = "raw", keepalive: int = 60) -> bytes:
        await self.send(connect_packet(client_id, keepalive))
        async with asyncio.timeout(5):
            return await self.reader.readexactly(4)

    async def wait_closed_by_peer(self, timeout: float = 5.0) -> bytes:
        """Everything the server sent until it closed the connection."""
        async with asyncio.timeout(timeout):
            return await self.reader.read()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


# Fixtures.


@pytest.fixture
def port(socket_enabled: None) -> int:
    """A free loopback port for the gateway (never the default 1885)."""
    return free_port()


@pytest.fixture
async def release(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> AsyncGenerator[Release]:
    """The gateway running on ``port`` with SN admitted; released afterwards."""
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    yield release
    await release()


@pytest.fixture
async def clients(
    release: Release, port: int
) -> AsyncGenerator[Callable[..., Awaitable[PahoCharger]]]:
    """Connect paho chargers to the gateway; all closed before it stops."""
    opened: list[PahoCharger] = []

    async def connect(client_id: str = CLIENT_ID) -> PahoCharger:
        charger = PahoCharger(port, client_id)
        opened.append(charger)
        reason = await charger.connect()
        assert not reason.is_failure, reason
        return charger

    yield connect
    for charger in opened:
        await charger.close()


@pytest.fixture
async def raw(
    release: Release, port: int
) -> AsyncGenerator[Callable[[], Awaitable[RawClient]]]:
    """Open raw connections to the gateway; all closed afterwards."""
    opened: list[RawClient] = []

    async def open_client() -> RawClient:
        client = await RawClient.open(port)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


# Relay.


async def test_charger_report_is_relayed_byte_for_byte(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """A report from the charger is published on Home Assistant's MQTT, unchanged."""
    charger = await clients()
    charger.publish(STATUS, REPORT)
    charger.publish(STATUS, b"")

    await wait_until(lambda: counters(hass)["relayed_up"] == 2)
    assert relayed_up(mqtt_mock) == [
        (STATUS, REPORT, 0, False),
        (STATUS, b"", 0, False),
    ]
    assert isinstance(relayed_up(mqtt_mock)[0][1], bytes)


@pytest.mark.parametrize("login", CHARGER_LOGINS, ids=lambda login: login.firmware)
async def test_both_ways_chargers_log_in_are_admitted(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, raw: Any, login: ChargerLogin
) -> None:
    """Anonymous (v0.3.6) and the fixed login (v0.4.0) alike."""
    client = await raw()

    await client.send(charger_connect_packet(CLIENT_ID, login))
    async with asyncio.timeout(5):
        assert await client.reader.readexactly(4) == b"\x20\x02\x00\x00"
    await client.send(publish_packet(STATUS, REPORT))

    await wait_until(lambda: relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)])


@pytest.mark.parametrize("login", CHARGER_LOGINS, ids=lambda login: login.firmware)
async def test_a_charger_that_half_closes_right_after_connect_gets_its_connack(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, raw: Any, login: ChargerLogin
) -> None:
    """Stock chargers send FIN right after CONNECT; the gateway still answers."""
    client = await raw()

    await client.send(charger_connect_packet(CLIENT_ID, login))
    client.writer.write_eof()

    assert (await client.wait_closed_by_peer()).startswith(b"\x20\x02\x00\x00")
    assert counters(hass)["dropped"] == {}


async def test_command_reaches_the_charger(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """A command on Home Assistant's MQTT reaches the subscribed charger at QoS 1."""
    charger = await clients()
    assert not any(code.is_failure for code in await charger.subscribe(COMMAND))

    command = b'{"ota_version_info":null}'
    async_fire_mqtt_message(hass, COMMAND, command)
    message = await charger.receive()

    assert (message.topic, message.payload, message.qos) == (COMMAND, command, 1)
    assert counters(hass)["relayed_down"] == 1


async def test_no_loops_and_no_duplicates(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """Up stays up, down stays down, and each message crosses exactly once."""
    charger = await clients()
    await charger.subscribe(COMMAND)

    charger.publish(STATUS, REPORT)
    await wait_until(lambda: counters(hass)["relayed_up"] == 1)
    # A command published on Home Assistant's MQTT, as the coordinator does:
    # the mocked broker echoes it to the gateway's subscription.
    await mqtt.async_publish(hass, COMMAND, b"command")
    message = await charger.receive()
    await asyncio.sleep(0.3)  # time for a loop or a duplicate to show up

    assert message.payload == b"command"
    assert charger.messages.empty()  # the report did not come back down
    assert relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)]  # nor went up twice
    assert counters(hass)["relayed_up"] == 1
    assert counters(hass)["relayed_down"] == 1


async def test_two_chargers_share_the_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int, socket_enabled: None
) -> None:
    """Concurrent users get one gateway; releasing one withdraws only its charger."""
    release_first, release_other = await asyncio.gather(
        async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK),
        async_use_gateway(hass, OTHER_SN, port=port, bind_address=LOOPBACK),
    )
    diagnostics = async_get_gateway_diagnostics(hass)
    assert diagnostics["admitted_serial_numbers"] == sorted([SN, OTHER_SN])

    charger = PahoCharger(port)
    try:
        await charger.connect()
        await charger.subscribe(COMMAND)
        await release_first()
        assert running_gateway(hass).serial_numbers == {OTHER_SN}

        charger.publish(STATUS, REPORT)
        await wait_until(lambda: dropped(hass, Drop.UNKNOWN_SERIAL) == 1)
        async_fire_mqtt_message(hass, COMMAND, b"command")  # no longer relayed
        charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"other")
        await wait_until(lambda: counters(hass)["relayed_up"] == 1)
        assert charger.messages.empty()
        assert counters(hass)["relayed_down"] == 0
    finally:
        await charger.close()
        await release_other()
    assert port_is_free(port)


async def test_relay_failures_are_counted(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Home Assistant's MQTT refusing, a backlog, a command nobody hears, a huge one."""
    charger = await clients()
    with patch.object(
        broker.mqtt, "async_publish", side_effect=HomeAssistantError("not connected")
    ):
        charger.publish(STATUS, REPORT)
        await wait_until(lambda: dropped(hass, Drop.MQTT_UNAVAILABLE) == 1)

    monkeypatch.setattr(limits, "MAX_UPLINK_IN_FLIGHT", 0)
    charger.publish(STATUS, REPORT)
    await wait_until(lambda: dropped(hass, Drop.UPLINK_BACKLOG) == 1)

    async_fire_mqtt_message(hass, COMMAND, b"command")  # charger not subscribed
    assert dropped(hass, Drop.CHARGER_NOT_CONNECTED) == 1
    await charger.subscribe(COMMAND)
    async_fire_mqtt_message(hass, COMMAND, b"x" * limits.MAX_PACKET_SIZE)
    assert dropped(hass, Drop.COMMAND_TOO_LARGE) == 1
    await asyncio.sleep(0.1)
    assert charger.messages.empty()
    assert counters(hass)["relayed_up"] == counters(hass)["relayed_down"] == 0


# Rules.


async def test_foreign_topics_and_unknown_serial_numbers_are_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """Only Dart/Receive_mqtt/<admitted SN> goes up; the rest is counted."""
    charger = await clients()
    charger.publish("homeassistant/switch/x/set", b"ON")
    charger.publish(COMMAND, b"pretend to be Home Assistant")
    charger.publish(f"{STATUS}/extra", b"{}")
    charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"{}")
    charger.publish(STATUS, REPORT)  # the connection survives a few mistakes

    await wait_until(lambda: counters(hass)["relayed_up"] == 1)
    assert dropped(hass, Drop.FOREIGN_TOPIC) == 3
    assert dropped(hass, Drop.UNKNOWN_SERIAL) == 1
    assert relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)]
    assert charger.client.is_connected()


async def test_only_the_own_command_topic_can_be_subscribed(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """Other subscriptions are refused in the SUBACK, counted, and hear nothing."""
    charger = await clients()
    codes = await charger.subscribe(
        "#",
        "Dart/Send_mqtt/+",
        STATUS,
        f"{COMMAND}/x",
        f"Dart/Send_mqtt/{OTHER_SN}",
        COMMAND,
    )
    assert [code.is_failure for code in codes] == [True] * 5 + [False]
    assert dropped(hass, Drop.FORBIDDEN_SUBSCRIPTION) == 4
    assert dropped(hass, Drop.UNKNOWN_SERIAL) == 1

    # The refused subscription to the status topic does not leak reports.
    other = await clients("ESP32_other")
    other.publish(STATUS, REPORT)
    await wait_until(lambda: counters(hass)["relayed_up"] == 1)
    await asyncio.sleep(0.1)
    assert charger.messages.empty()
    gateway = running_gateway(hass)
    assert not gateway.topic_allowed(None, None, broker.Action.SUBSCRIBE)


async def test_oversized_packets_are_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """A packet over 4 KiB is skipped unread; the next one is relayed."""
    charger = await clients()
    overhead = len(publish_packet(STATUS, b"x" * 200)) - 200  # 3-byte fixed header
    largest = b"x" * (limits.MAX_PACKET_SIZE - overhead)
    charger.publish(STATUS, largest + b"x")
    charger.publish(STATUS, b"x" * 100_000)
    charger.publish(STATUS, largest)

    await wait_until(lambda: counters(hass)["relayed_up"] == 1)
    assert dropped(hass, Drop.OVERSIZED) == 2
    assert relayed_up(mqtt_mock) == [(STATUS, largest, 0, False)]

    for _ in range(limits.MAX_VIOLATIONS - 2):  # they add up like any violation
        charger.publish(STATUS, largest + b"x")
    await charger.wait_disconnected()
    assert dropped(hass, Drop.OVERSIZED) == limits.MAX_VIOLATIONS
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}


async def test_a_burst_over_the_rate_is_trimmed(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """Beyond the burst, packets are dropped; a short burst does not disconnect."""
    charger = await clients()
    for index in range(15):
        charger.publish(STATUS, str(index).encode())

    await wait_until(
        lambda: counters(hass)["relayed_up"] + dropped(hass, Drop.RATE_LIMITED) == 15
    )
    assert dropped(hass, Drop.RATE_LIMITED) >= 15 - limits.RATE_BURST - 2
    assert charger.client.is_connected()
    # The first ones went through, in order.
    payloads = [call[1] for call in relayed_up(mqtt_mock)]
    assert payloads == [str(index).encode() for index in range(len(payloads))]


async def test_a_flood_disconnects_the_client(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """A client that keeps flooding is disconnected after MAX_VIOLATIONS drops."""
    charger = await clients()
    for _ in range(200):
        charger.publish(STATUS, b"{}")

    await charger.wait_disconnected()
    assert dropped(hass, Drop.RATE_LIMITED) == limits.MAX_VIOLATIONS
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}
    assert counters(hass)["relayed_up"] <= limits.RATE_BURST + 2


async def test_a_persistent_offender_is_disconnected(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twenty forbidden publishes, however slow, end the session."""
    monkeypatch.setattr(limits, "RATE_BURST", 1000)  # isolate the topic rule
    charger = await clients()
    for _ in range(limits.MAX_VIOLATIONS - 1):
        charger.publish("not/for/you", b"{}")
    await wait_until(
        lambda: dropped(hass, Drop.FOREIGN_TOPIC) == limits.MAX_VIOLATIONS - 1
    )
    assert charger.client.is_connected()

    for _ in range(10):  # some of these are still in amqtt's hands at the kick
        charger.publish("not/for/you", b"{}")
    await charger.wait_disconnected()
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}
    await wait_until(lambda: async_get_gateway_diagnostics(hass)["clients"] == [])


# Connections.


async def test_the_ninth_client_is_refused(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """Eight clients at most; the ninth gets CONNACK "server unavailable"."""
    chargers = [
        await clients(f"ESP32_{index:06x}") for index in range(limits.MAX_CLIENTS)
    ]

    refused = PahoCharger(chargers[0].port, "ESP32_ninth")
    try:
        reason = await refused.connect()
        assert reason.is_failure
        assert reason.value == 136  # paho's name for 3.1.1 return code 3
        await refused.wait_disconnected()
    finally:
        await refused.close()
    assert dropped(hass, Drop.TOO_MANY_CLIENTS) == 1

    await chargers[0].close()
    await wait_until(
        lambda: len(running_gateway(hass)._connections) < limits.MAX_CLIENTS
    )
    await clients("ESP32_later")  # a slot is free again


async def test_a_connection_flood_is_closed_without_reading(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the limit, a few clients get an answer; the rest are simply closed."""
    monkeypatch.setattr(limits, "REFUSE_TIMEOUT", 10.0)
    for index in range(limits.MAX_CLIENTS):
        assert await (await raw()).connect(f"raw{index}") == b"\x20\x02\x00\x00"
    waiting = [await raw() for _ in range(limits.MAX_CLIENTS)]  # send nothing
    await wait_until(lambda: running_gateway(hass)._refusing == limits.MAX_CLIENTS)

    flood = await raw()
    assert await flood.wait_closed_by_peer(timeout=2) == b""
    assert dropped(hass, Drop.TOO_MANY_CLIENTS) == limits.MAX_CLIENTS + 1

    await waiting[0].send(connect_packet("late"))
    assert await waiting[0].wait_closed_by_peer() == b"\x20\x02\x00\x03"
    await waiting[1].send(b"GET / HTTP/1.1\r\n\r\n")
    assert await waiting[1].wait_closed_by_peer() == b""
    await waiting[2].send(b"\x10\x05")
    await waiting[2].close()
    await wait_until(lambda: running_gateway(hass)._refusing == limits.MAX_CLIENTS - 3)


async def test_a_silent_connection_is_counted_not_logged(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A port scan or health check leaves a counter, not an error in the log."""
    caplog.set_level(logging.DEBUG)
    client = await raw()
    await client.close()
    await wait_until(lambda: dropped(hass, Drop.NO_DATA) == 1)
    await asyncio.sleep(0.1)

    assert not [
        record for record in caplog.records if record.levelno >= logging.WARNING
    ]


async def test_amqtt_no_data_error_is_filtered_while_running(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Should amqtt ever log its no-data error, it is counted instead."""
    amqtt_logger = logging.getLogger("amqtt.broker")
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    amqtt_logger.error("No data from 127.0.0.1:4242 : No more data")
    amqtt_logger.warning("Failed to initialize client session: No more data")
    amqtt_logger.warning("Something else")
    assert dropped(hass, Drop.NO_DATA) == 1
    await release()
    amqtt_logger.error("No data from 127.0.0.1:4243 : No more data")

    messages = [
        record.getMessage()
        for record in caplog.records
        if record.name == "amqtt.broker" and record.levelno >= logging.WARNING
    ]
    assert messages == ["Something else", "No data from 127.0.0.1:4243 : No more data"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (Drop.NOT_MQTT, b"")),
        (b"\x16\x03\x01\x02\x00\x01", (Drop.NOT_MQTT, b"")),  # a TLS hello
        (packet(0x10, utf8(b"MQTT")), (Drop.NOT_MQTT, b"")),  # truncated CONNECT
        (connect_packet(name=b"HTTP"), (Drop.NOT_MQTT, b"")),
        (b"\x10\x20", (Drop.NOT_MQTT, b"")),  # the stream ends inside the CONNECT
        (b"\x10\xff\xff\xff\xff\x01", (Drop.MALFORMED, b"")),
        (connect_packet("x" * 5000), (Drop.OVERSIZED, b"")),
        (connect_packet(level=5), (Drop.UNSUPPORTED_PROTOCOL, b"\x20\x02\x00\x01")),
        (
            connect_packet(name=b"MQIsdp", level=3),
            (Drop.UNSUPPORTED_PROTOCOL, b"\x20\x02\x00\x01"),
        ),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_what_is_not_an_mqtt_311_connect_is_turned_away(
    hass: HomeAssistant,
    raw: Any,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    expected: tuple[str, bytes],
) -> None:
    """Anything but an MQTT 3.1.1 CONNECT is closed (with CONNACK 1 for other versions)."""
    reason, answer = expected
    client = await raw()
    client.writer.write(data)
    client.writer.write_eof()
    assert await client.wait_closed_by_peer() == answer
    await wait_until(lambda: dropped(hass, reason) == 1)
    assert async_get_gateway_diagnostics(hass)["clients"] == []
    assert not [
        record for record in caplog.records if record.levelno >= logging.WARNING
    ]


async def test_a_client_that_never_sends_connect_times_out(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An open connection without a CONNECT does not hold a slot for long."""
    monkeypatch.setattr(limits, "CONNECT_TIMEOUT", 0.1)
    client = await raw()
    assert await client.wait_closed_by_peer() == b""
    assert dropped(hass, Drop.HANDSHAKE_TIMEOUT) == 1


async def test_a_silent_client_is_disconnected_after_its_keepalive(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """amqtt does not enforce the keep-alive; the gateway does."""
    monkeypatch.setattr(limits, "KEEPALIVE_GRACE", 0.1)
    client = await raw()
    assert await client.connect(keepalive=1) == b"\x20\x02\x00\x00"
    assert await client.wait_closed_by_peer() == b""
    assert counters(hass)["disconnected"] == {Disconnect.KEEPALIVE_TIMEOUT: 1}


async def test_a_malformed_packet_ends_the_session(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, raw: Any
) -> None:
    """A length that is not MQTT leaves the stream unframeable: disconnect."""
    client = await raw()
    await client.connect()
    await client.send(b"\x30\xff\xff\xff\xff\x01")
    assert await client.wait_closed_by_peer() == b""
    assert dropped(hass, Drop.MALFORMED) == 1
    assert counters(hass)["disconnected"] == {Disconnect.PROTOCOL_ERROR: 1}


@pytest.mark.parametrize(
    "data",
    [
        connect_packet("again"),  # [MQTT-3.1.0-2]
        b"\x20\x02\x00\x00",  # a CONNACK, which only a server sends
        b"\xf0\x00",  # reserved
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_a_packet_a_client_must_not_send_ends_the_session(
    hass: HomeAssistant, raw: Any, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    """Such packets never reach amqtt (which would log errors): disconnect."""
    client = await raw()
    await client.connect()
    await client.send(data)
    assert await client.wait_closed_by_peer() == b""
    assert dropped(hass, Drop.PROTOCOL_ERROR) == 1
    assert counters(hass)["disconnected"] == {Disconnect.PROTOCOL_ERROR: 1}
    assert not [
        record for record in caplog.records if record.levelno >= logging.WARNING
    ]


async def test_a_client_that_leaves_mid_packet(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, raw: Any
) -> None:
    """A client gone in the middle of a packet (or of an oversized one) is cleaned up."""
    for tail in (b"\x30\x20\x00", b"\x30\xff\x7f" + b"x" * 10):
        client = await raw()
        await client.connect()
        await client.send(tail)
        await client.close()
    await wait_until(lambda: async_get_gateway_diagnostics(hass)["clients"] == [])
    await wait_until(lambda: not running_gateway(hass)._serving)


async def test_stopping_does_not_wait_for_clients_being_admitted(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """A client in its handshake, or being refused, does not delay the stop."""
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    sessions = [await RawClient.open(port) for _ in range(limits.MAX_CLIENTS)]
    for index, session in enumerate(sessions[1:]):
        await session.connect(f"raw{index}")
    refused = await RawClient.open(port)  # sessions[0] is still in its handshake
    await wait_until(lambda: running_gateway(hass)._refusing == 1)

    async with asyncio.timeout(1):
        await release()
    for client in [*sessions, refused]:
        assert await client.wait_closed_by_peer() == b""
        await client.close()
    assert port_is_free(port)
    assert counters(hass)["relayed_up"] == 0


async def test_a_reconnecting_charger_takes_over(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any
) -> None:
    """The same client id again ends the old connection, as MQTT requires."""
    first = await clients()
    second = await clients()
    await first.wait_disconnected()

    await wait_until(lambda: len(async_get_gateway_diagnostics(hass)["clients"]) == 1)
    assert counters(hass)["disconnected"] == {Disconnect.TAKEOVER: 1}
    (client,) = async_get_gateway_diagnostics(hass)["clients"]
    assert client["remote_port"] == second.client.socket().getsockname()[1]
    second.publish(STATUS, REPORT)
    await wait_until(lambda: counters(hass)["relayed_up"] == 1)


async def test_an_unexpected_error_ends_only_that_connection(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug met by one client closes its connection; the gateway keeps serving."""
    with patch.object(
        connection._Connection, "async_run", side_effect=RuntimeError("bug")
    ):
        charger = PahoCharger(running_gateway(hass).port, "ESP32_unlucky")
        charger.client.connect(LOOPBACK, charger.port)
        await charger.wait_disconnected()  # closed without a CONNACK
        await charger.close()
    assert not charger.connack.done()
    assert "Gateway connection ended with an error" in caplog.text
    assert not [
        record for record in caplog.records if record.levelno >= logging.WARNING
    ]

    charger = await clients()
    charger.publish(STATUS, REPORT)
    await wait_until(lambda: counters(hass)["relayed_up"] == 1)


async def test_closing_a_socket_that_does_not_close() -> None:
    """A peer that takes no more bytes is aborted; a reset one is closed anyway."""
    stuck = MagicMock(spec=asyncio.StreamWriter)
    stuck.wait_closed = AsyncMock(side_effect=asyncio.Event().wait)
    with patch.object(limits, "CLOSE_TIMEOUT", 0.01):
        await connection._close_writer(stuck)
    stuck.transport.abort.assert_called_once()

    reset = MagicMock(spec=asyncio.StreamWriter)
    reset.wait_closed = AsyncMock(side_effect=ConnectionResetError)
    await connection._close_writer(reset)
    reset.close.assert_called_once()
    reset.transport.abort.assert_not_called()


# Life cycle.


async def test_release_stops_the_gateway_and_frees_the_port(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """The last release disconnects the chargers and frees the port; twice is harmless."""
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    assert not port_is_free(port)
    charger = PahoCharger(port)
    await charger.connect()
    await charger.subscribe(COMMAND)

    await release()
    await charger.wait_disconnected()
    await charger.close()
    await release()

    assert port_is_free(port)
    assert async_get_gateway_diagnostics(hass)["running"] is False
    async_fire_mqtt_message(hass, COMMAND, b"command")  # unsubscribed: nothing happens
    assert counters(hass)["relayed_down"] == 0

    # And it starts again.
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    assert async_get_gateway_diagnostics(hass)["running"] is True
    await release()
    assert port_is_free(port)


async def test_the_same_charger_twice_needs_two_releases(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """Setup and a config flow may both hold the same charger: leases count."""
    first = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    second = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    await first()
    await first()
    assert running_gateway(hass).serial_numbers == {SN}
    await second()
    assert port_is_free(port)


async def test_stopping_while_home_assistant_mqtt_is_slow(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any, release: Release
) -> None:
    """Relays still waiting on Home Assistant's MQTT are cancelled at stop."""
    stalled = asyncio.Event()

    async def never_acknowledged(*args: Any, **kwargs: Any) -> None:
        stalled.set()
        await asyncio.Event().wait()

    charger = await clients()
    with patch.object(broker.mqtt, "async_publish", never_acknowledged):
        charger.publish(STATUS, REPORT)
        async with asyncio.timeout(5):
            await stalled.wait()
        assert len(running_gateway(hass)._uplink) == 1
        await charger.close()
        await release()
    assert counters(hass)["relayed_up"] == 0


async def test_another_port_moves_the_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """A user on another port restarts the gateway there, for every charger."""
    new_port = free_port()
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    charger = PahoCharger(port)
    await charger.connect()

    release_other = await async_use_gateway(
        hass, OTHER_SN, port=new_port, bind_address=LOOPBACK
    )
    await charger.wait_disconnected()
    await charger.close()
    assert port_is_free(port)
    assert not port_is_free(new_port)
    diagnostics = async_get_gateway_diagnostics(hass)
    assert (diagnostics["port"], diagnostics["bind_address"]) == (new_port, LOOPBACK)
    assert diagnostics["admitted_serial_numbers"] == sorted([SN, OTHER_SN])

    charger = PahoCharger(new_port)
    await charger.connect()
    await charger.subscribe(COMMAND)
    async_fire_mqtt_message(hass, COMMAND, b"command")  # resubscribed after the move
    assert (await charger.receive()).payload == b"command"
    await charger.close()

    await release_other()
    assert not port_is_free(new_port)  # SN still uses it
    await release()
    assert port_is_free(new_port)


async def test_a_taken_port_on_move_keeps_the_old_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """A move that fails leaves the gateway serving on its old port."""
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    with socket.socket() as blocker:
        blocker.bind((LOOPBACK, 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        with pytest.raises(GatewayPortInUseError):
            await async_use_gateway(hass, OTHER_SN, port=taken, bind_address=LOOPBACK)

    diagnostics = async_get_gateway_diagnostics(hass)
    assert (diagnostics["running"], diagnostics["port"]) == (True, port)
    assert diagnostics["admitted_serial_numbers"] == [SN]
    await release()
    assert port_is_free(port)


async def test_the_gateway_stops_with_home_assistant(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """EVENT_HOMEASSISTANT_STOP frees the port even if nobody releases."""
    release = await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    charger = PahoCharger(port)
    await charger.connect()

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    await charger.wait_disconnected()
    await charger.close()
    assert port_is_free(port)
    assert async_get_gateway_diagnostics(hass)["running"] is False
    await release()  # later unloads are harmless


async def test_a_taken_port_raises_port_in_use(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, socket_enabled: None
) -> None:
    """Another program on the port: GatewayPortInUseError with that port."""
    with socket.socket() as blocker:
        blocker.bind((LOOPBACK, 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        with pytest.raises(GatewayPortInUseError) as caught:
            await async_use_gateway(hass, SN, port=taken, bind_address=LOOPBACK)

    err = caught.value
    assert isinstance(err, GatewayError)
    assert isinstance(err, HomeAssistantError)
    assert err.port == taken
    assert err.translation_domain == DOMAIN
    assert err.translation_key == "gateway_port_in_use"
    assert err.translation_placeholders == {"port": str(taken)}
    assert async_get_gateway_diagnostics(hass)["running"] is False
    assert async_get_gateway_diagnostics(hass)["admitted_serial_numbers"] == []


async def test_an_address_that_is_not_ours_raises_start_error(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """An address of no local interface cannot be bound either."""
    with pytest.raises(GatewayStartError) as caught:
        await async_use_gateway(hass, SN, port=port, bind_address="192.0.2.1")
    assert caught.value.translation_key == "gateway_start_failed"
    assert caught.value.translation_placeholders["address"] == "192.0.2.1"
    assert caught.value.translation_placeholders["port"] == str(port)
    assert async_get_gateway_diagnostics(hass)["running"] is False


async def test_without_mqtt_the_gateway_does_not_start(
    hass: HomeAssistant, port: int
) -> None:
    """The gateway relays through Home Assistant's MQTT: it must be set up."""
    with pytest.raises(GatewayMqttUnavailableError) as caught:
        await async_use_gateway(hass, SN, port=port, bind_address=LOOPBACK)
    assert caught.value.translation_key == "gateway_mqtt_unavailable"
    assert port_is_free(port)


# Diagnostics.


async def test_diagnostics(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: Any, port: int
) -> None:
    """State, address, admitted chargers, clients and counters."""
    charger = await clients()
    charger.publish(STATUS, REPORT)
    charger.publish("foreign", b"{}")
    await wait_until(lambda: dropped(hass, Drop.FOREIGN_TOPIC) == 1)
    await wait_until(lambda: counters(hass)["relayed_up"] == 1)

    assert async_get_gateway_diagnostics(hass) == {
        "running": True,
        "port": port,
        "bind_address": LOOPBACK,
        "admitted_serial_numbers": [SN],
        "clients": [
            {
                "client_id": CLIENT_ID,
                "remote_address": LOOPBACK,
                "remote_port": charger.client.socket().getsockname()[1],
            }
        ],
        "limits": {
            "max_clients": 8,
            "max_packet_size": 4096,
            "rate_limit": 20.0,
            "rate_burst": 10,
            "max_violations": 20,
        },
        "counters": {
            "connections": 1,
            "relayed_up": 1,
            "relayed_down": 0,
            "dropped": {Drop.FOREIGN_TOPIC: 1},
            "disconnected": {},
        },
    }


async def test_diagnostics_before_any_use(hass: HomeAssistant) -> None:
    """Never used: an idle gateway with the defaults."""
    diagnostics = async_get_gateway_diagnostics(hass)
    assert diagnostics["running"] is False
    assert diagnostics["port"] is None
    assert diagnostics["clients"] == []
    assert diagnostics["counters"]["dropped"] == {}
    assert (DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS) == (1885, "0.0.0.0")  # noqa: S104
