"""The charger's GATT table, as the bleak objects a backend hands to BleakClient.

bleak's own backends build a fresh ``BleakGATTServiceCollection`` for each
connection from what the operating system discovered; this one is built from
the protocol document. Handles are plausible ESP32 values, nothing relies on
them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.uuids import normalize_uuid_16, normalize_uuid_str

from .const import ATT_MTU, COMMAND_CHARACTERISTIC, DATA_CHARACTERISTIC, SERVICE_UUID

if TYPE_CHECKING:
    from collections.abc import Collection

    from bleak.assigned_numbers import CharacteristicPropertyName

CCCD_UUID = normalize_uuid_16(0x2902)  # Client Characteristic Configuration

_SERVICE_HANDLE = 0x0028
_COMMAND_HANDLE = 0x002A
_COMMAND_CCCD_HANDLE = 0x002B
_DATA_HANDLE = 0x002D

_COMMAND_PROPERTIES: list[CharacteristicPropertyName] = [
    "write-without-response",
    "notify",
]
_DATA_PROPERTIES: list[CharacteristicPropertyName] = [
    "read",
    "write-without-response",
]


def _max_write_without_response_size() -> int:
    return ATT_MTU - 3  # the ATT header takes 3 bytes of the MTU


def charger_services(
    requested: Collection[str] | None = None,
) -> BleakGATTServiceCollection:
    """The charger's service, unless ``requested`` (UUIDs) leaves it out.

    ``requested`` is the ``services`` filter a ``BleakClient`` was created
    with; bleak's backends resolve only those services when one is given.
    """
    services = BleakGATTServiceCollection()
    if requested is not None and SERVICE_UUID not in {
        normalize_uuid_str(uuid) for uuid in requested
    }:
        return services
    service = BleakGATTService(None, _SERVICE_HANDLE, SERVICE_UUID)
    services.add_service(service)
    command = BleakGATTCharacteristic(
        None,
        _COMMAND_HANDLE,
        COMMAND_CHARACTERISTIC,
        list(_COMMAND_PROPERTIES),
        _max_write_without_response_size,
        service,
    )
    services.add_characteristic(command)
    services.add_descriptor(
        BleakGATTDescriptor(None, _COMMAND_CCCD_HANDLE, CCCD_UUID, command)
    )
    services.add_characteristic(
        BleakGATTCharacteristic(
            None,
            _DATA_HANDLE,
            DATA_CHARACTERISTIC,
            list(_DATA_PROPERTIES),
            _max_write_without_response_size,
            service,
        )
    )
    return services
