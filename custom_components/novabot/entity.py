"""Base entity: one device per charger, unique ids ``<SN>_<key>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_ADDRESS, DOMAIN, MANUFACTURER, MODEL
from .coordinator import NovabotCoordinator

if TYPE_CHECKING:
    from homeassistant.helpers.entity import EntityDescription


class NovabotEntity(CoordinatorEntity[NovabotCoordinator]):
    """An entity that reads one value of the charger's latest report."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: NovabotCoordinator, description: EntityDescription
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        serial_number = coordinator.serial_number
        self._attr_unique_id = f"{serial_number}_{description.key}"
        entry = coordinator.config_entry
        address = entry.data.get(CONF_ADDRESS)
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, serial_number)},
            connections={(CONNECTION_BLUETOOTH, address)} if address else set(),
            manufacturer=MANUFACTURER,
            model=MODEL,
            name=entry.title,
            serial_number=serial_number,
            # No sw_version: the registry keeps the last one the charger gave.
        )

    @property
    def available(self) -> bool:
        """Available while the charger reports within the stale timeout."""
        return (
            super().available
            and self.coordinator.online
            and self.coordinator.data is not None
        )
