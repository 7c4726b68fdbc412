"""Binary sensors of the charger's status report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass

from .entity import (
    NovabotEntity,
    NovabotEntityDescription,
    async_add_charger_and_mower_entities,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry
    from .protocol import ChargerStatus

# Entities only read the coordinator, which pushes updates: no limit needed.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NovabotBinarySensorEntityDescription(
    BinarySensorEntityDescription, NovabotEntityDescription
):
    """A binary sensor and the function reading its value from a report."""

    value_fn: Callable[[ChargerStatus], bool | None]


BINARY_SENSORS: tuple[NovabotBinarySensorEntityDescription, ...] = (
    NovabotBinarySensorEntityDescription(
        key="gps_fix",
        translation_key="gps_fix",
        fields=frozenset({"charger_status"}),
        value_fn=lambda status: status.gps_fix,
    ),
    NovabotBinarySensorEntityDescription(
        key="rtk_fix",
        translation_key="rtk_fix",
        fields=frozenset({"charger_status"}),
        value_fn=lambda status: status.rtk_fix,
    ),
    NovabotBinarySensorEntityDescription(
        # On the mower's device, and available while the mower is silent: it
        # says so.
        key="mower_connected",
        translation_key="mower_connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        fields=frozenset({"mower_error"}),
        value_fn=lambda status: status.mower_connected,
        on_mower=True,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the charger's binary sensors, and the mower's once it is there."""
    coordinator = entry.runtime_data
    async_add_charger_and_mower_entities(
        coordinator,
        async_add_entities,
        (
            NovabotBinarySensor(coordinator, desc)
            for desc in BINARY_SENSORS
            if not desc.on_mower
        ),
        lambda: [
            NovabotBinarySensor(coordinator, desc)
            for desc in BINARY_SENSORS
            if desc.on_mower
        ],
    )


class NovabotBinarySensor(NovabotEntity, BinarySensorEntity):
    """A flag from the charger's report."""

    entity_description: NovabotBinarySensorEntityDescription

    @property
    def is_on(self) -> bool | None:
        """The flag in the latest report."""
        return self.entity_description.value_fn(self.coordinator.data)

    def _current_value(self) -> object:
        return self.is_on
