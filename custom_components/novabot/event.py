"""The mower's events, to automate on: each fires once, when the mower gets there.

It finished; an error stopped it; its battery sent it home; it lost its
charger (two heartbeats unanswered); it is back in contact. Work status
events come from fresh frames only: while the mower does not answer, the
charger relays a stale one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import callback

from .entity import NovabotDeviceEntity, async_add_charger_and_mower_entities
from .protocol import MOWER_ANSWERING, WorkStatus

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import NovabotConfigEntry, NovabotCoordinator
    from .protocol import ChargerStatus

# Entities only read the coordinator, which pushes updates: no limit needed.
PARALLEL_UPDATES = 0

# The work statuses worth an event, and its type.
WORK_STATUS_EVENTS: dict[WorkStatus, str] = {
    WorkStatus.FINISHED: "finished",
    WorkStatus.STOPPED_BY_ERROR: "stopped_by_error",
    WorkStatus.RETURNING_LOW_BATTERY: "returning_low_battery",
}
LOST_CHARGER = "lost_charger"
BACK_IN_CONTACT = "back_in_contact"
WATCHED = frozenset({"mower_status", MOWER_ANSWERING})

MOWER_EVENTS = EventEntityDescription(
    key="mower_events",
    translation_key="mower_events",
    event_types=[*WORK_STATUS_EVENTS.values(), LOST_CHARGER, BACK_IN_CONTACT],
)


def events_between(previous: ChargerStatus, status: ChargerStatus) -> list[str]:
    """The events of going from one report to the next."""
    events = []
    if previous.mower_answering and not status.mower_answering:
        events.append(LOST_CHARGER)
    elif status.mower_answering and not previous.mower_answering:
        events.append(BACK_IN_CONTACT)
    label = status.work_status_label
    if (
        status.mower_answering
        and label != previous.work_status_label
        and (event := WORK_STATUS_EVENTS.get(label))  # type: ignore[arg-type]
    ):
        events.append(event)
    return events


async def async_setup_entry(
    hass: HomeAssistant,
    entry: NovabotConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the mower's events once it is there."""
    coordinator = entry.runtime_data
    async_add_charger_and_mower_entities(
        coordinator, async_add_entities, (), lambda: [MowerEvents(coordinator)]
    )


class MowerEvents(NovabotDeviceEntity, EventEntity):
    """Fires when the mower finishes, stops, runs low, or loses its charger."""

    def __init__(self, coordinator: NovabotCoordinator) -> None:
        super().__init__(coordinator, MOWER_EVENTS, on_mower=True)
        # What the mower was doing when this entity began: no event for that.
        self._previous: ChargerStatus | None = coordinator.data

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire the events of a fresh report; otherwise follow availability."""
        coordinator = self.coordinator
        status = coordinator.data
        if (
            coordinator.online
            and status is not None
            and not coordinator.changed_fields.isdisjoint(WATCHED)
        ):
            previous, self._previous = self._previous, status
            events = events_between(previous, status) if previous else []
            for event in events:
                self._trigger_event(event)
                self.async_write_ha_state()
            if events:
                self._shown_available = True
                return
        super()._handle_coordinator_update()
