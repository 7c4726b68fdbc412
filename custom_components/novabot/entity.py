"""Base entities: the charger's device and its mower's, unique ids ``<SN>_<key>``.

The mower is a device of its own, reached through the charger (``via_device``):
its entities appear once the charger relays a mower that answers, and come back
at once after a restart. Whichever device holds an entity, its unique id is
``<SN>_<key>``.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import CONNECTION_BLUETOOTH, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import (
    CONF_ADDRESS,
    DOMAIN,
    MANUFACTURER,
    MODEL,
    MOWER_MODEL,
    MOWER_NAME,
)
from .coordinator import NovabotCoordinator, mower_identifier
from .protocol import MOWER_ANSWERING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback


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


def mower_device(coordinator: NovabotCoordinator) -> DeviceInfo:
    """The mower's device, reached through its charger's (registered at setup).

    The charger does not relay the mower's own serial number: the model names
    the charger it belongs to.
    """
    serial_number = coordinator.serial_number
    return DeviceInfo(
        identifiers={mower_identifier(serial_number)},
        via_device_id=dr.async_get_device_id_by_identifier(
            coordinator.hass,
            (DOMAIN, serial_number),
            config_entry_id=coordinator.config_entry.entry_id,
        ),
        manufacturer=MANUFACTURER,
        model=MOWER_MODEL.format(serial_number=serial_number),
        name=MOWER_NAME,
    )


@dataclass(frozen=True, kw_only=True)
class NovabotEntityDescription(EntityDescription):
    """What an entity reads from the charger's reports.

    ``fields``: the report fields its value is computed from. ``from_mower``:
    its value is relayed from the mower, so it is stale (unavailable) while the
    mower does not answer the charger. ``on_mower``: it belongs to the mower's
    device (every ``from_mower`` entity does, and a few others).
    """

    fields: frozenset[str]
    from_mower: bool = False
    on_mower: bool = False


class NovabotDeviceEntity(CoordinatorEntity[NovabotCoordinator]):
    """An entity of the charger's device, or of its mower's.

    Its state changes with its availability only (reports come every ~2 s:
    writing an unchanged state each time would cost for nothing).
    """

    _attr_has_entity_name = True
    _shown_available: bool | None = None

    def __init__(
        self,
        coordinator: NovabotCoordinator,
        description: EntityDescription,
        *,
        on_mower: bool,
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.serial_number}_{description.key}"
        self._attr_device_info = (
            mower_device(coordinator) if on_mower else charger_device(coordinator)
        )

    @property
    def available(self) -> bool:
        """While the charger reports."""
        return super().available and self.coordinator.online

    async def async_added_to_hass(self) -> None:
        """Remember what the first state write shows."""
        await super().async_added_to_hass()
        self._shown_available = self.available

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when the availability changed."""
        if self.available != self._shown_available:
            self._shown_available = self.available
            self.async_write_ha_state()


class NovabotEntity(NovabotDeviceEntity):
    """An entity that reads one value of the charger's latest report.

    A report usually changes one or two fields: an entity whose fields did not
    change does nothing, and one writes its state only when its own value or
    its availability changed.
    """

    _shown: tuple[bool, object] | None = None
    entity_description: NovabotEntityDescription

    def __init__(
        self, coordinator: NovabotCoordinator, description: NovabotEntityDescription
    ) -> None:
        on_mower = description.on_mower or description.from_mower
        super().__init__(coordinator, description, on_mower=on_mower)
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
        status = self.coordinator.data
        return (
            super().available
            and status is not None
            and (not self.entity_description.from_mower or status.mower_answering)
        )


@callback
def async_add_charger_and_mower_entities(
    coordinator: NovabotCoordinator,
    async_add_entities: AddConfigEntryEntitiesCallback,
    charger_entities: Iterable[Entity],
    mower_entities: Callable[[], Iterable[Entity]],
) -> None:
    """Add the charger's entities now, the mower's whenever it is there.

    That is at once for a mower known from before, or when the charger first
    relays one that answers; again if its device was removed and it comes back.
    """
    async_add_entities(charger_entities)

    @callback
    def add_mower_entities() -> None:
        async_add_entities(mower_entities())

    coordinator.config_entry.async_on_unload(
        coordinator.mower.async_when_present(add_mower_entities)
    )
