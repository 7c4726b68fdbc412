"""What the mower's start uses: cutting height and area, kept across restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import State
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    mock_restore_cache_with_extra_data,
)

from custom_components.novabot.protocol import MowingArea

from .common import entity_id, setup_entry, state

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

HEIGHT = "number.novabot_charger_lfic1230700123_cutting_height"
AREA = "select.novabot_charger_lfic1230700123_mowing_area"


def stored_height(value: float) -> dict[str, object]:
    """What RestoreNumber keeps of a cutting height."""
    return {
        "native_max_value": 9.0,
        "native_min_value": 2.0,
        "native_step": 1.0,
        "native_unit_of_measurement": "cm",
        "native_value": value,
    }


async def test_the_defaults_are_5_cm_and_all_maps(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    entry = await setup_entry(hass)

    assert state(hass, "cutting_height").state == "5"
    assert state(hass, "mowing_area").state == "all_maps"
    assert state(hass, "mowing_area").attributes["options"] == [
        "map_1",
        "map_2",
        "map_3",
        "all_maps",
    ]
    assert entry.runtime_data.mowing_area is MowingArea.ALL_MAPS


async def test_the_settings_are_available_without_reports(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    """They are Home Assistant's, not the charger's: no report needed."""
    await setup_entry(hass)

    assert state(hass, "cutting_height").state != "unavailable"
    assert state(hass, "mowing_area").state != "unavailable"


async def test_the_settings_come_back_after_a_restart(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    mock_restore_cache_with_extra_data(
        hass, [(State(HEIGHT, "7"), stored_height(7.0)), (State(AREA, "map_3"), {})]
    )

    entry = await setup_entry(hass)

    assert entity_id(hass, "cutting_height") == HEIGHT
    assert state(hass, "cutting_height").state == "7"
    assert state(hass, "mowing_area").state == "map_3"
    assert entry.runtime_data.cutting_height_cm == 7
    assert entry.runtime_data.mowing_area is MowingArea.MAP_3


async def test_restored_values_that_make_no_sense_are_not_taken(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(HEIGHT, "12"), stored_height(12.0)),
            (State(AREA, "the whole garden"), {}),
        ],
    )

    await setup_entry(hass)

    assert state(hass, "cutting_height").state == "5"
    assert state(hass, "mowing_area").state == "all_maps"


@pytest.mark.parametrize("value", [1, 10])
async def test_a_height_outside_2_to_9_cm_is_refused(
    hass: HomeAssistant, mqtt_mock: object, value: int
) -> None:
    await setup_entry(hass)

    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "number",
            "set_value",
            {ATTR_ENTITY_ID: HEIGHT, "value": value},
            blocking=True,
        )
