"""The chargers around one Home Assistant, and which proxy carries each link.

A charger exists once, whatever number of proxies hear it: its firmware state,
whether it still advertises (it stops once provisioned) and its one Bluetooth
link (a charger accepts a single central) belong here. How well a proxy hears
it is the proxy's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, EVENT_CHARGER_PROVISIONED, LOGGER

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.virtual_charger import VirtualCharger

    from .proxy import VirtualProxy

DATA_AIRSPACE: HassKey[Airspace] = HassKey(DOMAIN)


@dataclass(slots=True)
class Charger:
    """One charger in provisioning mode.

    ``charger`` is the firmware model of the current power-on; ``renew`` (if
    given) makes a fresh one when a new central connects after a link dropped
    without the settings being committed (a VirtualCharger models a single
    connection). ``link`` is the proxy its link goes through, if any.
    """

    charger: VirtualCharger
    renew: Callable[[], VirtualCharger] | None
    advertising: bool = True
    link: VirtualProxy | None = None


class Airspace:
    """Every virtual proxy and charger of one Home Assistant instance."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.proxies: dict[str, VirtualProxy] = {}  # by scanner source
        self.chargers: dict[str, Charger] = {}  # by Bluetooth address
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop)

    async def async_stop(self) -> None:
        """Stop every proxy: links drop, scanners leave Home Assistant."""
        for proxy in list(self.proxies.values()):
            await proxy.async_stop()

    async def _async_stop(self, _event: Event) -> None:
        await self.async_stop()

    @callback
    def link_closed(self, address: str, charger: VirtualCharger) -> None:
        """A link went down; a committed charger has rebooted out of provisioning."""
        record = self.chargers.get(address)
        proxy = record.link if record else None
        if record is None or record.charger is not charger:
            return
        record.link = None
        if charger.committed is None or proxy is None:
            return
        # The charger reboots into normal operation: it never advertises
        # again until it is power-cycled.
        record.advertising = False
        data = provisioned_event_data(address, charger, proxy)
        LOGGER.info(
            "Charger %s (%s) provisioned through %s: reports to %s:%s",
            data["serial_number"],
            address,
            proxy.name,
            data["mqtt_host"],
            data["mqtt_port"],
        )
        self.hass.bus.async_fire(EVENT_CHARGER_PROVISIONED, data)


def provisioned_event_data(
    address: str, charger: VirtualCharger, proxy: VirtualProxy
) -> dict[str, Any]:
    """What the charger stored, minus the WiFi password (never put on the bus)."""
    committed = charger.committed or {}
    wifi = committed.get("set_wifi_info") or {}
    mqtt = committed.get("set_mqtt_info") or {}
    return {
        "address": address,
        "proxy": proxy.name,
        "source": proxy.source,
        "serial_number": (wifi.get("ap") or {}).get("ssid"),
        "ssid": (wifi.get("sta") or {}).get("ssid"),
        "mqtt_host": mqtt.get("addr"),
        "mqtt_port": mqtt.get("port"),
        "lora_channel": charger.link.channel,
    }
