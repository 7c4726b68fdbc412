"""Sensors: the charger's report, the mower it relays, and the LoRa radio.

Raw words and counters that change without meaning to an owner (the status
bits, the mower's status code and frame values, the missed heartbeats) are
disabled by default and keep no long-term statistics, so the recorder hears
only what means something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import LORA_FIELD
from .entity import (
    NovabotEntity,
    NovabotEntityDescription,
    async_add_charger_and_mower_entities,
)
from .protocol import WorkStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .coordinator import NovabotConfigEntry, NovabotCoordinator
    from .protocol import ChargerStatus

# Entities only read the coordinator, which pushes updates: no limit needed.
PARALLEL_UPDATES = 0

# The mower's activity: the codes with a settled meaning. Any other is unknown
# here; the status code sensor keeps it.
ACTIVITY_OPTIONS = [status.value for status in WorkStatus]


def mower_activity(status: ChargerStatus) -> str | None:
    """The mower's work status as a label; ``None`` for a code without one."""
    label = status.work_status_label
    return label.value if label else None


@dataclass(frozen=True, kw_only=True)
class NovabotSensorEntityDescription(SensorEntityDescription, NovabotEntityDescription):
    """A sensor and the function reading its value from the charger."""

    value_fn: Callable[[NovabotCoordinator], StateType]


def _reported(
    key: str,
    fields: str,
    value_fn: Callable[[ChargerStatus], StateType],
    **options: object,
) -> NovabotSensorEntityDescription:
    """A sensor whose value comes from the latest report."""
    return NovabotSensorEntityDescription(
        key=key,
        translation_key=key,
        fields=frozenset(fields.split()),
        value_fn=lambda coordinator: value_fn(coordinator.data),
        **options,  # type: ignore[arg-type]
    )


def _raw(key: str) -> NovabotSensorEntityDescription:
    """A disabled diagnostic sensor: one field of the mower's frame, as sent."""
    return _reported(
        key,
        key,
        lambda status: getattr(status, key),
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        from_mower=True,
    )


def _radio(
    key: str, value_fn: Callable[[NovabotCoordinator], StateType], **options: object
) -> NovabotSensorEntityDescription:
    """A diagnostic sensor of the charger's LoRa radio (asked, not reported)."""
    return NovabotSensorEntityDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.DIAGNOSTIC,
        fields=frozenset({LORA_FIELD}),
        value_fn=value_fn,
        **options,  # type: ignore[arg-type]
    )


SENSORS: tuple[NovabotSensorEntityDescription, ...] = (
    _reported(
        "gps_satellites",
        "charger_status",
        lambda status: status.gps_satellites,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    _reported(
        # Every report while no mower answers: the radio link sensor says it.
        "lora_heartbeat_misses",
        "mower_error",
        lambda status: status.lora_heartbeat_misses,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
    _radio(
        "lora_noise",
        lambda coordinator: (
            lora.noise_dbm if (lora := coordinator.details.lora) else None
        ),
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    _radio(
        "lora_channel",
        lambda coordinator: (
            lora.channel if (lora := coordinator.details.lora) else None
        ),
    ),
    _radio(
        "lora_address",
        lambda coordinator: (
            lora.address if (lora := coordinator.details.lora) else None
        ),
    ),
    _reported(
        "mower_status",
        "mower_status",
        lambda status: status.mower_status,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        from_mower=True,
    ),
    _reported(
        "mower_activity",
        "mower_status",
        mower_activity,
        device_class=SensorDeviceClass.ENUM,
        options=ACTIVITY_OPTIONS,
        from_mower=True,
    ),
    _reported(
        # Experimental: the byte matched the mower's own report in two
        # captures. No statistics until it is confirmed.
        "mower_battery",
        "mower_info",
        lambda status: status.mower_battery,
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        from_mower=True,
    ),
    _raw("mower_x"),
    _raw("mower_y"),
    _raw("mower_z"),
    _raw("mower_info"),
    _raw("mower_info1"),
    _reported(
        "charger_status",
        "charger_status",
        lambda status: status.charger_status,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
    ),
)

# Fields only some firmware sends; their sensors appear once a report has them.
OPTIONAL_SENSORS: tuple[NovabotSensorEntityDescription, ...] = (
    NovabotSensorEntityDescription(
        key="battery_capacity",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        fields=frozenset({"battery_capacity"}),
        value_fn=lambda coordinator: coordinator.data.battery_capacity,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors: the charger's, the mower's once it is there.

    Optional ones come when the charger first sends them.
    """
    coordinator = entry.runtime_data
    async_add_charger_and_mower_entities(
        coordinator,
        async_add_entities,
        (NovabotSensor(coordinator, desc) for desc in SENSORS if not desc.from_mower),
        lambda: [
            NovabotSensor(coordinator, desc) for desc in SENSORS if desc.from_mower
        ],
    )

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
        reported = [desc for desc in pending if desc.value_fn(coordinator) is not None]
        for desc in reported:
            pending.remove(desc)
        if reported:
            async_add_entities(NovabotSensor(coordinator, desc) for desc in reported)

    if known:
        async_add_entities(NovabotSensor(coordinator, desc) for desc in known)
    add_reported_sensors()
    entry.async_on_unload(coordinator.async_add_listener(add_reported_sensors))


class NovabotSensor(NovabotEntity, SensorEntity):
    """A value from the charger."""

    entity_description: NovabotSensorEntityDescription

    @property
    def native_value(self) -> StateType:
        """The value the charger gave last."""
        return self.entity_description.value_fn(self.coordinator)

    def _current_value(self) -> object:
        return self.native_value
