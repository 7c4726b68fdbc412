"""The area the mower's start mows: a setting kept by Home Assistant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import NovabotSettingEntity
from .protocol import MowingArea

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry

# A setting in Home Assistant's memory: nothing to wait for.
PARALLEL_UPDATES = 0

AREAS: dict[str, MowingArea] = {area.name.lower(): area for area in MowingArea}

MOWING_AREA = SelectEntityDescription(
    key="mowing_area",
    translation_key="mowing_area",
    entity_category=EntityCategory.CONFIG,
    options=list(AREAS),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mowing area setting."""
    async_add_entities([MowingAreaSelect(entry.runtime_data, MOWING_AREA)])


class MowingAreaSelect(NovabotSettingEntity, SelectEntity, RestoreEntity):
    """Which map (or all of them) the mower mows when Home Assistant starts it."""

    async def async_added_to_hass(self) -> None:
        """Take up the area chosen before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last and last.state in AREAS:
            self.coordinator.mowing_area = AREAS[last.state]

    @property
    def current_option(self) -> str:
        """The area the next start mows."""
        return self.coordinator.mowing_area.name.lower()

    async def async_select_option(self, option: str) -> None:
        """Mow another area from the next start on."""
        self.coordinator.mowing_area = AREAS[option]
        self.async_write_ha_state()
