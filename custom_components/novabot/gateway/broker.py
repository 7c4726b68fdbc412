"""The broker (amqtt), its listener and the relay through Home Assistant's MQTT.

``_GatewayPlugin`` is amqtt's auth and topic-filter plugin: denied
subscriptions never exist, and a denied publish is never broadcast inside the
broker. ``NovabotGateway`` relays: amqtt reports every publish (allowed or
not), so the relay checks the topic again before anything leaves for Home
Assistant's MQTT, and forwards commands from Home Assistant's MQTT into the
broker.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import errno
import logging
from typing import TYPE_CHECKING, Any, Final

from amqtt.broker import Broker
from amqtt.contexts import Action, BrokerConfig, ListenerConfig, ListenerType
from amqtt.plugins import manager as amqtt_plugin_manager
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from ..const import LOGGER
from ..coordinator import payload_bytes
from ..protocol.messages import (
    COMMAND_TOPIC_PREFIX,
    command_topic,
    serial_number_from_topic,
)
from . import limits
from .connection import _LISTENER, _close_writer, _Connection
from .counters import Disconnect, Drop
from .errors import GatewayPortInUseError, GatewayStartError
from .packets import _answer_unavailable

if TYPE_CHECKING:
    from amqtt.session import ApplicationMessage, Session

    from .counters import _Counters

_AMQTT_BROKER_LOGGER = "amqtt.broker"
_AMQTT_PLUGIN_NAMESPACE = "amqtt.broker.plugins"  # amqtt's default namespace


def _charger_listening(broker: Broker, topic: str) -> bool:
    """Whether a connected client subscribed to exactly ``topic`` (the only kind allowed)."""
    subscribers = broker.subscriptions.get(topic, ())
    return any(session.transitions.state == "connected" for session, _ in subscribers)


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
        # Chargers log in anonymously or with the login every charger shares.
        # Marked anonymous, a session keeps no
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


# amqtt imports the plugin by this path; this module is loaded by then.
_PLUGIN_PATH: Final = f"{__name__}.{_GatewayPlugin.__qualname__}"


class _NoDataLogFilter(logging.Filter):
    """Turn amqtt's error about a connection without data into a counter.

    The gateway reads each CONNECT itself, so amqtt should never see such a
    connection; this keeps Home Assistant's log clean should it happen anyway.
    """

    def __init__(self, counters: _Counters) -> None:
        super().__init__()
        self._counters = counters

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("No data from"):
            self._counters.dropped[Drop.NO_DATA] += 1
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
        self._log_filter = _NoDataLogFilter(counters)

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
            _, pending = await asyncio.wait(self._serving, timeout=limits.STOP_TIMEOUT)
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
            if len(self._connections) >= limits.MAX_CLIENTS:
                await self._async_refuse(reader, writer)
                return
            connection = _Connection(self._counters, reader, writer)
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
        self._counters.dropped[Drop.TOO_MANY_CLIENTS] += 1
        if self._refusing >= limits.MAX_CLIENTS:
            return  # a flood of connections: close without reading anything
        self._refusing += 1
        try:
            await _answer_unavailable(reader, writer)
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
            self._counters.dropped[reason] += 1
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
        if len(self._uplink) >= limits.MAX_UPLINK_IN_FLIGHT:
            self._counters.dropped[Drop.UPLINK_BACKLOG] += 1
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
            self._counters.dropped[Drop.MQTT_UNAVAILABLE] += 1
            LOGGER.debug("Gateway could not relay %s: %s", topic, err)
            return
        self._counters.relayed_up += 1
        LOGGER.debug("Gateway relayed %s bytes up on %s", len(payload), topic)

    @callback
    def _async_relay_down(self, msg: mqtt.ReceiveMessage) -> None:
        """A command for a charger arrived on Home Assistant's MQTT."""
        payload = payload_bytes(msg.payload)
        if len(payload) + len(msg.topic) + 8 > limits.MAX_PACKET_SIZE:
            self._counters.dropped[Drop.COMMAND_TOO_LARGE] += 1
            return
        broker = self._broker
        if broker is None or not _charger_listening(broker, msg.topic):
            self._counters.dropped[Drop.CHARGER_NOT_CONNECTED] += 1
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

    # Diagnostics.

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
