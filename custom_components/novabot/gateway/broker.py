"""One gateway's life: its listening sockets and amqtt broker, started and stopped.

``NovabotGateway`` starts amqtt with the gateway's plugin (``rules``) and the
relay (``relay``), then listens on each port a charger was told, all of them
feeding the same connections (``clients``) and broker. A port is opened or
closed while the others serve on; closing one ends no connection. It stops
them the other way round, so that nothing outlives it. This module imports
amqtt: the package loads it in the executor when a gateway starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from typing import TYPE_CHECKING, Any

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig, ListenerType
from amqtt.plugins import manager as amqtt_plugin_manager
from homeassistant.core import HomeAssistant, callback

from ..const import LOGGER
from .clients import _Clients
from .connection import _LISTENER
from .counters import Drop
from .errors import GatewayError, GatewayPortInUseError, GatewayStartError
from .relay import _Relay
from .rules import _PLUGIN_PATH, _TopicRules

if TYPE_CHECKING:
    from .counters import _Counters

_AMQTT_BROKER_LOGGER = "amqtt.broker"
_AMQTT_PLUGIN_NAMESPACE = "amqtt.broker.plugins"  # amqtt's default namespace


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
    """The gateway on one bind address: sockets, broker, rules, clients, relay."""

    def __init__(
        self, hass: HomeAssistant, bind_address: str, counters: _Counters
    ) -> None:
        self._hass = hass
        self.bind_address = bind_address
        self._rules = _TopicRules()
        self._clients = _Clients(counters)
        self._relay = _Relay(hass, counters)
        self._servers: dict[int, asyncio.Server] = {}
        self._broker: Broker | None = None
        self._log_filter = _NoDataLogFilter(counters)

    @property
    def ports(self) -> frozenset[int]:
        """The ports it listens on."""
        return frozenset(self._servers)

    @property
    def serial_numbers(self) -> frozenset[str]:
        """The chargers admitted."""
        return self._rules.serial_numbers

    async def async_start(self) -> None:
        """Start the broker and relay commands for the admitted chargers."""
        config = BrokerConfig(
            # The gateway owns the sockets: amqtt gets connections as "external"
            # (it wants a bind value, which it never uses for those).
            listeners={
                _LISTENER: ListenerConfig(
                    type=ListenerType.EXTERNAL, bind=self.bind_address
                )
            },
            plugins={
                _PLUGIN_PATH: {
                    "rules": self._rules,
                    "clients": self._clients,
                    "relay": self._relay,
                }
            },
        )
        broker = Broker(config, loop=self._hass.loop)
        await broker.start()
        self._broker = broker
        logging.getLogger(_AMQTT_BROKER_LOGGER).addFilter(self._log_filter)
        self._clients.broker = broker
        self._relay.attach(broker)

    async def async_listen(self, port: int) -> None:
        """Accept chargers on ``port`` too; raise GatewayError if it cannot."""
        if port in self._servers:
            return
        self._servers[port] = await self._async_open(self.bind_address, port)
        LOGGER.info("Novabot gateway listening on %s:%s", self.bind_address, port)

    async def async_stop_listening(self, port: int) -> None:
        """Accept no more connections on ``port``; those it has go on."""
        if server := self._servers.pop(port, None):
            server.close()
            LOGGER.info("Novabot gateway no longer listens on port %s", port)

    async def async_rebind(self, bind_address: str) -> None:
        """Listen on every port at ``bind_address`` instead; connections go on.

        Raises GatewayError, back on the old address, when the new one fails.
        """
        if bind_address == self.bind_address:
            return
        previous, ports = self.bind_address, sorted(self._servers)
        for port in ports:
            await self.async_stop_listening(port)
        try:
            self.bind_address = bind_address
            for port in ports:
                await self.async_listen(port)
        except GatewayError:
            for port in ports:
                await self.async_stop_listening(port)
            self.bind_address = previous
            for port in ports:
                with contextlib.suppress(GatewayError):
                    await self.async_listen(port)
            raise

    async def _async_open(self, bind_address: str, port: int) -> asyncio.Server:
        try:
            return await asyncio.start_server(
                self._clients.async_serve, bind_address, port
            )
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise GatewayPortInUseError(port) from err
            raise GatewayStartError(bind_address, port, err) from err

    async def async_stop(self) -> None:
        """Disconnect every client and free the ports; leaves no task behind."""
        self._relay.unsubscribe_all()
        servers = list(self._servers.values())
        self._servers.clear()
        for server in servers:
            server.close()  # no new connections
        await self._clients.async_end_all()
        await self._relay.async_stop()
        broker, self._broker = self._broker, None
        self._clients.broker = None
        if broker is not None:
            await broker.shutdown()
            # amqtt keeps the last plugin manager in a module-level registry,
            # which would keep this stopped broker alive.
            registry = amqtt_plugin_manager.plugins_manager
            if registry.get(_AMQTT_PLUGIN_NAMESPACE) is broker.plugins_manager:
                del registry[_AMQTT_PLUGIN_NAMESPACE]
        logging.getLogger(_AMQTT_BROKER_LOGGER).removeFilter(self._log_filter)
        for server in servers:
            await server.wait_closed()
        LOGGER.info("Novabot gateway on %s stopped", self.bind_address)

    async def async_admit(self, serial_number: str) -> None:
        """Let a charger in and relay its commands."""
        if self._rules.admit(serial_number):
            await self._relay.async_subscribe(serial_number)

    @callback
    def async_withdraw(self, serial_number: str) -> None:
        """Stop relaying for a charger; its traffic is dropped from now on."""
        self._rules.withdraw(serial_number)
        self._relay.unsubscribe(serial_number)

    def clients(self) -> list[dict[str, Any]]:
        """The connected clients: client id and remote address."""
        return self._clients.diagnostics()
