"""What the charger says about itself: firmware version and LoRa radio.

The radio's pairing (its address and channel, which its mower shares) is kept
in the entry: provisioning the charger again re-sends exactly that.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import callback
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.const import (
    CONF_CHARGER_ADDRESS,
    CONF_CHARGER_CHANNEL,
)

from .common import (
    LORA_ADDRESS,
    LORA_CHANNEL,
    SERIAL,
    STATUS_TOPIC,
    device,
    move_time,
    reply,
    report,
    send,
    setup_entry,
    state,
    warnings_or_errors,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant

    from .mqtt_charger import ChargerFactory, MqttCharger


def queries(charger: MqttCharger) -> list[str]:
    """The commands the charger received, in order."""
    return [next(iter(command)) for command in charger.firmware.received]


@pytest.fixture
async def reporting(
    freezer: FrozenDateTimeFactory, reporting_charger: ChargerFactory
) -> MqttCharger:
    """A charger with firmware v0.3.6 that has reported once; its entry set up.

    Time is frozen first (``freezer``), so the tests can move it from there.
    """
    return await reporting_charger()


@pytest.mark.parametrize("encrypt", [False, True], ids=["v0.3.6", "v0.4.0"])
async def test_the_firmware_version_is_asked_after_the_first_report(
    hass: HomeAssistant, mqtt_charger_factory: ChargerFactory, encrypt: bool
) -> None:
    """With a null value, encrypted when the charger encrypts (v0.4.0 needs both)."""
    charger = await mqtt_charger_factory(encrypt=encrypt)
    entry = await setup_entry(hass)
    assert charger.firmware.received == []

    await charger.async_report()
    await charger.async_report()

    assert charger.firmware.received == [
        {"ota_version_info": None},
        {"get_lora_info": None},
    ]
    assert charger.firmware.dropped == []
    assert device(hass).sw_version == charger.firmware.firmware
    assert entry.runtime_data.details.firmware_version == charger.firmware.firmware


async def test_queries_go_out_with_qos_1(
    hass: HomeAssistant, mqtt_charger: MqttCharger
) -> None:
    await setup_entry(hass)
    with pytest.MonkeyPatch.context() as patcher:
        published: list[int] = []
        real_publish = mqtt.async_publish

        async def spy(
            hass: HomeAssistant,
            topic: str,
            payload: bytes,
            qos: int = 0,
            **kwargs: object,
        ) -> None:
            published.append(qos)
            await real_publish(hass, topic, payload, qos)

        patcher.setattr(
            "custom_components.novabot.charger_commands.mqtt.async_publish", spy
        )
        await mqtt_charger.async_report()

    assert published == [1, 1]  # the charger subscribes with QoS 1


async def test_the_firmware_version_is_asked_again_when_a_silent_charger_returns(
    hass: HomeAssistant, reporting: MqttCharger, freezer: FrozenDateTimeFactory
) -> None:
    """A charger that went quiet may have been updated."""
    await move_time(hass, freezer, 61)

    await reporting.async_report()

    assert queries(reporting) == ["ota_version_info", "get_lora_info"] * 2


async def test_the_firmware_version_is_asked_again_when_the_charger_starts_encrypting(
    hass: HomeAssistant, reporting: MqttCharger
) -> None:
    """An update from v0.3.6 to v0.4.0 can be quicker than the stale timeout."""
    assert device(hass).sw_version == "v0.3.6"

    reporting.firmware.encrypt = True  # updated, and rebooted at once
    await reporting.async_report()

    assert device(hass).sw_version == "v0.4.0"


async def test_a_charger_that_never_answers_shows_no_version_and_no_error(
    hass: HomeAssistant,
    mqtt_mock: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_entry(hass)

    await send(hass, report())
    await hass.async_block_till_done(wait_background_tasks=True)

    assert device(hass).sw_version is None
    assert entry.runtime_data.details.firmware_version is None
    assert state(hass, "lora_noise").state == STATE_UNKNOWN
    assert warnings_or_errors(caplog) == []


async def test_the_lora_radio_is_shown_in_dbm_with_its_channel(
    hass: HomeAssistant, reporting_charger: ChargerFactory
) -> None:
    await reporting_charger(lora_channel=20, lora_noise_raw=146)

    noise = state(hass, "lora_noise")
    assert noise.state == "-110"
    assert noise.attributes["unit_of_measurement"] == "dBm"
    assert state(hass, "lora_channel").state == "20"


async def test_the_lora_radio_is_asked_every_ten_minutes_while_the_charger_reports(
    hass: HomeAssistant, reporting: MqttCharger, freezer: FrozenDateTimeFactory
) -> None:
    reporting.firmware.lora_noise_raw = 150  # a channel scan measured again

    for _ in range(20):  # ten minutes of reports
        await move_time(hass, freezer, 30)
        await reporting.async_report()

    assert queries(reporting).count("get_lora_info") == 2
    assert state(hass, "lora_noise").state == "-106"


async def test_a_silent_charger_is_not_asked_for_its_radio(
    hass: HomeAssistant, reporting: MqttCharger, freezer: FrozenDateTimeFactory
) -> None:
    await move_time(hass, freezer, 11 * 60, step=30)

    assert queries(reporting).count("get_lora_info") == 1


# --- The radio's pairing ----------------------------------------------------------------


@pytest.fixture
async def lora_info(
    hass: HomeAssistant, mqtt_mock: object
) -> AsyncIterator[dict[str, Any]]:
    """What the charger answers to ``get_lora_info`` (it answers nothing else).

    The test fills it in; the charger answers with whatever it holds then.
    """
    answer: dict[str, Any] = {}

    @callback
    def command_received(message: mqtt.ReceiveMessage) -> None:
        if "get_lora_info" in json.loads(message.payload):
            async_fire_mqtt_message(
                hass, STATUS_TOPIC, reply("get_lora_info", dict(answer))
            )

    unsubscribe = await mqtt.async_subscribe(
        hass, f"Dart/Send_mqtt/{SERIAL}", command_received, encoding=None
    )
    yield answer
    unsubscribe()


async def first_report_and_queries(hass: HomeAssistant) -> None:
    """The first report, and the queries it causes answered (or given up)."""
    await send(hass, report())
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_the_pairing_the_charger_reports_is_kept_in_the_entry(
    hass: HomeAssistant, lora_info: dict[str, Any]
) -> None:
    """Its own address, from the factory, and the channel it uses."""
    entry = await setup_entry(hass)
    lora_info.update(addr=4321, channel=20, rssi=157)

    await first_report_and_queries(hass)

    assert entry.data[CONF_CHARGER_ADDRESS] == 4321
    assert entry.data[CONF_CHARGER_CHANNEL] == 20
    assert state(hass, "lora_address").state == "4321"
    assert state(hass, "lora_channel").state == "20"
    assert state(hass, "lora_noise").state == "-99"


async def test_the_pairing_the_entry_knows_leaves_the_entry_alone(
    hass: HomeAssistant, lora_info: dict[str, Any]
) -> None:
    entry = await setup_entry(hass)
    lora_info.update(addr=LORA_ADDRESS, channel=LORA_CHANNEL, rssi=157)
    modified = entry.modified_at

    await first_report_and_queries(hass)

    assert state(hass, "lora_address").state == str(LORA_ADDRESS)
    assert entry.modified_at == modified


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        pytest.param(
            {"channel": 20, "rssi": 157},
            {"lora_address": STATE_UNKNOWN, "lora_channel": "20"},
            id="no-address",
        ),
        pytest.param(
            {"addr": 4321, "rssi": 157},
            {"lora_address": "4321", "lora_channel": STATE_UNKNOWN},
            id="no-channel",
        ),
        pytest.param(
            {"addr": 70000, "channel": 20, "rssi": 157},
            {"lora_address": STATE_UNKNOWN, "lora_channel": "20"},
            id="address-out-of-range",
        ),
    ],
)
async def test_half_a_pairing_is_shown_but_not_kept(
    hass: HomeAssistant,
    lora_info: dict[str, Any],
    answer: dict[str, Any],
    shown: dict[str, str],
) -> None:
    entry = await setup_entry(hass)
    lora_info.update(answer)
    before = dict(entry.data)

    await first_report_and_queries(hass)

    assert dict(entry.data) == before
    assert {key: state(hass, key).state for key in shown} == shown
