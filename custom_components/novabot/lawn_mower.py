"""The mower, driven through its charger's LoRa relay.

Its activity comes from the frame the charger relays: docked only while it
stands on its charger (the recharge byte), returning while it drives back,
else what its work status says; unknown while the mower does not answer (the
frame is stale then), the entity still available so that a command says so. Start, pause and dock are relayed to the
mower, which acknowledges each (or not: the charger cannot tell a refusal from
a mower out of range, and the error says so). ``novabot.start_mowing`` starts
a run with an area and a cutting height of its own.
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
from homeassistant.exceptions import ServiceValidationError

from .const import (
    CONF_CUTTING_HEIGHT,
    CONF_MOWING_AREA,
    DEFAULT_CUTTING_HEIGHT_CM,
    DEFAULT_MOWING_AREA,
    DOMAIN,
)
from .entity import (
    NovabotEntity,
    NovabotEntityDescription,
    async_add_charger_and_mower_entities,
)
from .protocol import (
    MOWER_ANSWERING,
    MowerCommand,
    MowingArea,
    WorkStatus,
    mower_command,
    start_run,
)
from .protocol.mower import MAX_CUTTING_HEIGHT_CM, MIN_CUTTING_HEIGHT_CM

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry
    from .protocol import ChargerStatus

# Commands wait in the charger's command channel: Home Assistant need not.
PARALLEL_UPDATES = 0

# What the work status says, away from the charger and not driving back to it.
ACTIVITIES: dict[WorkStatus, LawnMowerActivity] = {
    WorkStatus.IDLE: LawnMowerActivity.PAUSED,
    WorkStatus.FINISHED: LawnMowerActivity.PAUSED,
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


def mower_activity(status: ChargerStatus) -> LawnMowerActivity | None:
    """The lawn mower's activity from the relayed frame.

    An error is an error wherever the mower is; otherwise the recharge byte
    decides docked (on the charger) and returning (driving back to it).
    """
    label = status.work_status_label
    if label is WorkStatus.STOPPED_BY_ERROR:
        return LawnMowerActivity.ERROR
    if status.mower_on_charger:
        return LawnMowerActivity.DOCKED
    if status.mower_heading_home:
        return LawnMowerActivity.RETURNING
    return ACTIVITIES.get(label) if label else None


def mowing_areas(keys: list[str]) -> list[MowingArea]:
    """The areas named, or a translated error naming the one that is not."""
    areas = []
    for key in keys:
        try:
            areas.append(MowingArea.from_key(key))
        except ValueError:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_area",
                translation_placeholders={
                    "area": key,
                    "areas": ", ".join(area.key for area in MowingArea),
                },
            ) from None
    if not areas:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="no_area"
        )
    return areas


def cutting_height_cm(value: float) -> int:
    """A whole number of centimetres, 2..9, or a translated error."""
    if not (
        value.is_integer() and MIN_CUTTING_HEIGHT_CM <= value <= MAX_CUTTING_HEIGHT_CM
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_cutting_height",
            translation_placeholders={
                "cutting_height": f"{value:g}",
                "min": str(MIN_CUTTING_HEIGHT_CM),
                "max": str(MAX_CUTTING_HEIGHT_CM),
            },
        )
    return int(value)


@dataclass(frozen=True, kw_only=True)
class NovabotMowerEntityDescription(
    LawnMowerEntityEntityDescription, NovabotEntityDescription
):
    """The mower entity: it reads the work status in the mower's frame."""


MOWER = NovabotMowerEntityDescription(
    key="mower",
    name=None,  # the mower's device gives its name
    fields=frozenset({"mower_status", MOWER_ANSWERING}),
    # Available while the charger reports, its activity unknown while the mower
    # does not answer: Home Assistant skips an action on an unavailable entity
    # with a mere warning, and the caller would believe the command went out.
    on_mower=True,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mower the charger relays, once it is there."""
    coordinator = entry.runtime_data
    async_add_charger_and_mower_entities(
        coordinator, async_add_entities, (), lambda: [NovabotMower(coordinator, MOWER)]
    )


class NovabotMower(NovabotEntity, LawnMowerEntity):
    """The charger's mower: its activity, and start, pause and dock."""

    entity_description: NovabotMowerEntityDescription

    _attr_name = None
    _attr_supported_features = (
        LawnMowerEntityFeature.START_MOWING
        | LawnMowerEntityFeature.PAUSE
        | LawnMowerEntityFeature.DOCK
    )

    @property
    def activity(self) -> LawnMowerActivity | None:
        """What the mower does, as far as its frame tells; unknown when stale."""
        status = self.coordinator.data
        return mower_activity(status) if status.mower_answering else None

    def _current_value(self) -> object:
        return self.activity

    async def async_start_mowing(self) -> None:
        """Resume a mower paused by the user; otherwise start as the options say."""
        if self.coordinator.data.work_status_label is WorkStatus.STOPPED_BY_USER:
            await self._async_relay(mower_command(MowerCommand.RESUME))
        else:
            await self.async_start_mowing_with()

    async def async_start_mowing_with(
        self, area: list[str] | None = None, cutting_height: float | None = None
    ) -> None:
        """Start a run: these areas at this height (the options' where not given)."""
        options = self.coordinator.config_entry.options
        if area is None:
            area = options.get(CONF_MOWING_AREA, DEFAULT_MOWING_AREA)
        if cutting_height is None:
            cutting_height = options.get(CONF_CUTTING_HEIGHT, DEFAULT_CUTTING_HEIGHT_CM)
        command = start_run(
            mowing_areas(area), cutting_height_cm(float(cutting_height))
        )
        await self._async_relay(command)

    async def async_pause(self) -> None:
        """Pause the mower."""
        await self._async_relay(mower_command(MowerCommand.PAUSE))

    async def async_dock(self) -> None:
        """Send the mower back to its charger."""
        await self._async_relay(mower_command(MowerCommand.DOCK))

    async def _async_relay(self, command: dict[str, object]) -> None:
        await self.coordinator.commands.async_mower(command)
