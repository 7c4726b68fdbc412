"""The chargers in provisioning mode that Home Assistant's Bluetooth hears.

A charger advertises for a few minutes after power-on, under the local name
``CHARGER_PILE`` and the vendor's company id. Adapters and ESPHome proxies
alike feed Home Assistant's Bluetooth, so asking it covers both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import bluetooth

if TYPE_CHECKING:
    from collections.abc import Collection

    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
    from homeassistant.core import HomeAssistant

ADVERTISED_NAME = "charger_pile"
MANUFACTURER_ID = 21862


def is_charger(info: BluetoothServiceInfoBleak) -> bool:
    """Whether an advertisement comes from a charger in provisioning mode.

    Mowers use the same company id, with another name: the manufacturer data
    alone counts only when no name was heard (a passive scan, say).
    """
    if name := info.name.strip() if info.name else "":
        return name.lower() == ADVERTISED_NAME
    return MANUFACTURER_ID in info.manufacturer_data


def chargers_heard(
    hass: HomeAssistant, skip: Collection[str | None] = ()
) -> dict[str, str]:
    """Chargers heard in provisioning mode, by address, with a label to pick from.

    Addresses in ``skip`` (chargers already configured) are left out.
    """
    return {
        info.address: f"{info.name or 'Charger'} ({info.address})"
        for info in bluetooth.async_discovered_service_info(hass)
        if is_charger(info) and info.address not in skip
    }
