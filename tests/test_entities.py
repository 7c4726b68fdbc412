"""The entities: the contract table, their values, what the recorder keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING
from unittest.mock import patch

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_FRIENDLY_NAME,
    ATTR_UNIT_OF_MEASUREMENT,
    PERCENTAGE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform

from custom_components.novabot.const import DOMAIN

from .common import (
    CHARGER_KEYS,
    ENABLED_KEYS,
    ENTITIES,
    MOWER_CONTROLS,
    NO_MOWER,
    OMIT,
    PLATFORMS,
    RADIO_ENTITIES,
    SERIAL,
    SHAPES,
    entity_id,
    mock_entry,
    report,
    send,
    setup_entry,
    state,
    states,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient
    from syrupy.assertion import SnapshotAssertion

    from .common import Shape
    from .mqtt_charger import MqttCharger

DEVICE_NAME = f"Novabot charger {SERIAL}"

# A report with a distinct value in every field: a mower mowing (work status 90
# in byte 2), its battery at 64 % (byte 1 of mower_info).
FIELDS: dict[str, int] = {
    "charger_status": 0x11000101,
    "mower_status": 0x005A0001,
    "mower_info": 0x00004000,
    "mower_x": 1234,
    "mower_y": 0xFFFFFF,
    "mower_z": 90,
    "mower_info1": 7,
    "mower_error": 0,
}
VALUES: dict[str, str] = {
    "gps_satellites": "17",
    "lora_heartbeat_misses": "0",
    "mower_status": "5898241",
    "mower_activity": "mowing",
    "mower_battery": "64",
    "mower_x": "1234",
    "mower_y": "16777215",
    "mower_z": "90",
    "mower_info": "16384",
    "mower_info1": "7",
    "charger_status": "285212929",
    "gps_fix": "on",
    "rtk_fix": "on",
    "mower_connected": "on",
    "mower": "mowing",
}


def test_the_values_cover_the_contract_table() -> None:
    assert set(ENTITIES) == set(VALUES)


# --- The contract table: every entity, as a snapshot ----------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", PLATFORMS)
async def test_entities_of_each_platform(
    hass: HomeAssistant,
    mqtt_charger: MqttCharger,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: str,
) -> None:
    with patch("custom_components.novabot.PLATFORMS", [Platform(platform)]):
        entry = await setup_entry(hass)
    await send(hass, report(**FIELDS))  # and the charger answers its queries

    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_the_charger_has_exactly_the_contract_entities(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())  # with a mower that answers

    registered = er.async_entries_for_config_entry(entity_registry, entry.entry_id)

    contract = {
        **{key: platform for key, (platform, _) in ENTITIES.items()},
        **RADIO_ENTITIES,
        **MOWER_CONTROLS,
    }
    assert {(e.unique_id, e.domain) for e in registered} == {
        (f"{SERIAL}_{key}", platform) for key, platform in contract.items()
    }
    enabled = {*ENABLED_KEYS, *RADIO_ENTITIES, *MOWER_CONTROLS}
    assert {e.entity_id for e in registered if not e.disabled_by} == {
        entity_id(hass, key) for key in enabled
    }
    # Each is named by its translation; the lawn mower by its device.
    assert {e.unique_id: e.translation_key for e in registered} == {
        f"{SERIAL}_{key}": None if key == "mower" else key for key in contract
    }


async def test_a_charger_without_a_mower_has_only_its_own_entities(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await setup_entry(hass)

    await send(hass, report(**NO_MOWER))

    registered = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {e.unique_id for e in registered} == {
        f"{SERIAL}_{key}" for key in (*CHARGER_KEYS, *RADIO_ENTITIES)
    }


# --- Values -------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_are_unavailable_until_the_first_report(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass)

    assert set(states(hass, (*CHARGER_KEYS, *RADIO_ENTITIES)).values()) == {
        STATE_UNAVAILABLE
    }


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_values_are_decoded_from_a_report(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, shape: Shape, encrypted: bool
) -> None:
    await setup_entry(hass)

    await send(hass, report(shape, encrypt_for=SERIAL if encrypted else None, **FIELDS))

    assert states(hass, tuple(ENTITIES)) == VALUES


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("charger_status", "expected"),
    [
        # (satellites, gps_fix, rtk_fix)
        (0x11000101, ("17", "on", "on")),  # the documented example
        (0x00000000, ("0", "off", "off")),
        (0x0A0000FF, ("10", "on", "off")),  # bits 1..7: a LoRa flag, not shown
        (0xFF000100, ("255", "off", "on")),
        (0x0700005A, ("7", "off", "off")),
        (0xFFFFFFFF, ("255", "on", "on")),
    ],
    ids=lambda value: hex(value) if isinstance(value, int) else "",
)
async def test_charger_status_bits_are_decoded(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    charger_status: int,
    expected: tuple[str, str, str],
) -> None:
    await setup_entry(hass)

    await send(hass, report(charger_status=charger_status))

    keys = ("gps_satellites", "gps_fix", "rtk_fix", "charger_status")
    assert states(hass, keys) == dict(
        zip(keys, (*expected, str(charger_status)), strict=True)
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("mower_error", "connected", "misses"),
    [
        (0, "on", "0"),
        (1, "off", "1"),
        (2, "off", "2"),
        (5, "off", "5"),
        (2**32 - 1, "off", "4294967295"),
    ],
)
async def test_mower_error_counts_missed_heartbeats(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mower_error: int,
    connected: str,
    misses: str,
) -> None:
    await setup_entry(hass)
    await send(hass, report())  # the mower answers: its entities are there

    await send(hass, report(mower_error=mower_error))

    assert state(hass, "mower_connected").state == connected
    assert state(hass, "lora_heartbeat_misses").state == misses


WITHOUT_MOWER_FIELDS = {key: OMIT for key in FIELDS if key != "charger_status"}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_report_without_mower_fields_leaves_the_mower_s_values_unknown(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass)
    await send(hass, report())  # a mower was heard

    await send(hass, report(**WITHOUT_MOWER_FIELDS))

    assert states(hass, tuple(ENTITIES)) == {
        **dict.fromkeys(ENTITIES, STATE_UNKNOWN),
        "gps_satellites": "17",
        "charger_status": "285212929",
        "gps_fix": "on",
        "rtk_fix": "on",
    }


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_report_without_mower_fields_adds_no_mower(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass)

    await send(hass, report(**WITHOUT_MOWER_FIELDS))

    assert states(hass, CHARGER_KEYS) == {
        **dict.fromkeys(CHARGER_KEYS, STATE_UNKNOWN),
        "gps_satellites": "17",
        "charger_status": "285212929",
        "gps_fix": "on",
        "rtk_fix": "on",
    }
    with pytest.raises(AssertionError, match="no entity"):
        entity_id(hass, "mower")


async def test_unknown_fields_do_not_break_a_report(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass)

    await send(hass, report(future_field="x", mower_error=1, extra={"a": [1]}))

    assert state(hass, "gps_satellites").state == "17"
    assert state(hass, "mower_connected").state == "off"


# --- The optional battery sensor ----------------------------------------------


async def test_battery_sensor_appears_only_once_a_report_carries_it(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    battery_id = f"{SERIAL}_battery_capacity"
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, battery_id) is None

    await send(hass, report(battery_capacity=80))

    assert entity_registry.async_get_entity_id("sensor", DOMAIN, battery_id)
    battery = state(hass, "battery_capacity")
    assert battery.state == "80"
    assert battery.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.BATTERY
    assert battery.attributes[ATTR_UNIT_OF_MEASUREMENT] == PERCENTAGE
    assert battery.attributes["state_class"] == SensorStateClass.MEASUREMENT
    assert battery.attributes[ATTR_FRIENDLY_NAME] == f"{DEVICE_NAME} Battery"

    await send(hass, report(battery_capacity=79))
    assert state(hass, "battery_capacity").state == "79"

    # A later report without the field: the value is unknown, the sensor stays.
    await send(hass, report())
    assert state(hass, "battery_capacity").state == STATE_UNKNOWN
    assert hass.states.get(battery.entity_id) is not None


async def test_battery_sensor_is_added_once_only(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await setup_entry(hass)

    for capacity in (80, 81, 81, 82):
        await send(hass, report(battery_capacity=capacity))

    battery = [
        entity
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if entity.unique_id == f"{SERIAL}_battery_capacity"
    ]
    assert len(battery) == 1
    assert state(hass, "battery_capacity").state == "82"


async def test_battery_sensor_exists_at_setup_after_a_restart(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report(battery_capacity=55))

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    # No report since the restart: the sensor is there, unavailable.
    assert state(hass, "battery_capacity").state == STATE_UNAVAILABLE
    await send(hass, report(battery_capacity=56))
    assert state(hass, "battery_capacity").state == "56"


async def test_battery_sensor_known_to_the_registry_is_set_up_at_once(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    """A battery sensor from an earlier run of Home Assistant exists before a report."""
    entry = mock_entry()
    entry.add_to_hass(hass)
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{SERIAL}_battery_capacity",
        config_entry=entry,
        suggested_object_id="novabot_charger_battery",
    )

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get("sensor.novabot_charger_battery") is not None
    assert hass.states.get("sensor.novabot_charger_battery").state == STATE_UNAVAILABLE
    await send(hass, report(battery_capacity=42))
    assert hass.states.get("sensor.novabot_charger_battery").state == "42"


# --- What the recorder keeps ----------------------------------------------------------

# Raw words and counters that change without meaning anything to an owner.
RAW_KEYS = (
    "lora_heartbeat_misses",
    "mower_status",
    "charger_status",
    "mower_x",
    "mower_y",
    "mower_z",
    "mower_info",
    "mower_info1",
)


async def test_raw_values_are_disabled_by_default(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    await setup_entry(hass)
    await send(hass, report())

    disabled = {
        key
        for key in ENTITIES
        if (registered := entity_registry.async_get(entity_id(hass, key)))
        and registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == set(RAW_KEYS)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_only_readings_with_a_meaning_keep_long_term_statistics(
    hass: HomeAssistant,
    mqtt_charger: MqttCharger,
    entity_registry: er.EntityRegistry,
) -> None:
    """Not the raw values, nor the mower's battery byte (experimental)."""
    await setup_entry(hass)
    await mqtt_charger.async_report()

    with_statistics = {
        key
        for key in (*ENTITIES, *RADIO_ENTITIES)
        if (registered := entity_registry.async_get(entity_id(hass, key)))
        and (registered.capabilities or {}).get("state_class")
    }
    assert with_statistics == {"gps_satellites", "lora_noise"}
    assert "state_class" not in state(hass, "mower_battery").attributes
