"""What the charger says about itself: firmware version and LoRa radio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.const import STATE_UNKNOWN
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.novabot.const import DOMAIN

from .common import (
    SERIAL,
    device,
    entry_data,
    move_time,
    report,
    send,
    setup_entry,
    state,
)

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import entity_registry as er

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
    assert [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


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


async def test_the_retired_lora_signal_sensor_is_removed_on_upgrade(
    hass: HomeAssistant, mqtt_mock: object, entity_registry: er.EntityRegistry
) -> None:
    """Bits 1..7 of charger_status are not a signal: entries of 1.1 lose it."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=SERIAL, data=entry_data(), version=1, minor_version=1
    )
    entry.add_to_hass(hass)
    retired = entity_registry.async_get_or_create(
        "sensor", DOMAIN, f"{SERIAL}_lora_rssi", config_entry=entry
    )

    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entity_registry.async_get(retired.entity_id) is None
    assert entry.minor_version == 2
