"""The gateway: an embedded MQTT listener that admits only chargers.

The charger speaks MQTT 3.1.1 without credentials, and the official Mosquitto
add-on refuses every anonymous client. So in gateway mode the integration runs
this small broker (amqtt) on its own port; chargers connect here, and their
traffic is relayed through Home Assistant's own MQTT connection, so the add-on
stays the hub and sees the same topics as in direct mode.

Layers, from the socket inwards:

* ``_Connection`` owns each TCP connection before amqtt sees a byte: it refuses
  the client over ``MAX_CLIENTS``, reads and checks the CONNECT itself (so port
  scans and health checks never reach amqtt, which would log them as errors),
  then frames every later packet and drops those over ``MAX_PACKET_SIZE`` or
  over the per-client rate before amqtt parses them. It also enforces the
  keep-alive, which amqtt 0.12 does not.
* ``_GatewayPlugin`` is amqtt's auth and topic-filter plugin: denied
  subscriptions never exist, and a denied publish is never broadcast inside
  the broker.
* ``NovabotGateway`` relays: amqtt reports every publish (allowed or not), so
  the relay checks the topic again before anything leaves for Home Assistant's
  MQTT, and forwards commands from Home Assistant's MQTT into the broker.

Topics up (``Dart/Receive_mqtt/<SN>``) and down (``Dart/Send_mqtt/<SN>``) are
disjoint, the relay subscribes on Home Assistant's side only to the latter and
lets clients publish only to the former, and amqtt does not report its own
(internal) broadcasts as received messages: nothing can loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
from dataclasses import dataclass, field
import errno
import importlib
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BrokerConfig, ListenerConfig, ListenerType
from amqtt.plugins import manager as amqtt_plugin_manager
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from homeassistant.components import mqtt
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .protocol.messages import (
    COMMAND_TOPIC_PREFIX,
    command_topic,
    serial_number_from_topic,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from amqtt.session import ApplicationMessage, Session

DEFAULT_GATEWAY_PORT: Final = 1885
DEFAULT_BIND_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - chargers connect over the LAN

# Limits. A charger holds one connection, publishes a ~250-byte report every
# ~2 s and answers a rare command: every limit below is far above that.
MAX_CLIENTS = 8
MAX_PACKET_SIZE = 4096  # whole MQTT packet, header included
RATE_LIMIT = 20.0  # packets per second per client, sustained
RATE_BURST = 10  # packets a client may send at once
MAX_VIOLATIONS = 20  # dropped packets before the client is disconnected
CONNECT_TIMEOUT = 10.0  # seconds from TCP accept to a complete CONNECT
REFUSE_TIMEOUT = 2.0  # seconds to wait for a refused client's CONNECT
KEEPALIVE_GRACE = 1.5  # MQTT-3.1.2-24: disconnect after 1.5 x keep-alive
MAX_UPLINK_IN_FLIGHT = 64  # publishes waiting on Home Assistant's MQTT
CLOSE_TIMEOUT = 1.0  # seconds to flush a closing socket before aborting it
STOP_TIMEOUT = 5.0  # seconds for sessions to end before their tasks are cancelled

DATA_GATEWAY: HassKey[_GatewayManager] = HassKey(f"{DOMAIN}_gateway")

_LISTENER = "default"  # amqtt requires a listener named "default"
_AMQTT_BROKER_LOGGER = "amqtt.broker"
_AMQTT_PLUGIN_NAMESPACE = "amqtt.broker.plugins"  # amqtt's default namespace

# Answers sent without amqtt.
_CONNACK_UNACCEPTABLE_PROTOCOL = b"\x20\x02\x00\x01"
_CONNACK_SERVER_UNAVAILABLE = b"\x20\x02\x00\x03"
_PROTOCOL_NAME = b"MQTT"
_PROTOCOL_NAMES = (_PROTOCOL_NAME, b"MQIsdp")  # MQTT 3.1.1 and 3.1
_PROTOCOL_LEVEL_311 = 4
_DISCARD_CHUNK = 65536


class Drop:
    """Why a packet, message or connection was dropped (diagnostics keys)."""

    # Traffic from a client.
    FOREIGN_TOPIC: Final = "foreign_topic"
    UNKNOWN_SERIAL: Final = "unknown_serial"
    FORBIDDEN_SUBSCRIPTION: Final = "forbidden_subscription"
    OVERSIZED: Final = "oversized"
    RATE_LIMITED: Final = "rate_limited"
    MALFORMED: Final = "malformed"
    PROTOCOL_ERROR: Final = "protocol_error"
    # Relay to and from Home Assistant's MQTT.
    UPLINK_BACKLOG: Final = "uplink_backlog"
    MQTT_UNAVAILABLE: Final = "mqtt_unavailable"
    COMMAND_TOO_LARGE: Final = "command_too_large"
    CHARGER_NOT_CONNECTED: Final = "charger_not_connected"
    # Connections.
    TOO_MANY_CLIENTS: Final = "too_many_clients"
    NO_DATA: Final = "no_data"
    NOT_MQTT: Final = "not_mqtt"
    UNSUPPORTED_PROTOCOL: Final = "unsupported_protocol"
    HANDSHAKE_TIMEOUT: Final = "handshake_timeout"


class Disconnect:
    """Why the gateway ended a client's session (diagnostics keys)."""

    VIOLATIONS: Final = "violations"
    KEEPALIVE_TIMEOUT: Final = "keepalive_timeout"
    TAKEOVER: Final = "takeover"
    PROTOCOL_ERROR: Final = "protocol_error"


class GatewayError(HomeAssistantError):
    """The gateway cannot run; its subclasses say why."""


class GatewayPortInUseError(GatewayError):
    """The gateway's port is taken by another program."""

    def __init__(self, port: int) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key="gateway_port_in_use",
            translation_placeholders={"port": str(port)},
        )
        self.port = port


class GatewayStartError(GatewayError):
    """The gateway could not listen on its address for another reason."""

    def __init__(self, bind_address: str, port: int, error: OSError) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key="gateway_start_failed",
            translation_placeholders={
                "address": bind_address,
                "port": str(port),
                "error": error.strerror or str(error),
            },
        )
        self.port = port


class GatewayMqttUnavailableError(GatewayError):
    """Home Assistant's MQTT integration, which the gateway relays through, is not set up."""

    def __init__(self) -> None:
        super().__init__(
            translation_domain=DOMAIN, translation_key="gateway_mqtt_unavailable"
        )


@dataclass
class _Counters:
    """What the gateway did since Home Assistant started (survives restarts)."""

    connections: int = 0
    relayed_up: int = 0
    relayed_down: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    disconnected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "relayed_up": self.relayed_up,
            "relayed_down": self.relayed_down,
            "dropped": dict(sorted(self.dropped.items())),
            "disconnected": dict(sorted(self.disconnected.items())),
        }


class _TokenBucket:
    """Allows ``rate`` events per second on average, ``burst`` at once."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass(frozen=True, slots=True)
class _PacketTypes:
    """The MQTT packet types (first nibble) a client may send now, and why not others."""

    types: frozenset[int]
    otherwise: str


# First a CONNECT; anything else is an HTTP request, a TLS hello, noise.
_HANDSHAKE = _PacketTypes(frozenset({1}), Drop.NOT_MQTT)
# Then neither CONNECT again [MQTT-3.1.0-2] nor a server's packets, which
# amqtt would log as errors or warnings.
_IN_SESSION = _PacketTypes(
    frozenset({3, 4, 5, 6, 7, 8, 10, 12, 14}), Drop.PROTOCOL_ERROR
)


class _RejectedError(Exception):
    """A packet or a connection the gateway turns away: why, and what to answer."""

    def __init__(self, reason: str, answer: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


class _OversizedPacketError(_RejectedError):
    """A packet is larger than MAX_PACKET_SIZE; its body is still unread."""

    def __init__(self, body_length: int) -> None:
        super().__init__(Drop.OVERSIZED)
        self.body_length = body_length


async def _read_packet(
    reader: asyncio.StreamReader, allowed: _PacketTypes
) -> tuple[bytes, int] | None:
    """Read one whole MQTT packet: its bytes and the length of its fixed header.

    ``None`` at a clean end of stream. Raises _RejectedError when the packet
    type is not allowed (checked on the first byte, so noise stops there) or
    its length is not valid MQTT, _OversizedPacketError before reading its body,
    and asyncio.IncompleteReadError when the stream ends inside it.
    """
    first = await reader.read(1)
    if not first:
        return None
    if first[0] >> 4 not in allowed.types:
        raise _RejectedError(allowed.otherwise)
    header = bytearray(first)
    length = 0
    for shift in (0, 7, 14, 21):  # at most four length bytes [MQTT-2.2.3]
        byte = (await reader.readexactly(1))[0]
        header.append(byte)
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise _RejectedError(Drop.MALFORMED)
    if len(header) + length > MAX_PACKET_SIZE:
        raise _OversizedPacketError(length)
    return bytes(header) + await reader.readexactly(length), len(header)


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    """Skip ``length`` bytes without holding them in memory."""
    while length:
        length -= len(await reader.readexactly(min(length, _DISCARD_CHUNK)))


def _connect_keepalive(packet: bytes, header_length: int) -> int:
    """The keep-alive of an MQTT 3.1.1 CONNECT; _RejectedError for anything else.

    The rest of the CONNECT (client id, flags) is amqtt's to check.
    """
    body = packet[header_length:]
    name_length = int.from_bytes(body[:2])
    name = body[2 : 2 + name_length]
    fixed = body[2 + name_length : 6 + name_length]  # level, flags, keep-alive
    if name not in _PROTOCOL_NAMES or len(fixed) < 4:
        raise _RejectedError(Drop.NOT_MQTT)
    if name != _PROTOCOL_NAME or fixed[0] != _PROTOCOL_LEVEL_311:
        raise _RejectedError(Drop.UNSUPPORTED_PROTOCOL, _CONNACK_UNACCEPTABLE_PROTOCOL)
    return int.from_bytes(fixed[2:4])


async def _read_connect(reader: asyncio.StreamReader) -> tuple[bytes, int]:
    """A client's CONNECT packet and its keep-alive; _RejectedError otherwise."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            packet = await _read_packet(reader, _HANDSHAKE)
    except TimeoutError as err:
        raise _RejectedError(Drop.HANDSHAKE_TIMEOUT) from err
    except asyncio.IncompleteReadError as err:
        raise _RejectedError(Drop.NOT_MQTT) from err
    if packet is None:
        # A port scan or a health check; amqtt would log it as an error.
        raise _RejectedError(Drop.NO_DATA)
    return packet[0], _connect_keepalive(*packet)


def _charger_listening(broker: Broker, topic: str) -> bool:
    """Whether a connected client subscribed to exactly ``topic`` (the only kind allowed)."""
    subscribers = broker.subscriptions.get(topic, ())
    return any(session.transitions.state == "connected" for session, _ in subscribers)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection; abort it when the peer does not take the last bytes."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass  # the peer reset the connection: it is closed either way


class _PacketReader(ReaderAdapter):  # type: ignore[misc]  # amqtt ships no type hints
    """amqtt's view of a client: only the packets the connection let through."""

    def __init__(self, connect: bytes) -> None:
        self._buffer = bytearray(connect)
        self._packets: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._eof = False

    def push(self, packet: bytes) -> None:
        self._packets.put_nowait(packet)

    def feed_eof(self) -> None:
        self._packets.put_nowait(None)

    def abort(self) -> None:
        """End the stream now, dropping packets amqtt has not started reading."""
        while not self._packets.empty():
            self._packets.get_nowait()
        self.feed_eof()

    async def read(self, n: int = -1) -> bytes:
        # Queue.get is safe to cancel (amqtt wraps reads in timeouts), so a
        # packet is either fully in the buffer or still in the queue.
        while not self._eof and len(self._buffer) < max(n, 1 if n < 0 else 0):
            packet = await self._packets.get()
            if packet is None:
                self._eof = True
            else:
                self._buffer += packet
        size = len(self._buffer) if n < 0 else n
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data  # shorter than n only at the end: amqtt reads that as "no data"


class _Connection:
    """One TCP client, from accept to close."""

    def __init__(
        self,
        gateway: NovabotGateway,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._gateway = gateway
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.remote_address: str = str(peer[0])
        self.remote_port: int = int(peer[1])
        self.client_id: str | None = None
        self.in_session = False  # handed to amqtt
        self.violations = 0
        self.closing = False
        self._bucket = _TokenBucket(RATE_LIMIT, RATE_BURST)
        self._packets: _PacketReader | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def peer(self) -> tuple[str, int]:
        return self.remote_address, self.remote_port

    async def async_run(self, broker: Broker) -> None:
        """Check the CONNECT, then hand the session to amqtt until it ends."""
        keepalive = await self._async_handshake()
        if keepalive is None:
            return
        assert self._packets is not None
        idle_timeout = keepalive * KEEPALIVE_GRACE if keepalive else None
        self._pump = asyncio.create_task(
            self._async_pump(idle_timeout), name=f"novabot gateway {self.peer}"
        )
        self.in_session = True
        try:
            await broker.external_connected(
                self._packets, StreamWriterAdapter(self._writer), _LISTENER
            )
        finally:
            self._pump.cancel()
            await asyncio.wait([self._pump])

    async def _async_handshake(self) -> int | None:
        """Read the CONNECT; its keep-alive, or ``None`` when the client is turned away."""
        try:
            connect, keepalive = await _read_connect(self._reader)
        except _RejectedError as err:
            self._gateway.count_drop(err.reason)
            if err.answer:
                self._writer.write(err.answer)  # flushed when the socket closes
            return None
        self._packets = _PacketReader(connect)
        return keepalive

    async def _async_pump(self, idle_timeout: float | None) -> None:
        """Move packets from the socket to amqtt, enforcing size, rate and keep-alive."""
        assert self._packets is not None
        try:
            while not self.closing:
                try:
                    packet = await self._async_next_packet(idle_timeout)
                except TimeoutError:
                    self.kick(Disconnect.KEEPALIVE_TIMEOUT)
                    break
                if packet is None:
                    break
                if not self._bucket.take():
                    self.violation(Drop.RATE_LIMITED)
                    continue
                self._packets.push(packet[0])
        except _RejectedError as err:
            # A broken stream or protocol: MQTT says close the connection.
            self._gateway.count_drop(err.reason)
            self.kick(Disconnect.PROTOCOL_ERROR)
        except asyncio.IncompleteReadError, OSError:
            pass  # the client went away in the middle of a packet
        finally:
            self._packets.feed_eof()

    async def _async_next_packet(
        self, idle_timeout: float | None
    ) -> tuple[bytes, int] | None:
        """The next packet within the keep-alive; oversized ones are skipped and counted.

        Raises TimeoutError when the client stays silent for too long.
        """
        async with asyncio.timeout(idle_timeout) as deadline:
            while True:
                try:
                    return await _read_packet(self._reader, _IN_SESSION)
                except _OversizedPacketError as err:
                    await _discard(self._reader, err.body_length)
                    self.violation(Drop.OVERSIZED)
                    if self.closing:
                        return None
                    if idle_timeout is not None:  # the client was not silent
                        deadline.reschedule(
                            asyncio.get_running_loop().time() + idle_timeout
                        )

    def violation(self, reason: str) -> None:
        """Count a dropped packet; disconnect a client that keeps sending them."""
        self._gateway.count_drop(reason)
        self.violations += 1
        LOGGER.debug(
            "Gateway dropped a packet from %s (%s:%s): %s",
            self.client_id,
            self.remote_address,
            self.remote_port,
            reason,
        )
        if self.violations >= MAX_VIOLATIONS:
            self.kick(Disconnect.VIOLATIONS)

    def kick(self, reason: str | None) -> None:
        """End the session: amqtt sees the end of the stream and cleans up.

        ``reason`` is counted and logged; ``None`` is the gateway stopping.
        """
        if self.closing:
            return
        self.closing = True
        if reason is not None:
            self._gateway.count_disconnect(reason)
            LOGGER.info(
                "Gateway disconnected %s (%s:%s): %s",
                self.client_id,
                self.remote_address,
                self.remote_port,
                reason,
            )
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        if self._packets is not None:
            self._packets.abort()


class _GatewayPlugin(BaseAuthPlugin, BaseTopicPlugin):  # type: ignore[misc]  # untyped base
    """amqtt's hooks into the gateway: admission, topic rules and events."""

    @dataclass
    class Config:
        """How amqtt hands the gateway to the plugin (it builds this from a dict)."""

        gateway: Any = None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        gateway = self.config.gateway
        assert isinstance(gateway, NovabotGateway)
        self._gateway = gateway

    async def authenticate(self, *, session: Session) -> bool:
        # Chargers have no credentials. Marked anonymous, a session keeps no
        # messages or subscriptions once its client is gone.
        session.is_anonymous = True
        return True

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        return self._gateway.topic_allowed(session, topic, action)

    async def on_broker_client_connected(
        self, *, client_id: str, client_session: Session
    ) -> None:
        self._gateway.client_connected(client_id, client_session)

    async def on_broker_message_received(
        self, *, client_id: str, message: ApplicationMessage | None
    ) -> None:
        self._gateway.relay_up(client_id, message)


_PLUGIN_PATH: Final = f"{__name__}.{_GatewayPlugin.__qualname__}"


def _import_plugins() -> None:
    """Import what amqtt will import by name, so it is cached before the loop needs it."""
    importlib.import_module(_PLUGIN_PATH.rpartition(".")[0])


class _NoDataLogFilter(logging.Filter):
    """Turn amqtt's error about a connection without data into a counter.

    The gateway reads each CONNECT itself, so amqtt should never see such a
    connection; this keeps Home Assistant's log clean should it happen anyway.
    """

    def __init__(self, on_no_data: Callable[[], None]) -> None:
        super().__init__()
        self._on_no_data = on_no_data

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("No data from"):
            self._on_no_data()
            return False
        # amqtt follows that error with this warning about the same connection.
        return not message.startswith(
            "Failed to initialize client session: No more data"
        )


class NovabotGateway:
    """The broker, its listener and the relay, for one port and bind address."""

    def __init__(
        self,
        hass: HomeAssistant,
        port: int,
        bind_address: str,
        counters: _Counters,
    ) -> None:
        self._hass = hass
        self.port = port
        self.bind_address = bind_address
        self._counters = counters
        self._serial_numbers: set[str] = set()
        self._command_unsubscribes: dict[str, CALLBACK_TYPE] = {}
        self._server: asyncio.Server | None = None
        self._broker: Broker | None = None
        self._connections: set[_Connection] = set()
        self._by_client_id: dict[str, _Connection] = {}
        # Each connection's task, with its connection once it has one.
        self._serving: dict[asyncio.Task[None], _Connection | None] = {}
        self._refusing = 0
        self._uplink: set[asyncio.Task[None]] = set()
        self._log_filter = _NoDataLogFilter(lambda: self.count_drop(Drop.NO_DATA))

    @property
    def running(self) -> bool:
        """Listening for chargers."""
        return self._server is not None

    @property
    def serial_numbers(self) -> frozenset[str]:
        """The chargers admitted."""
        return frozenset(self._serial_numbers)

    # Life cycle.

    async def async_start(self) -> None:
        """Listen, start the broker and subscribe to commands for admitted chargers."""
        await self._hass.async_add_executor_job(_import_plugins)
        try:
            # Bound now (so a taken port fails here), served once amqtt is up.
            server = await asyncio.start_server(
                self._async_serve, self.bind_address, self.port, start_serving=False
            )
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise GatewayPortInUseError(self.port) from err
            raise GatewayStartError(self.bind_address, self.port, err) from err
        self._server = server
        config = BrokerConfig(
            # The gateway owns the socket: amqtt gets connections as "external".
            listeners={
                _LISTENER: ListenerConfig(
                    type=ListenerType.EXTERNAL, bind=f"{self.bind_address}:{self.port}"
                )
            },
            plugins={_PLUGIN_PATH: {"gateway": self}},
        )
        self._broker = Broker(config, loop=self._hass.loop)
        await self._broker.start()
        logging.getLogger(_AMQTT_BROKER_LOGGER).addFilter(self._log_filter)
        await server.start_serving()
        for serial_number in sorted(self._serial_numbers):
            await self._async_subscribe_commands(serial_number)
        LOGGER.info("Novabot gateway listening on %s:%s", self.bind_address, self.port)

    async def async_stop(self) -> None:
        """Disconnect every client and free the port; leaves no task behind."""
        for unsubscribe in self._command_unsubscribes.values():
            unsubscribe()
        self._command_unsubscribes.clear()
        server, self._server = self._server, None
        if server is None:
            return
        server.close()  # no new connections
        for task, connection in self._serving.items():
            if connection is not None and connection.in_session:
                connection.kick(None)  # amqtt ends the session cleanly
            else:
                task.cancel()  # still being admitted or refused
        if self._serving:
            _, pending = await asyncio.wait(self._serving, timeout=STOP_TIMEOUT)
            for task in pending:  # pragma: no cover - a session amqtt did not end
                task.cancel()
            if pending:  # pragma: no cover
                await asyncio.wait(pending)
        for task in self._uplink:
            task.cancel()
        if self._uplink:
            await asyncio.wait(self._uplink)
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
            # amqtt keeps the last plugin manager in a module-level registry,
            # which would keep this stopped broker alive.
            registry = amqtt_plugin_manager.plugins_manager
            if registry.get(_AMQTT_PLUGIN_NAMESPACE) is broker.plugins_manager:
                del registry[_AMQTT_PLUGIN_NAMESPACE]
        logging.getLogger(_AMQTT_BROKER_LOGGER).removeFilter(self._log_filter)
        await server.wait_closed()
        LOGGER.info("Novabot gateway on %s:%s stopped", self.bind_address, self.port)

    # Admission.

    async def async_admit(self, serial_number: str) -> None:
        """Let a charger in and relay its commands."""
        if serial_number in self._serial_numbers:
            return
        self._serial_numbers.add(serial_number)
        if self.running:
            await self._async_subscribe_commands(serial_number)

    @callback
    def async_withdraw(self, serial_number: str) -> None:
        """Stop relaying for a charger; its traffic is dropped from now on."""
        self._serial_numbers.discard(serial_number)
        if unsubscribe := self._command_unsubscribes.pop(serial_number, None):
            unsubscribe()

    async def _async_subscribe_commands(self, serial_number: str) -> None:
        # QoS 1, as the charger subscribes: a command is worth a retransmission.
        self._command_unsubscribes[serial_number] = await mqtt.async_subscribe(
            self._hass,
            command_topic(serial_number),
            self._async_relay_down,
            qos=1,
            encoding=None,
        )

    # Connections.

    async def _async_serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one TCP connection (asyncio runs this as a task per client)."""
        task = asyncio.current_task()
        assert task is not None
        self._serving[task] = None
        self._counters.connections += 1
        try:
            if len(self._connections) >= MAX_CLIENTS:
                await self._async_refuse(reader, writer)
                return
            connection = _Connection(self, reader, writer)
            self._connections.add(connection)
            self._serving[task] = connection
            try:
                assert self._broker is not None
                await connection.async_run(self._broker)
            finally:
                self._connections.discard(connection)
                if (
                    connection.client_id is not None
                    and self._by_client_id.get(connection.client_id) is connection
                ):
                    del self._by_client_id[connection.client_id]
        except Exception:  # noqa: BLE001 - one client must not take the gateway down
            LOGGER.debug("Gateway connection ended with an error", exc_info=True)
        finally:
            await _close_writer(writer)
            del self._serving[task]

    async def _async_refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer a client over the limit with "server unavailable"."""
        self.count_drop(Drop.TOO_MANY_CLIENTS)
        if self._refusing >= MAX_CLIENTS:
            return  # a flood of connections: close without reading anything
        self._refusing += 1
        try:
            # Read the CONNECT first: closing on unread data resets the
            # connection, and the client might never see the answer.
            async with asyncio.timeout(REFUSE_TIMEOUT):
                if await _read_packet(reader, _HANDSHAKE) is not None:
                    writer.write(_CONNACK_SERVER_UNAVAILABLE)
                    await writer.drain()
        except TimeoutError, OSError, asyncio.IncompleteReadError, _RejectedError:
            pass  # turned away either way
        finally:
            self._refusing -= 1

    @callback
    def client_connected(self, client_id: str, session: Session) -> None:
        """A client passed amqtt's CONNECT: name its connection, end an older one.

        [MQTT-3.1.4-2]: a new connection with a client id takes over.
        """
        address = (session.remote_address, session.remote_port)
        connection = next((c for c in self._connections if c.peer == address), None)
        if connection is None:  # pragma: no cover - it disconnected meanwhile
            return
        connection.client_id = client_id
        previous = self._by_client_id.get(client_id)
        self._by_client_id[client_id] = connection
        if previous is not None and previous is not connection:
            # amqtt keeps the old connection of a clean-session client open.
            previous.kick(Disconnect.TAKEOVER)

    # Rules.

    def _publish_verdict(self, topic: str) -> str | None:
        """Why a client may not publish to ``topic``; ``None`` if it may."""
        serial_number = serial_number_from_topic(topic)
        if serial_number is None:
            return Drop.FOREIGN_TOPIC
        if serial_number not in self._serial_numbers:
            return Drop.UNKNOWN_SERIAL
        return None

    def _subscription_verdict(self, topic_filter: str) -> str | None:
        """Why a client may not subscribe to ``topic_filter``; ``None`` if it may."""
        serial_number = topic_filter.removeprefix(COMMAND_TOPIC_PREFIX)
        if serial_number == topic_filter or not serial_number.isalnum():
            return Drop.FORBIDDEN_SUBSCRIPTION  # other topics, levels, wildcards
        if serial_number not in self._serial_numbers:
            return Drop.UNKNOWN_SERIAL
        return None

    def topic_allowed(
        self, session: Session | None, topic: str | None, action: Action | None
    ) -> bool:
        """Decide for amqtt's topic filter; a refused subscription is a violation."""
        if not topic:
            return False
        if action == Action.PUBLISH:
            # Counted once, by the relay, which amqtt tells about every publish.
            return self._publish_verdict(topic) is None
        verdict = self._subscription_verdict(topic)
        if verdict is not None and action == Action.SUBSCRIBE:
            self._client_violation(session.client_id if session else None, verdict)
        return verdict is None

    def _client_violation(self, client_id: str | None, reason: str) -> None:
        connection = self._by_client_id.get(client_id) if client_id else None
        if connection is None:  # pragma: no cover - not yet (or no longer) known
            self.count_drop(reason)
        else:
            connection.violation(reason)

    # Relay.

    @callback
    def relay_up(self, client_id: str, message: ApplicationMessage | None) -> None:
        """A client published (amqtt reports every publish, allowed or not)."""
        if message is None:  # pragma: no cover - amqtt reports an empty delivery
            return
        topic: str = message.topic or ""
        if (verdict := self._publish_verdict(topic)) is not None:
            self._client_violation(client_id, verdict)
            return
        if len(self._uplink) >= MAX_UPLINK_IN_FLIGHT:
            self.count_drop(Drop.UPLINK_BACKLOG)
            return
        # Started eagerly, so publishes reach Home Assistant's MQTT client in
        # the order they arrived; each then waits for its own acknowledgement.
        task = self._hass.async_create_background_task(
            self._async_publish_up(topic, bytes(message.data)),
            "novabot gateway relay up",
            eager_start=True,
        )
        if not task.done():
            self._uplink.add(task)
            task.add_done_callback(self._uplink.discard)

    async def _async_publish_up(self, topic: str, payload: bytes) -> None:
        try:
            await mqtt.async_publish(self._hass, topic, payload, qos=0, retain=False)
        except HomeAssistantError as err:
            self.count_drop(Drop.MQTT_UNAVAILABLE)
            LOGGER.debug("Gateway could not relay %s: %s", topic, err)
            return
        self._counters.relayed_up += 1
        LOGGER.debug("Gateway relayed %s bytes up on %s", len(payload), topic)

    @callback
    def _async_relay_down(self, msg: mqtt.ReceiveMessage) -> None:
        """A command for a charger arrived on Home Assistant's MQTT."""
        payload = msg.payload
        if isinstance(payload, str):  # pragma: no cover - subscribed with encoding=None
            payload = payload.encode()
        if len(payload) + len(msg.topic) + 8 > MAX_PACKET_SIZE:
            self.count_drop(Drop.COMMAND_TOO_LARGE)
            return
        broker = self._broker
        if broker is None or not _charger_listening(broker, msg.topic):
            self.count_drop(Drop.CHARGER_NOT_CONNECTED)
            return
        # amqtt queues the broadcast without waiting, so the eager task is
        # already done here; its QoS is the charger's subscription QoS.
        self._hass.async_create_task(
            broker.internal_message_broadcast(msg.topic, payload),
            "novabot gateway relay down",
            eager_start=True,
        )
        self._counters.relayed_down += 1
        LOGGER.debug("Gateway relayed %s bytes down on %s", len(payload), msg.topic)

    # Counters and diagnostics.

    def count_drop(self, reason: str) -> None:
        """Count something dropped, by reason."""
        self._counters.dropped[reason] += 1

    def count_disconnect(self, reason: str) -> None:
        """Count a client the gateway disconnected, by reason."""
        self._counters.disconnected[reason] += 1

    def clients(self) -> list[dict[str, Any]]:
        """The connected clients: client id and remote address."""
        return sorted(
            (
                {
                    "client_id": connection.client_id,
                    "remote_address": connection.remote_address,
                    "remote_port": connection.remote_port,
                }
                for connection in self._connections
                if connection.client_id is not None and not connection.closing
            ),
            key=lambda client: (client["client_id"], client["remote_port"]),
        )


class _GatewayManager:
    """The one gateway of a Home Assistant instance and who uses it."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._lock = asyncio.Lock()
        self._leases: dict[int, str] = {}
        self._lease_ids = itertools.count(1)
        self._shutdown_unsubscribes: list[CALLBACK_TYPE] = []
        self.gateway: NovabotGateway | None = None
        self.counters = _Counters()

    def _admitted(self) -> set[str]:
        return set(self._leases.values())

    async def async_acquire(
        self, serial_number: str, port: int, bind_address: str
    ) -> int:
        """Admit a serial number, starting or moving the gateway as needed."""
        async with self._lock:
            gateway = self.gateway
            wanted = {*self._admitted(), serial_number}
            if gateway is None:
                await self._async_start(port, bind_address, wanted)
            elif (gateway.port, gateway.bind_address) != (port, bind_address):
                LOGGER.info(
                    "Moving the Novabot gateway from %s:%s to %s:%s",
                    gateway.bind_address,
                    gateway.port,
                    bind_address,
                    port,
                )
                await self._async_stop()
                try:
                    await self._async_start(port, bind_address, wanted)
                except HomeAssistantError:
                    # Keep serving the chargers that were connected before.
                    with contextlib.suppress(HomeAssistantError):
                        await self._async_start(
                            gateway.port, gateway.bind_address, self._admitted()
                        )
                    raise
            else:
                await gateway.async_admit(serial_number)
            lease = next(self._lease_ids)
            self._leases[lease] = serial_number
            return lease

    async def async_release(self, lease: int) -> None:
        """Withdraw a lease; the last one stops the gateway."""
        async with self._lock:
            serial_number = self._leases.pop(lease, None)
            if serial_number is None or self.gateway is None:
                return
            if not self._leases:
                await self._async_stop()
            elif serial_number not in self._admitted():
                self.gateway.async_withdraw(serial_number)

    async def _async_start(
        self, port: int, bind_address: str, serial_numbers: set[str]
    ) -> None:
        if not await mqtt.async_wait_for_mqtt_client(self._hass):
            raise GatewayMqttUnavailableError
        gateway = NovabotGateway(self._hass, port, bind_address, self.counters)
        for serial_number in serial_numbers:
            await gateway.async_admit(serial_number)
        try:
            await gateway.async_start()
        except BaseException:
            await gateway.async_stop()
            raise
        self.gateway = gateway
        # Stop with Home Assistant, or the port stays bound; CLOSE covers a
        # gateway started after STOP (a late config flow, say).
        self._shutdown_unsubscribes = [
            self._hass.bus.async_listen(event, self._async_on_shutdown)
            for event in (EVENT_HOMEASSISTANT_STOP, EVENT_HOMEASSISTANT_CLOSE)
        ]

    async def _async_stop(self) -> None:
        for unsubscribe in self._shutdown_unsubscribes:
            unsubscribe()
        self._shutdown_unsubscribes = []
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.async_stop()

    async def _async_on_shutdown(self, event: Event) -> None:
        async with self._lock:
            await self._async_stop()

    @callback
    def diagnostics(self) -> dict[str, Any]:
        gateway = self.gateway
        return {
            "running": gateway is not None,
            "port": gateway.port if gateway else None,
            "bind_address": gateway.bind_address if gateway else None,
            "admitted_serial_numbers": sorted(self._admitted()),
            "clients": gateway.clients() if gateway else [],
            "limits": {
                "max_clients": MAX_CLIENTS,
                "max_packet_size": MAX_PACKET_SIZE,
                "rate_limit": RATE_LIMIT,
                "rate_burst": RATE_BURST,
                "max_violations": MAX_VIOLATIONS,
            },
            "counters": self.counters.as_dict(),
        }


async def async_use_gateway(
    hass: HomeAssistant,
    serial_number: str,
    *,
    port: int = DEFAULT_GATEWAY_PORT,
    bind_address: str = DEFAULT_BIND_ADDRESS,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Admit a charger to this Home Assistant's gateway, starting it if needed.

    A gateway running on another port or bind address is moved there. Returns
    the release function (safe to call twice); the last release stops the
    gateway. Raises GatewayPortInUseError, GatewayStartError or
    GatewayMqttUnavailableError when the gateway cannot run.
    """
    manager = hass.data.get(DATA_GATEWAY)
    if manager is None:
        manager = hass.data[DATA_GATEWAY] = _GatewayManager(hass)
    lease = await manager.async_acquire(serial_number, port, bind_address)
    released = False

    async def async_release() -> None:
        nonlocal released
        if not released:
            released = True
            await manager.async_release(lease)

    return async_release


@callback
def async_get_gateway_diagnostics(hass: HomeAssistant) -> dict[str, Any]:
    """The gateway's state, clients and counters, for diagnostics."""
    manager = hass.data.get(DATA_GATEWAY)
    if manager is None:
        manager = _GatewayManager(hass)  # never used: report an idle gateway
    return manager.diagnostics()
