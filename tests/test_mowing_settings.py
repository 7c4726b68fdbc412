"""What the mower mows: the ``novabot.start_mowing`` action, and the options' defaults.

The plain ``lawn_mower.start_mowing`` mows what the entry's options say (all
maps at 5 cm unless changed); the action picks the area and the cutting height
for one run. Wrong values are refused with a translated error before anything
is sent to the charger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.lawn_mower import DOMAIN as LAWN_MOWER
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.novabot.const import (
    CONF_CUTTING_HEIGHT,
    CONF_MOWING_AREA,
    CONF_STALE_TIMEOUT,
    DOMAIN,
)

from .common import entity_id, setup_entry

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from .mqtt_charger import ChargerFactory, MqttCharger

    type ChargerWith = Callable[..., Awaitable[MqttCharger]]


def start_run(area: int, cutterhigh: int) -> dict[str, Any]:
    """The command the charger receives for a run."""
    return {"start_run": {"mapName": 0, "area": area, "cutterhigh": cutterhigh}}


async def start_mowing(hass: HomeAssistant) -> None:
    """The lawn mower's plain start."""
    await hass.services.async_call(
        LAWN_MOWER,
        "start_mowing",
        {ATTR_ENTITY_ID: entity_id(hass, "mower")},
        blocking=True,
    )


async def start_mowing_with(hass: HomeAssistant, **fields: Any) -> None:
    """The integration's action, with its fields."""
    await hass.services.async_call(
        DOMAIN,
        "start_mowing",
        {ATTR_ENTITY_ID: entity_id(hass, "mower"), **fields},
        blocking=True,
    )


@pytest.fixture
def charger_with(
    hass: HomeAssistant, mqtt_charger_factory: ChargerFactory
) -> ChargerWith:
    """Connect a charger whose mower answers at once, with the entry's options."""

    async def start(options: dict[str, Any] | None = None) -> MqttCharger:
        charger = await mqtt_charger_factory(ack_time=0.01)
        await setup_entry(hass, options=options)
        await charger.async_report()
        charger.firmware.received.clear()  # the queries at start
        return charger

    return start


@pytest.fixture
async def charger(charger_with: ChargerWith) -> MqttCharger:
    """A charger reporting, its mower heard; the entry without options."""
    return await charger_with()


def entry_of(hass: HomeAssistant) -> ConfigEntry:
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    return entry


# --- The plain start: the options ------------------------------------------------------


async def test_without_options_the_start_mows_all_maps_at_5_cm(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await start_mowing(hass)

    assert charger.firmware.received == [start_run(111, 3)]


async def test_the_start_mows_what_the_options_say(
    hass: HomeAssistant, charger_with: ChargerWith
) -> None:
    charger = await charger_with(
        {CONF_MOWING_AREA: ["map_1", "map_3"], CONF_CUTTING_HEIGHT: 8}
    )

    await start_mowing(hass)

    assert charger.firmware.received == [start_run(101, 6)]


async def test_changed_options_apply_to_the_next_start_without_a_reload(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    entry = entry_of(hass)
    coordinator = entry.runtime_data

    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_STALE_TIMEOUT: 60,
            CONF_MOWING_AREA: ["map_2"],
            CONF_CUTTING_HEIGHT: 2,
        },
    )
    await hass.async_block_till_done()
    await start_mowing(hass)

    assert entry.runtime_data is coordinator  # not reloaded
    assert charger.firmware.received == [start_run(10, 0)]


# --- novabot.start_mowing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("area", "mask"),
    [
        (["map_1"], 1),
        (["map_2"], 10),
        (["map_3"], 100),
        ("map_2", 10),  # one map needs no list
        (["map_1", "map_3"], 101),
        (["map_2", "map_3"], 110),
        (["map_1", "map_2", "map_3"], 111),
        (["map_3", "map_3"], 100),
        (["all_maps"], 111),
        (["map_2", "all_maps"], 111),
    ],
)
async def test_the_action_mows_the_maps_chosen(
    hass: HomeAssistant, charger: MqttCharger, area: Any, mask: int
) -> None:
    """Several maps add up as decimal digits: map 1 and map 3 are 101."""
    await start_mowing_with(hass, area=area, cutting_height=5)

    assert charger.firmware.received == [start_run(mask, 3)]


@pytest.mark.parametrize("centimetres", range(2, 10))
async def test_the_action_cuts_at_the_height_chosen(
    hass: HomeAssistant, charger: MqttCharger, centimetres: int
) -> None:
    """The firmware takes the height in centimetres above 2."""
    await start_mowing_with(hass, area=["map_1"], cutting_height=centimetres)

    assert charger.firmware.received == [start_run(1, centimetres - 2)]


@pytest.mark.parametrize(
    ("fields", "command"),
    [
        ({}, start_run(100, 5)),
        ({"area": ["map_1"]}, start_run(1, 5)),
        ({"cutting_height": 3}, start_run(100, 1)),
    ],
    ids=["neither", "area-only", "height-only"],
)
async def test_the_action_takes_what_it_is_not_given_from_the_options(
    hass: HomeAssistant,
    charger_with: ChargerWith,
    fields: dict[str, Any],
    command: dict[str, Any],
) -> None:
    charger = await charger_with({CONF_MOWING_AREA: ["map_3"], CONF_CUTTING_HEIGHT: 7})

    await start_mowing_with(hass, **fields)

    assert charger.firmware.received == [command]


# (Home Assistant drops the full stop that ends a message.)
@pytest.mark.parametrize(
    ("fields", "translation_key", "message"),
    [
        (
            {"area": ["map_4"]},
            "invalid_area",
            "map_4 is not an area of the mower. "
            "Choose from: map_1, map_2, map_3, all_maps",
        ),
        (
            {"area": ["map_1", "garden"]},
            "invalid_area",
            "garden is not an area of the mower. "
            "Choose from: map_1, map_2, map_3, all_maps",
        ),
        ({"area": []}, "no_area", "Choose at least one area to mow"),
        (
            {"cutting_height": 1},
            "invalid_cutting_height",
            "The cutting height must be a whole number of centimetres from 2 to 9, "
            "not 1",
        ),
        (
            {"cutting_height": 10},
            "invalid_cutting_height",
            "The cutting height must be a whole number of centimetres from 2 to 9, "
            "not 10",
        ),
        (
            {"cutting_height": 4.5},
            "invalid_cutting_height",
            "The cutting height must be a whole number of centimetres from 2 to 9, "
            "not 4.5",
        ),
    ],
    ids=[
        "unknown-map",
        "one-unknown-map",
        "no-map",
        "too-low",
        "too-high",
        "not-whole",
    ],
)
async def test_wrong_values_are_refused_before_anything_is_sent(
    hass: HomeAssistant,
    charger: MqttCharger,
    fields: dict[str, Any],
    translation_key: str,
    message: str,
) -> None:
    with pytest.raises(ServiceValidationError) as refused:
        await start_mowing_with(hass, **fields)

    assert refused.value.translation_domain == DOMAIN
    assert refused.value.translation_key == translation_key
    assert str(refused.value) == message
    assert charger.firmware.received == []


async def test_the_action_is_there_without_a_loaded_charger(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    """Registered with the integration, not with an entry."""
    assert await hass.config_entries.async_unload(entry_of(hass).entry_id)

    assert hass.services.has_service(DOMAIN, "start_mowing")
