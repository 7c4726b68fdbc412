"""One gateway's life: its listening socket and amqtt broker, started and stopped.

``NovabotGateway`` binds the port, starts amqtt with the gateway's plugin
(``rules``), then serves connections (``clients``) and relays (``relay``);
it stops them the other way round, so that nothing outlives it. This module
imports amqtt: the package loads it in the executor when a gateway starts.
"""

from __future__ import annotations

import asyncio
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
from .errors import GatewayPortInUseError, GatewayStartError
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
    """The gateway on one port and bind address: socket, broker, rules, clients, relay."""

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
        self._rules = _TopicRules()
        self._clients = _Clients(counters)
        self._relay = _Relay(hass, counters)
        self._server: asyncio.Server | None = None
        self._broker: Broker | None = None
        self._log_filter = _NoDataLogFilter(counters)

    @property
    def running(self) -> bool:
        """Listening for chargers."""
        return self._server is not None

    @property
    def serial_numbers(self) -> frozenset[str]:
        """The chargers admitted."""
        return self._rules.serial_numbers

    async def async_start(self) -> None:
        """Listen, start the broker and subscribe to commands for admitted chargers."""
        try:
            # Bound now (so a taken port fails here), served once amqtt is up.
            server = await asyncio.start_server(
                self._clients.async_serve,
                self.bind_address,
                self.port,
                start_serving=False,
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
            plugins={
                _PLUGIN_PATH: {
                    "rules": self._rules,
                    "clients": self._clients,
                    "relay": self._relay,
                }
            },
        )
        self._broker = Broker(config, loop=self._hass.loop)
        await self._broker.start()
        logging.getLogger(_AMQTT_BROKER_LOGGER).addFilter(self._log_filter)
        self._clients.broker = self._broker
        await server.start_serving()
        await self._relay.async_start(self._broker, self._rules.serial_numbers)
        LOGGER.info("Novabot gateway listening on %s:%s", self.bind_address, self.port)

    async def async_stop(self) -> None:
        """Disconnect every client and free the port; leaves no task behind."""
        self._relay.unsubscribe_all()
        server, self._server = self._server, None
        if server is None:
            return
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
        await server.wait_closed()
        LOGGER.info("Novabot gateway on %s:%s stopped", self.bind_address, self.port)

    async def async_admit(self, serial_number: str) -> None:
        """Let a charger in and relay its commands."""
        if self._rules.admit(serial_number) and self.running:
            await self._relay.async_subscribe(serial_number)

    @callback
    def async_withdraw(self, serial_number: str) -> None:
        """Stop relaying for a charger; its traffic is dropped from now on."""
        self._rules.withdraw(serial_number)
        self._relay.unsubscribe(serial_number)

    def clients(self) -> list[dict[str, Any]]:
        """The connected clients: client id and remote address."""
        return self._clients.diagnostics()
