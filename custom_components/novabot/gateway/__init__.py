"""The gateway: an embedded MQTT listener that admits only chargers.

The charger speaks MQTT 3.1.1 without a login (firmware v0.3.6) or with one
nobody can predict (v0.4.0: nothing, its serial number, or some cloud login),
and the official Mosquitto add-on refuses clients it does not know. So in
gateway mode the integration runs this small broker (amqtt), which admits any
login, on its own port; chargers connect here, and their traffic is relayed
through Home Assistant's own MQTT connection, so the add-on stays the hub and
sees the same topics as in direct mode.

Layers, along the data's way from the socket inwards:

* ``broker``: ``NovabotGateway`` starts and stops amqtt, listens on the ports
  chargers were told, and wires the layers below to it. They work with amqtt, so this module loads
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
instance. Where it listens is one setting for all of them (``settings``): the
address, and the port new chargers are told; it also listens on every port a
set-up charger was told, so a changed port cuts nobody off. A charger's entry
keeps its lease while the port cannot be opened: the gateway tries again, and a
repair issue says why, for as long as that lasts. ``limits`` holds every limit,
``counters`` what the diagnostics count, ``errors`` why a gateway cannot run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import itertools
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.importlib import async_import_module
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN, LOGGER
from . import limits
from .counters import Disconnect, Drop, _Counters
from .errors import (
    GatewayError,
    GatewayMqttUnavailableError,
    GatewayPortInUseError,
    GatewayStartError,
)
from .settings import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    GatewaySettings,
    shared_gateway_settings,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

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
    "GatewaySettings",
    "GatewayStartError",
    "async_apply_gateway_settings",
    "async_get_gateway_diagnostics",
    "async_use_gateway",
    "shared_gateway_settings",
]

DATA_GATEWAY: HassKey[_GatewayManager] = HassKey(f"{DOMAIN}_gateway")
RETRY_INTERVAL = 30.0  # seconds between tries to open a port that would not open


def listen_issue_id(port: int) -> str:
    """The repair issue of a port the gateway cannot listen on."""
    return f"gateway_port_in_use_{port}"


@dataclass(frozen=True, slots=True)
class _Lease:
    serial_number: str
    port: int  # the port its charger was told


class _GatewayManager:
    """The one gateway of a Home Assistant instance and who uses it."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._lock = asyncio.Lock()
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(1)
        self._shutdown_unsubscribes: list[CALLBACK_TYPE] = []
        self._unopened: dict[int, GatewayError] = {}  # wanted ports, and why not
        self._cancel_retry: CALLBACK_TYPE | None = None
        self.gateway: NovabotGateway | None = None
        self.counters = _Counters()

    def _admitted(self) -> set[str]:
        return {lease.serial_number for lease in self._leases.values()}

    def _wanted_ports(self) -> set[int]:
        return {lease.port for lease in self._leases.values()}

    async def async_acquire(self, serial_number: str, port: int, *, keep: bool) -> int:
        """Admit a charger told ``port``, starting the gateway as needed.

        Without ``keep`` (a config flow) a port that cannot be opened raises
        GatewayError and nothing is leased; with it (a charger's entry), the
        lease holds, and the port is tried again until it opens.
        """
        async with self._lock:
            gateway = self.gateway or await self._async_start()
            try:
                await gateway.async_listen(port)
            except GatewayError as err:
                if not keep:
                    if not self._leases:
                        await self._async_stop()
                    raise
                self._not_listening(port, err)
            else:
                # An entry's port being retried may open for this lease first.
                self._listening_or_unwanted(port)
            await gateway.async_admit(serial_number)
            lease = next(self._lease_ids)
            self._leases[lease] = _Lease(serial_number, port)
            return lease

    async def async_release(self, lease: int) -> None:
        """Withdraw a lease; the last one stops the gateway."""
        async with self._lock:
            released = self._leases.pop(lease, None)
            if released is None or self.gateway is None:
                return
            if not self._leases:
                await self._async_stop()
                return
            if released.serial_number not in self._admitted():
                self.gateway.async_withdraw(released.serial_number)
            if released.port not in self._wanted_ports():
                self._listening_or_unwanted(released.port)
                await self.gateway.async_stop_listening(released.port)

    async def async_apply_settings(self) -> None:
        """Listen where the shared settings now say; raise GatewayError if it cannot."""
        async with self._lock:
            gateway = self.gateway
            if gateway is None:
                return
            try:
                await gateway.async_rebind(
                    shared_gateway_settings(self._hass).bind_address
                )
            finally:
                # Ports not open are tried at once where it now listens: the
                # new address may be the fix, and a failed move may not have
                # got a port back (another program took it meanwhile).
                await self._async_listen_on(
                    gateway, self._wanted_ports() - gateway.ports
                )

    async def _async_start(self) -> NovabotGateway:
        if not await mqtt.async_wait_for_mqtt_client(self._hass):
            raise GatewayMqttUnavailableError
        # amqtt is loaded the first time a gateway starts, in the executor:
        # installations in direct mode never import it.
        broker = await async_import_module(self._hass, f"{__name__}.broker")
        settings = shared_gateway_settings(self._hass)
        gateway: NovabotGateway = broker.NovabotGateway(
            self._hass, settings.bind_address, self.counters
        )
        # amqtt cleans up after itself when its start fails.
        await gateway.async_start()
        self.gateway = gateway
        # Stop with Home Assistant, or the ports stay bound; CLOSE covers a
        # gateway started after STOP (a late config flow, say).
        self._shutdown_unsubscribes = [
            self._hass.bus.async_listen(event, self._async_on_shutdown)
            for event in (EVENT_HOMEASSISTANT_STOP, EVENT_HOMEASSISTANT_CLOSE)
        ]
        return gateway

    async def _async_stop(self) -> None:
        for unsubscribe in self._shutdown_unsubscribes:
            unsubscribe()
        self._shutdown_unsubscribes = []
        for port in list(self._unopened):
            self._listening_or_unwanted(port)
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            await gateway.async_stop()

    async def _async_on_shutdown(self, event: Event) -> None:
        async with self._lock:
            self._leases.clear()
            await self._async_stop()

    def _not_listening(self, port: int, err: GatewayError) -> None:
        """Say why ``port`` is closed, and try it again later."""
        if port not in self._unopened:
            LOGGER.warning(
                "The Novabot gateway cannot listen on port %s: %s", port, err
            )
        self._unopened[port] = err
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            listen_issue_id(port),
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=(
                "gateway_port_in_use"
                if isinstance(err, GatewayPortInUseError)
                else "gateway_cannot_listen"
            ),
            translation_placeholders=err.translation_placeholders,
        )
        if self._cancel_retry is None:
            self._cancel_retry = async_call_later(
                self._hass, RETRY_INTERVAL, self._retry_ports
            )

    def _listening_or_unwanted(self, port: int) -> None:
        """The port's trouble is over: it opened, or nobody needs it now."""
        if self._unopened.pop(port, None) is not None:
            ir.async_delete_issue(self._hass, DOMAIN, listen_issue_id(port))
        if not self._unopened and self._cancel_retry:
            self._cancel_retry()
            self._cancel_retry = None

    @callback
    def _retry_ports(self, _now: Any) -> None:
        self._cancel_retry = None
        self._hass.async_create_background_task(
            self._async_retry_ports(), f"{DOMAIN} gateway retries its ports"
        )

    async def _async_retry_ports(self) -> None:
        async with self._lock:
            if self.gateway is not None:
                await self._async_listen_on(self.gateway, set(self._unopened))

    async def _async_listen_on(self, gateway: NovabotGateway, ports: set[int]) -> None:
        """Try to open these wanted ports; those that will not open are retried."""
        for port in sorted(ports):
            try:
                await gateway.async_listen(port)
            except GatewayError as err:
                self._not_listening(port, err)
            else:
                self._listening_or_unwanted(port)

    @callback
    def diagnostics(self) -> dict[str, Any]:
        gateway = self.gateway
        return {
            "running": gateway is not None,
            "ports": sorted(gateway.ports) if gateway else [],
            "ports_not_open": sorted(self._unopened),
            "bind_address": gateway.bind_address if gateway else None,
            "chargers_admitted": len(self._admitted()),
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


def _manager(hass: HomeAssistant) -> _GatewayManager:
    manager = hass.data.get(DATA_GATEWAY)
    if manager is None:
        manager = hass.data[DATA_GATEWAY] = _GatewayManager(hass)
    return manager


async def async_use_gateway(
    hass: HomeAssistant, serial_number: str, port: int, *, keep: bool = False
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Admit a charger, told ``port``, to this Home Assistant's gateway.

    The gateway starts if needed, on the shared settings' address, and listens
    on ``port`` too. Returns the release function (safe to call twice); the last
    release stops the gateway. Raises GatewayPortInUseError or GatewayStartError
    when the port cannot be opened (unless ``keep``: then the lease holds, and a
    repair issue says why while the port is tried again), and
    GatewayMqttUnavailableError when Home Assistant's MQTT is not there.
    """
    manager = _manager(hass)
    lease = await manager.async_acquire(serial_number, port, keep=keep)
    released = False

    async def async_release() -> None:
        nonlocal released
        if not released:
            released = True
            await manager.async_release(lease)

    return async_release


async def async_apply_gateway_settings(hass: HomeAssistant) -> None:
    """Move a running gateway to the address the shared settings give.

    Raises GatewayError (the gateway stays where it was) when it cannot.
    """
    if manager := hass.data.get(DATA_GATEWAY):
        await manager.async_apply_settings()


@callback
def async_get_gateway_diagnostics(hass: HomeAssistant) -> dict[str, Any]:
    """The gateway's state, clients and counters, for diagnostics."""
    manager = hass.data.get(DATA_GATEWAY)
    if manager is None:
        manager = _GatewayManager(hass)  # never used: report an idle gateway
    return manager.diagnostics()
