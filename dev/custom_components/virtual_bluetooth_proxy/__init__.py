"""Virtual Bluetooth proxy: simulated Novabot chargers inside Home Assistant's Bluetooth.

For development and tests only (it is not shipped with the novabot
integration). Each proxy plugs into Home Assistant's real Bluetooth manager the
way an ESPHome Bluetooth proxy does: a connectable remote scanner that hears
chargers in provisioning mode (``CHARGER_PILE``, manufacturer id 0x5566), and a
bleak backend that carries connections to the simulated firmware in
``tests/virtual_charger.py`` (the repository root must be on ``sys.path``).

From YAML (``scripts/develop``)::

    virtual_bluetooth_proxy:
      - name: Garden proxy
        rssi: -60                 # default -60
        # source: "02:00:00:00:00:01"   # default: derived from the name
        # connection_slots: 3
        chargers:
          - address: "AA:BB:CC:DD:EE:01"
            timings: demo         # instant | demo (default) | slowest
            # rssi: -70           # this charger, heard by this proxy
            # quiet_channels: [15, 17]     # default: all, 15 the quietest
            # seed: 1                      # its factory LoRa address and channel
            # lora_reply: no_result        # integer | object
            # results: {set_rtk_info: 1}   # a step fails with this result
            # silent: [set_lora_info]      # a step is never answered

A charger listed by several proxies is one charger heard by each (the first
listing's options define it). Run ``hass`` with
``PYTHONPATH=<repository>:<repository>/dev``: the first for
``tests.virtual_charger``, the second for this integration. A symlink in
``config/custom_components`` is not enough then: Home Assistant puts the
configuration directory on ``sys.path`` only while it imports the
``custom_components`` namespace package, and once the repository's own
``custom_components`` is on ``PYTHONPATH`` the package's path no longer
includes the configuration directory's.

From Python (tests)::

    proxy = await async_add_proxy(hass, "proxy-1", rssi=-60)
    charger = proxy.add_charger("AA:BB:CC:DD:EE:01", VirtualCharger())
    proxy.advertise()                  # once more, now (it also does every 5 s)
    proxy.connections                  # ["AA:BB:CC:DD:EE:01"] while connected
    proxy.connection_log               # every address ever connected through it
    proxy.out_of_range(address)        # the link drops mid-session
    proxy.stop_advertising(address)    # it left provisioning mode
    proxy.remove_charger(address)      # out of range and forgotten
    async_get_proxies(hass)            # every running proxy, YAML ones too
    await async_stop_proxies(hass)     # also done at Home Assistant's stop

When a charger commits its settings (``set_cfg_info``) and its link drops, it
has rebooted out of provisioning mode: every proxy stops advertising it and the
event ``virtual_bluetooth_proxy_charger_provisioned`` is fired with
``address``, ``proxy`` (name), ``source``, ``serial_number`` (the access point
name ``set_wifi_info`` gave it), ``ssid``, ``mqtt_host``, ``mqtt_port`` and
``lora_channel``: enough to start a simulated charger reporting to that broker.
The WiFi password is never on the event bus.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from homeassistant.const import CONF_ADDRESS, CONF_NAME
from homeassistant.core import callback
from homeassistant.helpers import config_validation as cv
from homeassistant.setup import async_setup_component
import probatio as vol

from .airspace import DATA_AIRSPACE, Airspace
from .chargers import CHARGER_SCHEMA, CONF_RSSI, charger_factory
from .const import (
    ADVERTISE_INTERVAL,
    DEFAULT_CONNECTION_SLOTS,
    DEFAULT_RSSI,
    DOMAIN,
    EVENT_CHARGER_PROVISIONED,
)
from .proxy import VirtualProxy

if TYPE_CHECKING:
    from datetime import timedelta

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.typing import ConfigType

__all__ = [
    "DOMAIN",
    "EVENT_CHARGER_PROVISIONED",
    "VirtualProxy",
    "async_add_proxy",
    "async_get_proxies",
    "async_stop_proxies",
]

CONF_SOURCE: Final = "source"
CONF_CONNECTION_SLOTS: Final = "connection_slots"
CONF_CHARGERS: Final = "chargers"

PROXY_SCHEMA: Final = vol.Schema(
    {
        vol.Required(CONF_NAME): cv.string,
        vol.Optional(CONF_RSSI, default=DEFAULT_RSSI): vol.All(
            vol.Coerce(int), vol.Range(-127, 20)
        ),
        vol.Optional(CONF_SOURCE): vol.All(cv.string, vol.Upper),
        vol.Optional(CONF_CONNECTION_SLOTS, default=DEFAULT_CONNECTION_SLOTS): vol.All(
            vol.Coerce(int), vol.Range(min=1)
        ),
        vol.Optional(CONF_CHARGERS, default=[]): vol.All(
            cv.ensure_list, [CHARGER_SCHEMA]
        ),
    }
)
CONFIG_SCHEMA: Final = vol.Schema(
    {DOMAIN: vol.All(cv.ensure_list, [PROXY_SCHEMA])}, extra=vol.ALLOW_EXTRA
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Start the proxies (and their chargers) configured in YAML, if any."""
    airspace = hass.data[DATA_AIRSPACE] = Airspace(hass)
    for proxy_config in config.get(DOMAIN, []):
        proxy = _async_create_proxy(
            airspace,
            proxy_config[CONF_NAME],
            rssi=proxy_config[CONF_RSSI],
            source=proxy_config.get(CONF_SOURCE),
            connection_slots=proxy_config[CONF_CONNECTION_SLOTS],
            advertise_interval=ADVERTISE_INTERVAL,
        )
        for charger in proxy_config[CONF_CHARGERS]:
            proxy.add_charger(
                charger[CONF_ADDRESS],
                charger_factory(charger),
                rssi=charger.get(CONF_RSSI),
            )
    return True


async def async_add_proxy(
    hass: HomeAssistant,
    name: str,
    *,
    rssi: int = DEFAULT_RSSI,
    source: str | None = None,
    connection_slots: int = DEFAULT_CONNECTION_SLOTS,
    advertise_interval: timedelta | None = ADVERTISE_INTERVAL,
) -> VirtualProxy:
    """Add a running proxy named ``name`` that hears chargers at ``rssi``.

    Sets up this integration (and so Home Assistant's ``bluetooth``) first if
    needed. ``source`` is the scanner's unique source (default: a locally
    administered MAC derived from ``name``); ``advertise_interval`` ``None``
    leaves advertising to explicit :meth:`VirtualProxy.advertise` calls.
    """
    if DATA_AIRSPACE not in hass.data and not await async_setup_component(
        hass, DOMAIN, {}
    ):
        raise RuntimeError(f"{DOMAIN} could not be set up")
    return _async_create_proxy(
        hass.data[DATA_AIRSPACE],
        name,
        rssi=rssi,
        source=source,
        connection_slots=connection_slots,
        advertise_interval=advertise_interval,
    )


@callback
def async_get_proxies(hass: HomeAssistant) -> list[VirtualProxy]:
    """The running proxies, in the order they were added."""
    if (airspace := hass.data.get(DATA_AIRSPACE)) is None:
        return []
    return list(airspace.proxies.values())


async def async_stop_proxies(hass: HomeAssistant) -> None:
    """Stop every proxy; Home Assistant's shutdown does the same."""
    if (airspace := hass.data.get(DATA_AIRSPACE)) is not None:
        await airspace.async_stop()


def _async_create_proxy(
    airspace: Airspace,
    name: str,
    *,
    rssi: int,
    source: str | None,
    connection_slots: int,
    advertise_interval: timedelta | None,
) -> VirtualProxy:
    source = source or _source_from_name(name)
    if source in airspace.proxies:
        raise ValueError(f"a proxy with source {source} already exists")
    proxy = VirtualProxy(
        airspace,
        name,
        source=source,
        rssi=rssi,
        connection_slots=connection_slots,
        advertise_interval=advertise_interval,
    )
    proxy.async_start()
    return proxy


def _source_from_name(name: str) -> str:
    """A stable, locally administered MAC: what a real proxy's source looks like.

    Stable across restarts so Home Assistant's saved advertisement history of
    this proxy is its own.
    """
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{byte:02X}" for byte in (0x02, *digest[:5]))
