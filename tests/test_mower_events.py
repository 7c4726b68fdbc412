"""The mower's events: each fires once, when the mower gets there.

It finished, an error stopped it, its battery sent it home (work status
events, from fresh frames only); it lost its charger (two heartbeats missed),
it is back in contact. Nothing fires for what the mower was already doing
when it was first heard, nor for a report that changes nothing of that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
import pytest

from .common import (
    NO_MOWER,
    entity_id,
    move_time,
    mower_status,
    report,
    send,
    setup_entry,
)

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory

pytestmark = pytest.mark.usefixtures("mqtt_mock")

MOWING = mower_status(90)
# The work statuses that fire an event, and its type.
EVENT_STATUSES = {
    9: "finished",
    13: "stopped_by_error",
    12: "returning_low_battery",
}


@pytest.fixture
def fired(hass: HomeAssistant) -> list[str]:
    """The event types the mower's event entity fired, in order.

    An event entity's state is the time of its last event: a firing is a state
    with a time and type not seen before (the entity coming back available
    shows its last one again).
    """
    seen: set[tuple[str, Any]] = set()
    fired: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if (
            new is None
            or not new.entity_id.startswith("event.")
            or new.state in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        ):
            return
        firing = (new.state, new.attributes["event_type"])
        if firing not in seen:
            seen.add(firing)
            fired.append(new.attributes["event_type"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    return fired


async def reports(hass: HomeAssistant, *changes: dict[str, int]) -> None:
    """One report after the other, each with its changed fields."""
    for fields in changes:
        await send(hass, report(**fields))


@pytest.mark.parametrize(
    ("code", "event_type"), EVENT_STATUSES.items(), ids=EVENT_STATUSES.values()
)
async def test_a_change_into_an_event_status_fires_once(
    hass: HomeAssistant, fired: list[str], code: int, event_type: str
) -> None:
    await setup_entry(hass)

    await reports(
        hass,
        {},  # docked: the mower is heard
        {"mower_status": MOWING},
        {"mower_status": mower_status(code)},
        {"mower_status": mower_status(code)},  # identical
        {"mower_status": mower_status(code), "mower_x": 5},  # the same status
        {"mower_status": mower_status(code), "charger_status": 0x12000101},
    )

    assert fired == [event_type]
    assert hass.states.get(entity_id(hass, "mower_events")).attributes[
        "event_type"
    ] == (event_type)


async def test_each_new_change_fires_again(
    hass: HomeAssistant, fired: list[str]
) -> None:
    await setup_entry(hass)

    await reports(
        hass,
        {"mower_status": MOWING},
        {"mower_status": mower_status(13)},
        {"mower_status": MOWING},
        {"mower_status": mower_status(13)},
        {"mower_status": mower_status(12)},
        {"mower_status": mower_status(9)},
    )

    assert fired == [
        "stopped_by_error",
        "stopped_by_error",
        "returning_low_battery",
        "finished",
    ]


@pytest.mark.parametrize("code", [0, 10, 11, 56, 90, 91, 93, 135, 191, 192, 50, 200])
async def test_other_work_statuses_fire_nothing(
    hass: HomeAssistant, fired: list[str], code: int
) -> None:
    await setup_entry(hass)

    await reports(hass, {"mower_status": MOWING}, {"mower_status": mower_status(code)})

    assert fired == []


@pytest.mark.parametrize(
    "before",
    [
        pytest.param({}, id="first-report"),
        pytest.param(NO_MOWER, id="after-reports-without-a-mower"),
        pytest.param({"mower_error": 2}, id="after-a-silent-mower"),
    ],
)
async def test_what_the_mower_does_when_first_heard_fires_nothing(
    hass: HomeAssistant, fired: list[str], before: dict[str, int]
) -> None:
    await setup_entry(hass)
    if before:
        await send(hass, report(**before))

    await reports(
        hass,
        {"mower_status": mower_status(9)},  # heard: it has finished
        {"mower_status": mower_status(9), "mower_x": 1},
    )

    assert hass.states.get(entity_id(hass, "mower_events")) is not None
    assert fired == []


async def test_the_mower_losing_its_charger_and_coming_back(
    hass: HomeAssistant, fired: list[str]
) -> None:
    """Lost at two missed heartbeats (the charger reports 0 below two)."""
    await setup_entry(hass)

    await reports(
        hass,
        {"mower_status": MOWING},
        {"mower_status": MOWING, "mower_error": 1},
        {"mower_status": MOWING, "mower_error": 2},
        {"mower_status": MOWING, "mower_error": 3},
        {"mower_status": MOWING, "mower_error": 4},
    )
    assert fired == ["lost_charger"]

    await reports(hass, {"mower_status": MOWING, "mower_error": 0})

    assert fired == ["lost_charger", "back_in_contact"]


async def test_a_mower_back_in_contact_says_what_it_did_meanwhile(
    hass: HomeAssistant, fired: list[str]
) -> None:
    await setup_entry(hass)

    await reports(
        hass,
        {"mower_status": MOWING},
        {"mower_status": MOWING, "mower_error": 2},  # its last frame, stale
        {"mower_status": mower_status(9), "mower_error": 0},
    )

    assert fired == ["lost_charger", "back_in_contact", "finished"]


async def test_a_stale_frame_fires_no_work_status_event(
    hass: HomeAssistant, fired: list[str]
) -> None:
    await setup_entry(hass)

    await reports(
        hass,
        {"mower_status": MOWING},
        {"mower_status": MOWING, "mower_error": 2},
        {"mower_status": mower_status(13), "mower_error": 3},
        {"mower_status": mower_status(12), "mower_error": 4},
    )

    assert fired == ["lost_charger"]


async def test_silence_fires_nothing_and_the_last_event_stays(
    hass: HomeAssistant, fired: list[str], freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry(hass)
    await reports(hass, {"mower_status": MOWING}, {"mower_status": mower_status(9)})
    event = entity_id(hass, "mower_events")
    last = hass.states.get(event)
    assert last is not None

    await move_time(hass, freezer, 61)
    assert hass.states.get(event).state == STATE_UNAVAILABLE
    await send(hass, report(mower_status=mower_status(9)))  # as before the silence

    assert hass.states.get(event).state == last.state
    assert fired == ["finished"]
