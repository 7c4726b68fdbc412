"""The mower through its charger: activity, battery, staleness, and commands.

Commands go through Home Assistant's MQTT to the virtual charger
(``tests/mqtt_charger.py``), which relays them to its simulated mower and
answers as the firmware does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.components.lawn_mower import DOMAIN as LAWN_MOWER
from homeassistant.components.lawn_mower.const import LawnMowerActivity
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.exceptions import HomeAssistantError
import pytest

from .common import (
    MOWER_KEYS,
    SERIAL,
    entity_id,
    report,
    send,
    setup_entry,
    state,
    states,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .mqtt_charger import ChargerFactory, MqttCharger


def work_status(code: int) -> int:
    """A ``mower_status`` whose work status byte (b2) is ``code``."""
    return code << 16 | 0x01


async def mower_action(hass: HomeAssistant, service: str) -> None:
    await hass.services.async_call(
        LAWN_MOWER,
        service,
        {ATTR_ENTITY_ID: entity_id(hass, "mower")},
        blocking=True,
    )


@pytest.fixture
async def charger(reporting_charger: ChargerFactory) -> MqttCharger:
    """A charger whose mower answers quickly, reporting; the entry set up."""
    charger = await reporting_charger(ack_time=0.01, ack_wait=0.05)
    charger.firmware.received.clear()  # the queries at start
    return charger


# --- What the mower does ------------------------------------------------------------


# What Home Assistant shows for each work status: the lawn mower's activity,
# and the label of the mower activity sensor.
WORK_STATUSES: dict[LawnMowerActivity, dict[int, str]] = {
    LawnMowerActivity.DOCKED: {0: "idle", 9: "finished"},
    LawnMowerActivity.PAUSED: {10: "stopped_by_user"},
    LawnMowerActivity.ERROR: {13: "stopped_by_error"},
    LawnMowerActivity.MOWING: {
        56: "leaving_dock",
        90: "mowing",
        91: "avoiding_obstacle",
        93: "cutting_edge",
    },
    LawnMowerActivity.RETURNING: {
        11: "returning_by_user",
        12: "returning_low_battery",
        191: "returning",
        192: "docking",
        193: "docking",
    },
}


@pytest.mark.parametrize(
    ("code", "activity", "label"),
    [
        (code, activity, label)
        for activity, labels in WORK_STATUSES.items()
        for code, label in labels.items()
    ],
)
async def test_the_activity_follows_the_work_status(
    hass: HomeAssistant,
    mqtt_mock: object,
    code: int,
    activity: LawnMowerActivity,
    label: str,
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_status=work_status(code)))

    assert state(hass, "mower").state == activity
    assert state(hass, "mower_activity").state == label


@pytest.mark.parametrize("code", [50, 53, 135, 200])
async def test_a_code_without_a_meaning_shows_as_its_number(
    hass: HomeAssistant, mqtt_mock: object, code: int
) -> None:
    """50..53 are labelled inconsistently by the sources; mapping has no activity."""
    await setup_entry(hass)

    await send(hass, report(mower_status=work_status(code)))

    activity = state(hass, "mower_activity").state
    assert activity == ("mapping" if code == 135 else str(code))
    assert activity in state(hass, "mower_activity").attributes["options"]
    assert state(hass, "mower").state == "unknown"


async def test_the_battery_is_byte_1_of_mower_info(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_info=0x0100_6300))

    battery = state(hass, "mower_battery")
    assert battery.state == "99"
    assert battery.attributes["unit_of_measurement"] == "%"
    assert battery.attributes["device_class"] == "battery"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_the_mower_is_unavailable_while_it_does_not_answer_the_charger(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    """The charger keeps relaying the mower's last frame: its values are stale."""
    await setup_entry(hass)
    await send(hass, report(mower_status=work_status(90), mower_error=0))
    assert state(hass, "mower").state == LawnMowerActivity.MOWING

    await send(hass, report(mower_status=work_status(90), mower_error=2))

    assert set(states(hass, MOWER_KEYS).values()) == {STATE_UNAVAILABLE}
    assert state(hass, "mower_connected").state == "off"  # says why
    assert state(hass, "lora_heartbeat_misses").state == "2"

    await send(hass, report(mower_status=work_status(0), mower_error=0))

    assert state(hass, "mower").state == LawnMowerActivity.DOCKED


# --- Commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "command"),
    [
        ("start_mowing", {"start_run": {"mapName": 0, "area": 111, "cutterhigh": 3}}),
        ("pause", {"pause_run": {}}),
        ("dock", {"go_pile": {}}),
    ],
)
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_each_command_goes_out_as_the_firmware_wants_it(
    hass: HomeAssistant,
    mqtt_charger_factory: ChargerFactory,
    encrypt: bool,
    service: str,
    command: dict[str, Any],
) -> None:
    charger = await mqtt_charger_factory(encrypt=encrypt, ack_time=0.01)
    await setup_entry(hass)
    await charger.async_report()
    charger.firmware.received.clear()

    await mower_action(hass, service)

    # The virtual charger takes v0.4.0 commands only encrypted, v0.3.6 only plain.
    assert charger.firmware.received == [command]
    assert charger.firmware.dropped == []


async def test_start_uses_the_area_and_height_set_by_their_entities(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: entity_id(hass, "mowing_area"), "option": "map_2"},
        blocking=True,
    )
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: entity_id(hass, "cutting_height"), "value": 8},
        blocking=True,
    )

    await mower_action(hass, "start_mowing")

    assert charger.firmware.received == [
        {"start_run": {"mapName": 0, "area": 10, "cutterhigh": 6}}
    ]


async def test_start_while_paused_resumes(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await send(hass, report(mower_status=work_status(10)))

    await mower_action(hass, "start_mowing")

    assert charger.firmware.received == [{"resume_run": {}}]


async def test_an_acknowledged_command_moves_the_mower(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await mower_action(hass, "start_mowing")
    await asyncio.sleep(0.02)

    await charger.async_report()

    assert state(hass, "mower_activity").state == "leaving_dock"


async def test_a_command_the_mower_did_not_acknowledge_says_so(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    charger.firmware.acknowledges = False  # out of LoRa range, or not paired

    with pytest.raises(HomeAssistantError) as raised:
        await mower_action(hass, "dock")

    assert raised.value.translation_key == "mower_not_acknowledged"
    assert "out of LoRa range" in str(raised.value)


async def test_a_charger_that_does_not_answer_says_so(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    charger.disconnect()  # the charger is gone

    with pytest.raises(HomeAssistantError) as raised:
        await mower_action(hass, "pause")

    assert raised.value.translation_key == "charger_not_answering"
    assert SERIAL in str(raised.value)


async def test_a_command_that_cannot_be_published_says_so(
    hass: HomeAssistant, charger: MqttCharger, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def offline(*_args: object, **_kwargs: object) -> None:
        raise HomeAssistantError("MQTT is not connected")

    monkeypatch.setattr(
        "custom_components.novabot.charger_commands.mqtt.async_publish", offline
    )

    with pytest.raises(HomeAssistantError) as raised:
        await mower_action(hass, "dock")

    assert raised.value.translation_key == "command_not_sent"


async def test_commands_sent_at_once_reach_the_charger_one_after_the_other(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    """The charger drops a message that arrives while it handles one: none may."""
    charger.firmware.ack_time = 0.05

    await asyncio.gather(
        mower_action(hass, "start_mowing"),
        mower_action(hass, "pause"),
        mower_action(hass, "dock"),
    )

    assert [next(iter(command)) for command in charger.firmware.received] == [
        "start_run",
        "pause_run",
        "go_pile",
    ]
    assert charger.firmware.dropped == []


async def test_the_virtual_charger_drops_what_arrives_while_it_is_busy(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    """Why the channel waits: the firmware drops a second message meanwhile."""
    firmware = charger.firmware
    now = hass.loop.time()
    assert firmware.receive(b'{"pause_run":{}}', now) is not None

    assert firmware.receive(b'{"go_pile":{}}', now + 0.001) is None
    assert firmware.dropped == [b'{"go_pile":{}}']
