"""The bleak backend of a virtual proxy: GATT operations reach a VirtualCharger.

Home Assistant's ``HaBleakClientWrapper`` (what ``BleakClient`` and
``BleakClientWithServiceCache`` are once the bluetooth integration runs) picks
the scanner that hears a device best and instantiates that scanner's
``connector.client`` as its backend, exactly as it does with ESPHome's. So
everything above this class is the real bleak and Home Assistant code path:
characteristic lookup by UUID, notification callback wrapping, disconnect
callbacks, connection bookkeeping.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from bleak.backends.client import BaseBleakClient
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from .const import ADVERTISED_NAME, ATT_MTU, LOGGER
from .gatt import CCCD_UUID, charger_services

if TYPE_CHECKING:
    from bleak.args import SizedBuffer
    from bleak.backends.characteristic import BleakGATTCharacteristic
    from bleak.backends.client import NotifyCallback
    from bleak.backends.descriptor import BleakGATTDescriptor
    from bleak.backends.device import BLEDevice

    from tests.virtual_charger import VirtualCharger


class LinkBroker(Protocol):
    """The proxy side of a connection: who is in range, who is connected."""

    def open_link(self, address: str) -> VirtualCharger:
        """Connect to the charger at ``address``; raise ``BleakError`` if it cannot."""

    def link_closed(self, address: str, charger: VirtualCharger) -> None:
        """The link to ``charger`` is down, whoever dropped it."""


class VirtualChargerClient(BaseBleakClient):
    """A ``BaseBleakClient`` whose peer is a simulated charger.

    Created by Home Assistant for each connection attempt through one proxy
    (``partial(VirtualChargerClient, broker=proxy)`` is that proxy's
    ``HaBluetoothConnector.client``).
    """

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        broker: LinkBroker,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, **kwargs)
        self._broker = broker
        self._requested_services: set[str] | None = kwargs.get("services")
        self._charger: VirtualCharger | None = None
        # By characteristic handle: bleak's per-client callbacks, which
        # stop_notify can remove (the charger itself has no unsubscribe).
        self._subscriptions: dict[int, NotifyCallback] = {}

    # --- connection -----------------------------------------------------------

    @property
    def name(self) -> str:
        """The name the charger advertises (it has no GAP name of its own)."""
        return ADVERTISED_NAME

    @property
    def mtu_size(self) -> int:
        """Always the default ATT MTU: the charger does not negotiate."""
        return ATT_MTU

    @property
    def is_connected(self) -> bool:
        """Whether the link to the charger is up."""
        return self._charger is not None and self._charger.is_connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Open the link and "discover" the charger's services."""
        if self.is_connected:
            return
        if pair:
            LOGGER.debug("%s: no pairing needed, connecting without", self.address)
        charger = self._broker.open_link(self.address)
        charger.set_disconnected_callback(self._link_down)
        self._charger = charger
        self._subscriptions.clear()
        self.services = charger_services(self._requested_services)

    async def disconnect(self) -> None:
        """Drop the link; the charger cancels the replies it was working on."""
        if self._charger is not None:
            # Also when the link is already down: the charger's disconnect
            # awaits its reply tasks, so nothing is left running.
            await self._charger.disconnect()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the charger accepts connections without pairing."""

    async def unpair(self) -> None:
        """Nothing to do: the charger is never paired."""

    async def clear_cache(self) -> bool:
        """Nothing is cached: services are built for each connection.

        Without this, Home Assistant's wrapper would ask BlueZ over D-Bus.
        """
        return True

    def _link_down(self, charger: VirtualCharger) -> None:
        self._subscriptions.clear()
        self._broker.link_closed(self.address, charger)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def _link(self) -> VirtualCharger:
        if self._charger is None or not self._charger.is_connected:
            raise BleakError(f"{self.address}: not connected")
        return self._charger

    # --- GATT -------------------------------------------------------------------

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        """Read a characteristic; the data characteristic's content is not modelled."""
        self._link()
        if "read" not in characteristic.properties:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.READ_NOT_PERMITTED)
        return bytearray()

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        """Read a descriptor: only the command characteristic's CCCD exists."""
        self._link()
        if descriptor.uuid != CCCD_UUID:
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.INVALID_HANDLE)
        notifying = descriptor.characteristic_handle in self._subscriptions
        return bytearray(b"\x01\x00" if notifying else b"\x00\x00")

    async def write_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        data: SizedBuffer,
        response: bool,
    ) -> None:
        """Write to the charger, refusing what its GATT server would refuse."""
        charger = self._link()
        if response and "write" not in characteristic.properties:
            # A write request gets an ATT error back from the peripheral.
            raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)
        if not response:
            if "write-without-response" not in characteristic.properties:
                raise BleakError(
                    f"{characteristic.uuid} does not support write without response"
                )
            if len(data) > characteristic.max_write_without_response_size:
                # Refused outright rather than truncated on the air: a
                # session that sends longer chunks is wrong for the charger.
                raise BleakError(
                    f"{len(data)} bytes do not fit the ATT MTU of {ATT_MTU}"
                )
        await charger.write_gatt_char(
            characteristic.uuid, bytes(data), response=response
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        """The charger has no writable descriptor (bleak guards the CCCD itself)."""
        self._link()
        raise BleakGATTProtocolError(BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED)

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        """Subscribe: the charger's notifications reach bleak's callback."""
        charger = self._link()
        if "notify" not in characteristic.properties:
            raise BleakError(f"{characteristic.uuid} does not notify")
        self._subscriptions[characteristic.handle] = callback
        await charger.start_notify(
            characteristic.uuid, partial(self._notified, characteristic.handle)
        )

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Unsubscribe; later notifications are dropped here."""
        self._link()
        self._subscriptions.pop(characteristic.handle, None)

    def _notified(self, handle: int, _sender: Any, data: bytearray) -> None:
        # bleak's callback already knows its characteristic: it takes the data only.
        if (callback := self._subscriptions.get(handle)) is not None:
            callback(data)
