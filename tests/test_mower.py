"""The mower through its charger: activity, battery, staleness, and commands.

Commands (the lawn mower's actions and the mower's buttons) go through Home
Assistant's MQTT to the virtual charger (``tests/mqtt_charger.py``), which
relays them to its simulated mower and answers as the firmware does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.components.button import DOMAIN as BUTTON, SERVICE_PRESS
from homeassistant.components.lawn_mower import DOMAIN as LAWN_MOWER
from homeassistant.components.lawn_mower.const import LawnMowerActivity
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.translation import async_get_translations
import pytest

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.protocol import WorkStatus

from .common import (
    MOWER_KEYS,
    SERIAL,
    entity_id,
    mower_status,
    report,
    send,
    setup_entry,
    state,
    states,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.core import HomeAssistant

    from .mqtt_charger import ChargerFactory, MqttCharger

type Action = Callable[[HomeAssistant], Awaitable[None]]


async def mower_action(hass: HomeAssistant, service: str) -> None:
    await hass.services.async_call(
        LAWN_MOWER,
        service,
        {ATTR_ENTITY_ID: entity_id(hass, "mower")},
        blocking=True,
    )


async def press(hass: HomeAssistant, key: str) -> None:
    await hass.services.async_call(
        BUTTON, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id(hass, key)}, blocking=True
    )


# Everything that relays a command to the mower, and the command it sends.
COMMANDS: list[tuple[Action, dict[str, Any]]] = [
    (
        lambda hass: mower_action(hass, "start_mowing"),
        {"start_run": {"mapName": 0, "area": 111, "cutterhigh": 3}},
    ),
    (lambda hass: mower_action(hass, "pause"), {"pause_run": {}}),
    (lambda hass: mower_action(hass, "dock"), {"go_pile": {}}),
    (lambda hass: press(hass, "stop"), {"stop_run": {}}),
    (lambda hass: press(hass, "cancel_schedule"), {"stop_time_run": {}}),
]
COMMAND_IDS = [next(iter(command)) for _, command in COMMANDS]
ACTIONS = [action for action, _ in COMMANDS]


@pytest.fixture
async def charger(reporting_charger: ChargerFactory) -> MqttCharger:
    """A charger whose mower answers quickly, reporting; the entry set up."""
    charger = await reporting_charger(ack_time=0.01, ack_wait=0.05)
    charger.firmware.received.clear()  # the queries at start
    return charger


# --- What the mower does ------------------------------------------------------------

# Byte 1 of mower_status while the mower drives back to its charger.
HEADING_HOME = (1, 2, 50, 53, 191, 192, 193)
# Away from its charger, not driving back: what the work status says, as the
# lawn mower's activity and as the activity sensor's label.
AWAY: dict[LawnMowerActivity, dict[int, str]] = {
    LawnMowerActivity.PAUSED: {0: "idle", 9: "finished", 10: "stopped_by_user"},
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
        for activity, labels in AWAY.items()
        for code, label in labels.items()
    ],
)
async def test_away_from_its_charger_the_activity_follows_the_work_status(
    hass: HomeAssistant,
    mqtt_mock: object,
    code: int,
    activity: LawnMowerActivity,
    label: str,
) -> None:
    """An idle mower away from its charger is paused, not docked."""
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(code)))

    assert state(hass, "mower").state == activity
    assert state(hass, "mower_activity").state == label


@pytest.mark.parametrize("code", [0, 9, 10, 90, 200])
async def test_the_mower_is_docked_while_it_stands_on_its_charger(
    hass: HomeAssistant, mqtt_mock: object, code: int
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(code, recharge=9)))

    assert state(hass, "mower").state == LawnMowerActivity.DOCKED


async def test_an_error_on_the_charger_is_an_error(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(13, recharge=9)))

    assert state(hass, "mower").state == LawnMowerActivity.ERROR


@pytest.mark.parametrize("recharge", HEADING_HOME)
@pytest.mark.parametrize("code", [0, 9, 10, 90, 200])
async def test_the_mower_is_returning_while_it_drives_back_whatever_its_work_status(
    hass: HomeAssistant, mqtt_mock: object, code: int, recharge: int
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(code, recharge=recharge)))

    assert state(hass, "mower").state == LawnMowerActivity.RETURNING


@pytest.mark.parametrize("code", [50, 53, 135, 200])
async def test_a_work_status_without_an_activity_leaves_the_lawn_mower_unknown(
    hass: HomeAssistant, mqtt_mock: object, code: int
) -> None:
    """50..53 are labelled inconsistently by the sources; mapping has no activity."""
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(code)))

    assert state(hass, "mower").state == STATE_UNKNOWN


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("code", [50, 53, 200])
async def test_a_code_without_a_label_is_unknown_but_kept_by_the_status_code_sensor(
    hass: HomeAssistant, mqtt_mock: object, code: int
) -> None:
    await setup_entry(hass)

    await send(hass, report(mower_status=mower_status(code)))

    assert state(hass, "mower_activity").state == STATE_UNKNOWN
    assert state(hass, "mower_status").state == str(mower_status(code))


async def test_the_activity_sensor_offers_the_labelled_work_statuses_translated(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    await setup_entry(hass)
    await send(hass, report(mower_status=mower_status(135)))

    activity = state(hass, "mower_activity")
    options = activity.attributes["options"]

    assert activity.state == "mapping"
    assert options == [label.value for label in WorkStatus]
    translations = await async_get_translations(hass, "en", "entity", {DOMAIN})
    prefix = f"component.{DOMAIN}.entity.sensor.mower_activity.state"
    assert {f"{prefix}.{option}" for option in options} <= set(translations)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_the_mowers_values_are_unavailable_while_it_does_not_answer_the_charger(
    hass: HomeAssistant, mqtt_mock: object
) -> None:
    """The charger keeps relaying the mower's last frame: its values are stale.

    The lawn mower stays available, its activity unknown: an action on an
    unavailable entity is skipped with a mere warning, so a command would
    seem to succeed; available, it says the mower did not acknowledge.
    """
    await setup_entry(hass)
    await send(hass, report(mower_status=mower_status(90), mower_error=0))
    assert state(hass, "mower").state == LawnMowerActivity.MOWING

    await send(hass, report(mower_status=mower_status(90), mower_error=2))

    assert set(states(hass, MOWER_KEYS).values()) == {STATE_UNAVAILABLE}
    assert state(hass, "mower").state == STATE_UNKNOWN
    assert state(hass, "mower_connected").state == "off"  # says why

    await send(hass, report(mower_error=0))  # back on its charger

    assert state(hass, "mower").state == LawnMowerActivity.DOCKED


async def test_a_command_while_the_mower_is_out_of_range_fails_with_a_message(
    hass: HomeAssistant, reporting_charger: ChargerFactory
) -> None:
    """A soak finding: the command was skipped silently, the caller told success."""
    charger = await reporting_charger(ack_time=0.01, ack_wait=0.05)
    charger.firmware.link.mower_out_of_range(hass.loop.time())
    await send(hass, report(mower_error=5))  # the last frame, stale

    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            LAWN_MOWER,
            "start_mowing",
            {ATTR_ENTITY_ID: entity_id(hass, "mower")},
            blocking=True,
        )

    assert raised.value.translation_key == "mower_not_acknowledged"


# --- Commands -------------------------------------------------------------------------


@pytest.mark.parametrize(("action", "command"), COMMANDS, ids=COMMAND_IDS)
@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_each_command_goes_out_as_the_firmware_wants_it(
    hass: HomeAssistant,
    mqtt_charger_factory: ChargerFactory,
    encrypt: bool,
    action: Action,
    command: dict[str, Any],
) -> None:
    """The buttons' commands too: ``stop_run`` and ``stop_time_run`` with ``{}``."""
    charger = await mqtt_charger_factory(encrypt=encrypt, ack_time=0.01)
    await setup_entry(hass)
    await charger.async_report()
    charger.firmware.received.clear()

    await action(hass)

    # The virtual charger takes v0.4.0 commands only encrypted, v0.3.6 only plain.
    assert charger.firmware.received == [command]
    assert charger.firmware.dropped == []


async def test_start_resumes_a_mower_stopped_by_the_user(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await send(hass, report(mower_status=mower_status(10)))

    await mower_action(hass, "start_mowing")

    assert charger.firmware.received == [{"resume_run": {}}]


async def test_an_acknowledged_command_moves_the_mower(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    await mower_action(hass, "start_mowing")
    await asyncio.sleep(0.02)

    await charger.async_report()

    assert state(hass, "mower_activity").state == "leaving_dock"


@pytest.mark.parametrize("action", ACTIONS, ids=COMMAND_IDS)
async def test_a_command_the_mower_did_not_acknowledge_says_so(
    hass: HomeAssistant, charger: MqttCharger, action: Action
) -> None:
    charger.firmware.acknowledges = False  # out of LoRa range, or not paired

    with pytest.raises(HomeAssistantError) as raised:
        await action(hass)

    assert raised.value.translation_key == "mower_not_acknowledged"
    assert "out of LoRa range" in str(raised.value)


@pytest.mark.parametrize("action", ACTIONS, ids=COMMAND_IDS)
async def test_a_charger_that_does_not_answer_says_so(
    hass: HomeAssistant, charger: MqttCharger, action: Action
) -> None:
    charger.disconnect()  # the charger is gone

    with pytest.raises(HomeAssistantError) as raised:
        await action(hass)

    assert raised.value.translation_key == "charger_not_answering"
    assert SERIAL in str(raised.value)


@pytest.mark.parametrize("action", ACTIONS, ids=COMMAND_IDS)
async def test_a_command_that_cannot_be_published_says_so(
    hass: HomeAssistant,
    charger: MqttCharger,
    monkeypatch: pytest.MonkeyPatch,
    action: Action,
) -> None:
    async def offline(*_args: object, **_kwargs: object) -> None:
        raise HomeAssistantError("MQTT is not connected")

    monkeypatch.setattr(
        "custom_components.novabot.charger_commands.mqtt.async_publish", offline
    )

    with pytest.raises(HomeAssistantError) as raised:
        await action(hass)

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
