"""Base entity: one device per charger, unique ids ``<SN>_<key>``."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from homeassistant.core import callback
from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_ADDRESS, DOMAIN, MANUFACTURER, MODEL
from .coordinator import NovabotCoordinator


@dataclass(frozen=True, kw_only=True)
class NovabotEntityDescription(EntityDescription):
    """The report fields an entity's value is computed from."""

    fields: frozenset[str]


class NovabotEntity(CoordinatorEntity[NovabotCoordinator]):
    """An entity that reads one value of the charger's latest report.

    A report usually changes one or two fields: an entity whose fields did not
    change does nothing, and one writes its state only when its own value or
    its availability changed.
    """

    _attr_has_entity_name = True
    _shown: tuple[bool, object] | None = None
    entity_description: NovabotEntityDescription

    def __init__(
        self, coordinator: NovabotCoordinator, description: NovabotEntityDescription
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

    @abstractmethod
    def _current_value(self) -> object:
        """The value this entity shows from the latest report (platforms say)."""

    def _now_showing(self) -> tuple[bool, object]:
        available = self.available
        return available, self._current_value() if available else None

    async def async_added_to_hass(self) -> None:
        """Remember what the first state write shows."""
        await super().async_added_to_hass()
        self._shown = self._now_showing()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only if this entity's value or availability changed."""
        if self.coordinator.changed_fields.isdisjoint(self.entity_description.fields):
            return
        showing = self._now_showing()
        if showing != self._shown:
            self._shown = showing
            self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """Available while the charger reports within the stale timeout."""
        return (
            super().available
            and self.coordinator.online
            and self.coordinator.data is not None
        )
