"""The cutting height the mower's start uses: a setting kept by Home Assistant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.number import (
    NumberEntityDescription,
    NumberMode,
    RestoreNumber,
)
from homeassistant.const import EntityCategory, UnitOfLength

from .entity import NovabotSettingEntity
from .protocol.mower import MAX_CUTTING_HEIGHT_CM, MIN_CUTTING_HEIGHT_CM

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry

# A setting in Home Assistant's memory: nothing to wait for.
PARALLEL_UPDATES = 0

CUTTING_HEIGHT = NumberEntityDescription(
    key="cutting_height",
    translation_key="cutting_height",
    entity_category=EntityCategory.CONFIG,
    native_min_value=MIN_CUTTING_HEIGHT_CM,
    native_max_value=MAX_CUTTING_HEIGHT_CM,
    native_step=1,
    native_unit_of_measurement=UnitOfLength.CENTIMETERS,
    mode=NumberMode.SLIDER,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the cutting height setting."""
    async_add_entities([CuttingHeight(entry.runtime_data, CUTTING_HEIGHT)])


class CuttingHeight(NovabotSettingEntity, RestoreNumber):
    """How high the mower cuts when Home Assistant starts it (2..9 cm)."""

    async def async_added_to_hass(self) -> None:
        """Take up the height set before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last and last.native_value is not None:
            height = round(last.native_value)
            if MIN_CUTTING_HEIGHT_CM <= height <= MAX_CUTTING_HEIGHT_CM:
                self.coordinator.cutting_height_cm = height

    @property
    def native_value(self) -> float:
        """The height the next start uses."""
        return self.coordinator.cutting_height_cm

    async def async_set_native_value(self, value: float) -> None:
        """Use another height from the next start on."""
        self.coordinator.cutting_height_cm = round(value)
        self.async_write_ha_state()
