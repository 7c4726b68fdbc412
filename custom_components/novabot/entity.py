"""Base entities: one device per charger, unique ids ``<SN>_<key>``."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from homeassistant.core import callback
from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_ADDRESS, DOMAIN, MANUFACTURER, MODEL
from .coordinator import NovabotCoordinator
from .protocol import MOWER_ANSWERING


def charger_device(coordinator: NovabotCoordinator) -> DeviceInfo:
    """The charger's device; its firmware version comes from the charger."""
    entry = coordinator.config_entry
    address = entry.data.get(CONF_ADDRESS)
    return DeviceInfo(
        identifiers={(DOMAIN, coordinator.serial_number)},
        connections={(CONNECTION_BLUETOOTH, address)} if address else set(),
        manufacturer=MANUFACTURER,
        model=MODEL,
        name=entry.title,
        serial_number=coordinator.serial_number,
        # No sw_version: the registry keeps the last one the charger gave.
    )


@dataclass(frozen=True, kw_only=True)
class NovabotEntityDescription(EntityDescription):
    """What an entity reads from the charger's reports.

    ``fields``: the report fields its value is computed from. ``from_mower``:
    its value is relayed from the mower, so it is stale (unavailable) while the
    mower does not answer the charger.
    """

    fields: frozenset[str]
    from_mower: bool = False


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
        self._attr_unique_id = f"{coordinator.serial_number}_{description.key}"
        self._attr_device_info = charger_device(coordinator)
        self._watched = description.fields | (
            {MOWER_ANSWERING} if description.from_mower else set()
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
        if self.coordinator.changed_fields.isdisjoint(self._watched):
            return
        showing = self._now_showing()
        if showing != self._shown:
            self._shown = showing
            self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """While the charger reports; mower values while the mower answers too."""
        coordinator = self.coordinator
        status = coordinator.data
        return (
            super().available
            and coordinator.online
            and status is not None
            and (not self.entity_description.from_mower or status.mower_answering)
        )


class NovabotSettingEntity(Entity):
    """A setting kept by Home Assistant for the charger (no report involved)."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(
        self, coordinator: NovabotCoordinator, description: EntityDescription
    ) -> None:
        self.coordinator = coordinator
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.serial_number}_{description.key}"
        self._attr_device_info = charger_device(coordinator)
