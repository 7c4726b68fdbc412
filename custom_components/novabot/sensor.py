"""Sensors of the charger's status report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .entity import NovabotEntity, NovabotEntityDescription

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry, NovabotCoordinator
    from .protocol import ChargerStatus

# Entities only read the coordinator, which pushes updates: no limit needed.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NovabotSensorEntityDescription(SensorEntityDescription, NovabotEntityDescription):
    """A sensor and the function reading its value from a report."""

    value_fn: Callable[[ChargerStatus], int | None]


def _raw(
    key: str, *, enabled: bool = False, state_class: SensorStateClass | None = None
) -> NovabotSensorEntityDescription:
    """A diagnostic sensor showing one report field as the charger sends it."""
    return NovabotSensorEntityDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=enabled,
        state_class=state_class,
        fields=frozenset({key}),
        value_fn=lambda status: getattr(status, key),
    )


SENSORS: tuple[NovabotSensorEntityDescription, ...] = (
    NovabotSensorEntityDescription(
        key="gps_satellites",
        translation_key="gps_satellites",
        state_class=SensorStateClass.MEASUREMENT,
        fields=frozenset({"charger_status"}),
        value_fn=lambda status: status.gps_satellites,
    ),
    NovabotSensorEntityDescription(
        key="lora_rssi",
        translation_key="lora_rssi",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        fields=frozenset({"charger_status"}),
        value_fn=lambda status: status.lora_rssi,
    ),
    NovabotSensorEntityDescription(
        key="lora_heartbeat_misses",
        translation_key="lora_heartbeat_misses",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.MEASUREMENT,
        fields=frozenset({"mower_error"}),
        value_fn=lambda status: status.lora_heartbeat_misses,
    ),
    NovabotSensorEntityDescription(
        key="mower_status",
        translation_key="mower_status",
        fields=frozenset({"mower_status"}),
        value_fn=lambda status: status.mower_status,
    ),
    _raw("mower_x", state_class=SensorStateClass.MEASUREMENT),
    _raw("mower_y", state_class=SensorStateClass.MEASUREMENT),
    _raw("mower_z", state_class=SensorStateClass.MEASUREMENT),
    _raw("mower_info"),
    _raw("mower_info1"),
    _raw("charger_status"),
)

# Fields only some firmware sends; their sensors appear once a report has them.
OPTIONAL_SENSORS: tuple[NovabotSensorEntityDescription, ...] = (
    NovabotSensorEntityDescription(
        key="battery_capacity",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        fields=frozenset({"battery_capacity"}),
        value_fn=lambda status: status.battery_capacity,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the charger's sensors; optional ones when the charger first sends them."""
    coordinator = entry.runtime_data
    async_add_entities(NovabotSensor(coordinator, desc) for desc in SENSORS)

    # Optional sensors known from an earlier run come back at once; the others
    # when a report first carries their field.
    registry = er.async_get(hass)
    known, pending = [], []
    for desc in OPTIONAL_SENSORS:
        unique_id = f"{coordinator.serial_number}_{desc.key}"
        if registry.async_get_entity_id("sensor", entry.domain, unique_id):
            known.append(desc)
        else:
            pending.append(desc)

    @callback
    def add_reported_sensors() -> None:
        status: ChargerStatus | None = coordinator.data
        if not pending or status is None:
            return
        reported = [desc for desc in pending if desc.value_fn(status) is not None]
        for desc in reported:
            pending.remove(desc)
        if reported:
            async_add_entities(NovabotSensor(coordinator, desc) for desc in reported)

    if known:
        async_add_entities(NovabotSensor(coordinator, desc) for desc in known)
    add_reported_sensors()
    entry.async_on_unload(coordinator.async_add_listener(add_reported_sensors))


class NovabotSensor(NovabotEntity, SensorEntity):
    """A number from the charger's report."""

    entity_description: NovabotSensorEntityDescription
    coordinator: NovabotCoordinator

    @property
    def native_value(self) -> int | None:
        """The value in the latest report."""
        return self.entity_description.value_fn(self.coordinator.data)

    def _current_value(self) -> object:
        return self.native_value
