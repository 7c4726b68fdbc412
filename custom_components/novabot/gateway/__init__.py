"""The gateway: an embedded MQTT listener that admits only chargers.

The charger speaks MQTT 3.1.1 anonymously (firmware v0.3.6) or with a fixed
login (v0.4.0 and later), and the official Mosquitto add-on refuses both. So in
gateway mode the integration runs this small broker (amqtt) on its own port;
chargers connect here, and their traffic is relayed through Home Assistant's
own MQTT connection, so the add-on stays the hub and sees the same topics as in
direct mode.

Layers, along the data's way from the socket inwards:

* ``broker``: ``NovabotGateway`` binds the port, starts and stops amqtt, and
  wires the layers below to it. They work with amqtt, so this module loads
  ``broker`` in the executor when a gateway starts: direct mode never does.
* ``clients`` holds every accepted connection, at most ``MAX_CLIENTS``, each
  known by its client id; a newer one with the same id takes over.
* ``connection`` owns each TCP connection before amqtt sees a byte: it reads
  and checks the CONNECT itself, then frames every later packet (``packets``)
  and drops those over the size or the rate before amqtt parses them; it also
  enforces the keep-alive.
* ``rules`` decides who may publish and subscribe what; its amqtt auth and
  topic-filter plugin denies subscriptions and publishes inside the broker and
  checks every publish again before it goes to the relay.
* ``relay`` publishes what the rules let through on Home Assistant's MQTT, and
  hands commands from there to the chargers that listen for them.

Topics up (``Dart/Receive_mqtt/<SN>``) and down (``Dart/Send_mqtt/<SN>``) are
disjoint, the relay subscribes on Home Assistant's side only to the latter and
lets clients publish only to the former, and amqtt does not report its own
(internal) broadcasts as received messages: nothing can loop.

This module shares one gateway among the chargers of a Home Assistant
instance; ``limits`` holds every limit, ``counters`` what the diagnostics count,
``errors`` why a gateway cannot run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.importlib import async_import_module
from homeassistant.util.hass_dict import HassKey

from ..const import (
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_PORT,
    DOMAIN,
    LOGGER,
)
from . import limits
from .counters import Disconnect, Drop, _Counters
from .errors import (
    GatewayError,
    GatewayMqttUnavailableError,
    GatewayPortInUseError,
    GatewayStartError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from homeassistant.config_entries import ConfigEntry

    from .broker import NovabotGateway

__all__ = [
    "DATA_GATEWAY",
    "DEFAULT_BIND_ADDRESS",
    "DEFAULT_GATEWAY_PORT",
    "Disconnect",
    "Drop",
    "GatewayError",
    "GatewayMqttUnavailableError",
    "GatewayPortInUseError",
    "GatewayStartError",
    "async_get_gateway_diagnostics",
    "async_use_gateway",
    "gateway_endpoint",
]

DEFAULT_GATEWAY_PORT: Final = 1885
DEFAULT_BIND_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - chargers connect over the LAN

DATA_GATEWAY: HassKey[_GatewayManager] = HassKey(f"{DOMAIN}_gateway")


def gateway_endpoint(entry: ConfigEntry) -> tuple[int, str]:
    """The port and address the gateway listens on for a charger's entry.

    The entry's options when set; otherwise the port a gateway-mode charger
    was told, or the default port for a charger not in gateway mode yet.
    """
    told = entry.data[CONF_MQTT_PORT] if entry.data.get(CONF_GATEWAY) else None
    port: int = entry.options.get(CONF_GATEWAY_PORT, told or DEFAULT_GATEWAY_PORT)
    address: str = entry.options.get(CONF_GATEWAY_BIND_ADDRESS, DEFAULT_BIND_ADDRESS)
    return port, address


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
        # amqtt is loaded the first time a gateway starts, in the executor:
        # installations in direct mode never import it.
        broker = await async_import_module(self._hass, f"{__name__}.broker")
        gateway: NovabotGateway = broker.NovabotGateway(
            self._hass, port, bind_address, self.counters
        )
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
                "max_clients": limits.MAX_CLIENTS,
                "max_packet_size": limits.MAX_PACKET_SIZE,
                "rate_limit": limits.RATE_LIMIT,
                "rate_burst": limits.RATE_BURST,
                "max_violations": limits.MAX_VIOLATIONS,
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
