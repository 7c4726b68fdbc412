"""Buttons of the mower: stop where it is, and cancel today's scheduled task.

Both are relayed by the charger like the lawn mower's own actions, and fail
the same way when the mower does not acknowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription

from .entity import NovabotDeviceEntity, async_add_charger_and_mower_entities
from .protocol import MowerCommand, mower_command

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry, NovabotCoordinator

# Commands wait in the charger's command channel: Home Assistant need not.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NovabotButtonEntityDescription(ButtonEntityDescription):
    """A button and the mower command it relays."""

    command: MowerCommand


BUTTONS: tuple[NovabotButtonEntityDescription, ...] = (
    NovabotButtonEntityDescription(
        key="stop", translation_key="stop", command=MowerCommand.STOP
    ),
    NovabotButtonEntityDescription(
        key="cancel_schedule",
        translation_key="cancel_schedule",
        command=MowerCommand.CANCEL_SCHEDULE,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mower's buttons once it is there."""
    coordinator = entry.runtime_data
    async_add_charger_and_mower_entities(
        coordinator,
        async_add_entities,
        (),
        lambda: [NovabotButton(coordinator, desc) for desc in BUTTONS],
    )


class NovabotButton(NovabotDeviceEntity, ButtonEntity):
    """Relays one command to the mower."""

    entity_description: NovabotButtonEntityDescription

    def __init__(
        self,
        coordinator: NovabotCoordinator,
        description: NovabotButtonEntityDescription,
    ) -> None:
        super().__init__(coordinator, description, on_mower=True)

    async def async_press(self) -> None:
        """Relay the command; raise unless the mower acknowledged it."""
        await self.coordinator.commands.async_mower(
            mower_command(self.entity_description.command)
        )
