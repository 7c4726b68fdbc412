"""The mower, driven through its charger's LoRa relay.

Its activity comes from the work status the charger relays; start, pause and
dock are relayed to the mower, which acknowledges each (or not: the charger
cannot tell a refusal from a mower out of range, and the error says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.lawn_mower import (
    LawnMowerEntity,
    LawnMowerEntityEntityDescription,
)
from homeassistant.components.lawn_mower.const import (
    LawnMowerActivity,
    LawnMowerEntityFeature,
)

from .entity import NovabotEntity, NovabotEntityDescription
from .protocol import MowerCommand, WorkStatus, mower_command, start_run, work_status

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry

# Commands wait in the charger's command channel: Home Assistant need not.
PARALLEL_UPDATES = 0

ACTIVITIES: dict[WorkStatus, LawnMowerActivity] = {
    WorkStatus.IDLE: LawnMowerActivity.DOCKED,
    WorkStatus.FINISHED: LawnMowerActivity.DOCKED,
    WorkStatus.STOPPED_BY_USER: LawnMowerActivity.PAUSED,
    WorkStatus.RETURNING_BY_USER: LawnMowerActivity.RETURNING,
    WorkStatus.RETURNING_LOW_BATTERY: LawnMowerActivity.RETURNING,
    WorkStatus.RETURNING: LawnMowerActivity.RETURNING,
    WorkStatus.DOCKING: LawnMowerActivity.RETURNING,
    WorkStatus.STOPPED_BY_ERROR: LawnMowerActivity.ERROR,
    WorkStatus.LEAVING_DOCK: LawnMowerActivity.MOWING,
    WorkStatus.MOWING: LawnMowerActivity.MOWING,
    WorkStatus.AVOIDING_OBSTACLE: LawnMowerActivity.MOWING,
    WorkStatus.CUTTING_EDGE: LawnMowerActivity.MOWING,
    # Mapping has no activity of its own: the activity sensor tells it.
}


@dataclass(frozen=True, kw_only=True)
class NovabotMowerEntityDescription(
    LawnMowerEntityEntityDescription, NovabotEntityDescription
):
    """The mower entity: it reads the work status in the mower's frame."""


MOWER = NovabotMowerEntityDescription(
    key="mower",
    translation_key="mower",
    fields=frozenset({"mower_status"}),
    from_mower=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mower the charger relays."""
    async_add_entities([NovabotMower(entry.runtime_data, MOWER)])


class NovabotMower(NovabotEntity, LawnMowerEntity):
    """The charger's mower: its activity, and start, pause and dock."""

    entity_description: NovabotMowerEntityDescription

    _attr_supported_features = (
        LawnMowerEntityFeature.START_MOWING
        | LawnMowerEntityFeature.PAUSE
        | LawnMowerEntityFeature.DOCK
    )

    @property
    def activity(self) -> LawnMowerActivity | None:
        """What the mower does, as far as its work status tells."""
        code = self.coordinator.data.mower_work_status
        label = None if code is None else work_status(code)
        return ACTIVITIES.get(label) if label else None

    def _current_value(self) -> object:
        return self.activity

    async def async_start_mowing(self) -> None:
        """Resume a paused mower; otherwise start the area at the height set."""
        coordinator = self.coordinator
        if self.activity is LawnMowerActivity.PAUSED:
            command = mower_command(MowerCommand.RESUME)
        else:
            command = start_run(coordinator.mowing_area, coordinator.cutting_height_cm)
        await coordinator.commands.async_mower(command)

    async def async_pause(self) -> None:
        """Pause the mower."""
        await self.coordinator.commands.async_mower(mower_command(MowerCommand.PAUSE))

    async def async_dock(self) -> None:
        """Send the mower back to its charger."""
        await self.coordinator.commands.async_mower(mower_command(MowerCommand.DOCK))
