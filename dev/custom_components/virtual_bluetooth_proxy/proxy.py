"""A virtual Bluetooth proxy: a remote scanner plus a bleak backend, like ESPHome's.

Home Assistant's Bluetooth manager cannot tell it from a real proxy: the
scanner is registered with ``bluetooth.async_register_scanner``, its
advertisements go through the manager's matchers, and connections through
``HaBleakClientWrapper`` reach :class:`VirtualChargerClient` when this proxy
hears the charger best.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from bleak.exc import BleakDeviceNotFoundError, BleakError
from habluetooth import Allocations, HaBluetoothConnector, get_manager
from homeassistant.components import bluetooth
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_track_time_interval

from tests.virtual_charger import VirtualCharger

from .advertisement import charger_advertisement, mac_bytes
from .airspace import Charger
from .backend import VirtualChargerClient
from .const import DOMAIN, LOGGER
from .scanner import VirtualProxyScanner

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime, timedelta

    from bleak.backends.client import BaseBleakClient

    from .airspace import Airspace

MODEL = "Virtual Bluetooth proxy"


@dataclass(slots=True)
class _Heard:
    """How this proxy hears one charger."""

    rssi: int | None  # None: the proxy's own RSSI
    in_range: bool = True


class VirtualProxy:
    """One proxy: what it hears, at which RSSI, and the links through it.

    Create it with :func:`async_add_proxy`; stop it with :meth:`async_stop`.
    """

    def __init__(
        self,
        airspace: Airspace,
        name: str,
        *,
        source: str,
        rssi: int,
        connection_slots: int,
        advertise_interval: timedelta | None,
    ) -> None:
        self.name = name
        self.source = source
        self.rssi = rssi
        self.connection_slots = connection_slots
        # Every address connected through this proxy, in order.
        self.connection_log: list[str] = []
        self._airspace = airspace
        self._advertise_interval = advertise_interval
        self._heard: dict[str, _Heard] = {}
        self._links: dict[str, VirtualCharger] = {}
        self._cancel: list[CALLBACK_TYPE] = []
        connector = HaBluetoothConnector(
            # Home Assistant instantiates this per connection, with the device.
            client=cast(
                "type[BaseBleakClient]", partial(VirtualChargerClient, broker=self)
            ),
            source=source,
            can_connect=self._can_connect,
        )
        self.scanner = VirtualProxyScanner(source, name, connector, self._allocations)

    def __repr__(self) -> str:
        """Name, source and RSSI: what a test failure should show."""
        return f"<VirtualProxy {self.name!r} ({self.source}), rssi {self.rssi}>"

    @property
    def connections(self) -> list[str]:
        """The addresses connected through this proxy now."""
        return list(self._links)

    # --- chargers ---------------------------------------------------------------

    def add_charger(
        self,
        address: str,
        charger: VirtualCharger | Callable[[], VirtualCharger] | None = None,
        *,
        rssi: int | None = None,
    ) -> VirtualCharger:
        """Hear a charger in provisioning mode at ``address``; advertise it now.

        ``charger`` is a :class:`VirtualCharger` (it serves one connection),
        or a callable making one (called again for each new connection after
        a link dropped uncommitted), or ``None``: well-behaved and instant,
        for every connection. A charger another proxy already hears is the
        same charger: pass the same instance, or nothing. ``rssi`` overrides
        the proxy's RSSI for this charger. Returns the charger's current
        firmware model.
        """
        address = address.upper()
        mac_bytes(address)  # a malformed address fails here, not on the air
        record = self._airspace.chargers.get(address)
        if record is None:
            if charger is None:
                charger = VirtualCharger
            renew = None if isinstance(charger, VirtualCharger) else charger
            record = Charger(_new_charger(charger, address), renew)
            self._airspace.chargers[address] = record
        elif isinstance(charger, VirtualCharger) and charger is not record.charger:
            raise ValueError(f"another charger is already at {address}")
        self._heard[address] = _Heard(rssi)
        LOGGER.debug(
            "%s hears the charger %s at %s dBm",
            self.name,
            address,
            self.rssi if rssi is None else rssi,
        )
        self.advertise(address)
        return record.charger

    def charger(self, address: str) -> VirtualCharger:
        """The current firmware model of the charger at ``address``."""
        return self._airspace.chargers[address.upper()].charger

    def advertise(self, address: str | None = None, *, rssi: int | None = None) -> None:
        """Send one advertisement now, for ``address`` or every charger heard.

        Brings a charger that was :meth:`out_of_range` back in range; ``rssi``
        changes how well this proxy hears it. A charger with a central connected
        does not advertise (an ESP32 stops while connected), nor does one that
        left provisioning mode.
        """
        addresses = [address.upper()] if address else list(self._heard)
        for each in addresses:
            heard = self._heard[each]
            heard.in_range = True
            if rssi is not None:
                heard.rssi = rssi
            self._send(each, heard)

    def stop_advertising(self, address: str) -> None:
        """The charger leaves provisioning mode: no proxy hears it any more.

        Home Assistant forgets it on its own schedule, as it would forget a
        real one (a connectable device after 195 s of silence). A link that is
        up stays up.
        """
        self._airspace.chargers[address.upper()].advertising = False

    def out_of_range(self, address: str) -> None:
        """The charger leaves this proxy's range: its link through here drops.

        ``break_link()`` calls the disconnected callback, as a supervision
        timeout would. :meth:`advertise` brings it back.
        """
        address = address.upper()
        self._heard[address].in_range = False
        if (charger := self._links.get(address)) is not None:
            charger.break_link()

    def remove_charger(self, address: str) -> None:
        """Out of range, and forgotten by this proxy."""
        self.out_of_range(address)
        del self._heard[address.upper()]

    def _send(self, address: str, heard: _Heard) -> None:
        record = self._airspace.chargers[address]
        if not heard.in_range or not record.advertising or record.link is not None:
            return
        rssi = self.rssi if heard.rssi is None else heard.rssi
        self.scanner.hear(address, rssi, charger_advertisement(address))

    @callback
    def _async_readvertise(self, _now: datetime) -> None:
        for address, heard in self._heard.items():
            self._send(address, heard)

    # --- links (the LinkBroker side of the backend) ---------------------------------

    def _can_connect(self) -> bool:
        return len(self._links) < self.connection_slots

    def _allocations(self) -> Allocations:
        return Allocations(
            adapter=self.source,
            slots=self.connection_slots,
            free=self.connection_slots - len(self._links),
            allocated=list(self._links),
        )

    def open_link(self, address: str) -> VirtualCharger:
        """A central connects to ``address`` through this proxy."""
        record = self._airspace.chargers.get(address)
        heard = self._heard.get(address)
        if record is None or heard is None or not heard.in_range:
            raise BleakDeviceNotFoundError(address, f"{self.name} does not hear it")
        if not record.advertising:
            raise BleakDeviceNotFoundError(address, "it left provisioning mode")
        if record.link is not None:
            raise BleakError(f"{address} is already connected via {record.link.name}")
        if not record.charger.is_connected:  # its one connection is used up
            if record.renew is None:
                raise BleakError(
                    f"{address}: this VirtualCharger served its connection; "
                    "add_charger() a factory to accept another"
                )
            record.charger = _new_charger(record.renew, address)
        record.link = self
        self._links[address] = record.charger
        self.connection_log.append(address)
        self._allocations_changed()
        LOGGER.info("%s: connected to %s", self.name, address)
        return record.charger

    def link_closed(self, address: str, charger: VirtualCharger) -> None:
        """The link to ``address`` is down; a committed charger rebooted."""
        if self._links.get(address) is charger:
            del self._links[address]
            self._allocations_changed()
            LOGGER.info("%s: disconnected from %s", self.name, address)
        self._airspace.link_closed(address, charger)

    def _allocations_changed(self) -> None:
        # ESPHome proxies push their slot usage the same way; Home Assistant
        # shows it in its Bluetooth panel.
        if self.source in self._airspace.proxies:
            get_manager().async_on_allocation_changed(self._allocations())

    # --- lifecycle ----------------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Join Home Assistant's Bluetooth as a connectable remote scanner."""
        hass = self._airspace.hass
        self._cancel.append(
            bluetooth.async_register_scanner(
                hass, self.scanner, source_domain=DOMAIN, source_model=MODEL
            )
        )
        self._cancel.append(self.scanner.async_setup())
        self._airspace.proxies[self.source] = self
        LOGGER.info(
            "%s joined Home Assistant's Bluetooth as %s", self.name, self.source
        )
        if self._advertise_interval is not None:
            self._cancel.append(
                async_track_time_interval(
                    hass,
                    self._async_readvertise,
                    self._advertise_interval,
                    name=f"{DOMAIN} {self.name} advertising",
                    cancel_on_shutdown=True,
                )
            )

    async def async_stop(self) -> None:
        """Leave Home Assistant, as a proxy that was unplugged: links drop."""
        if self._airspace.proxies.get(self.source) is not self:
            return
        # Links first, so the scanner leaves with nothing connected through it.
        for charger in list(self._links.values()):
            charger.break_link()
            await charger.wait_idle()  # break_link cancelled its replies
        del self._airspace.proxies[self.source]
        while self._cancel:
            self._cancel.pop()()


def _new_charger(
    charger: VirtualCharger | Callable[[], VirtualCharger], address: str
) -> VirtualCharger:
    made = charger if isinstance(charger, VirtualCharger) else charger()
    made.address = address  # the model's default address is a placeholder
    return made
