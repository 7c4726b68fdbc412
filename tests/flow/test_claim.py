"""The claim window: the provisioned charger's first report, and what if none comes.

``async_claim`` is tested alone first, on Home Assistant's mocked MQTT; then
the dialog's claim step and its timeout menu.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.flow.report_listener import (
    MAX_CHARGERS,
    ReportListener,
    async_claim,
)

from ..common import state, states
from ..flow_helpers import (
    OTHER_ADDRESS,
    OTHER_SERIAL_NUMBER,
    PASSWORD,
    SERIAL_NUMBER,
    THIRD_SERIAL_NUMBER,
    report_payload,
    settings_input,
    suggested_values,
)
from . import (
    LOOPBACK,
    SetupDialog,
    configured_entry,
    publish,
    rendered,
    without_password,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto


pytestmark = pytest.mark.usefixtures("mqtt_mock")


# --- Listening on the broker, without a flow -----------------------------------------


async def test_the_claim_hears_its_charger_and_names_the_new_ones_that_reported(
    hass: HomeAssistant,
) -> None:
    claiming = hass.async_create_task(
        async_claim(hass, SERIAL_NUMBER, {OTHER_SERIAL_NUMBER}, timeout=5)
    )
    while not claiming.done():  # chargers report every few seconds
        for serial_number in (THIRD_SERIAL_NUMBER, OTHER_SERIAL_NUMBER, SERIAL_NUMBER):
            publish(hass, serial_number)
        await asyncio.sleep(0.01)

    claim = claiming.result()

    assert claim.status is not None
    assert claim.status.gps_satellites == 17
    assert claim.others == (THIRD_SERIAL_NUMBER,)  # a configured one is no news


async def test_a_listener_stops_collecting_after_more_chargers_than_a_home_has(
    hass: HomeAssistant,
) -> None:
    """Someone else's broker, or a flood of made-up serial numbers: memory stays small."""
    serial_numbers = [f"LFIC{n:010d}" for n in range(MAX_CHARGERS + 5)]

    async with ReportListener(hass) as listener:
        await hass.async_block_till_done()
        for serial_number in serial_numbers:
            publish(hass, serial_number)
        await hass.async_block_till_done()

    assert list(listener.first_reports) == serial_numbers[:MAX_CHARGERS]


# --- The dialog's claim step --------------------------------------------------------


@pytest.fixture
def another_charger(hass: HomeAssistant) -> None:
    """Another charger is set up already, and reports as usual."""
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=OTHER_ADDRESS)


@pytest.fixture
async def claiming_beside_another(
    another_charger: None, claiming: SetupDialog
) -> SetupDialog:
    """The claim window is open, another charger set up before this one."""
    return claiming


@pytest.fixture
async def timed_out(short_claim: None, claiming: SetupDialog) -> SetupDialog:
    """The provisioned charger stayed silent: the claim window has closed."""
    await claiming.next_step()
    return claiming


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(report_payload(encrypted=True), id="encrypted"),
        pytest.param(report_payload(shape="message"), id="type-message"),
    ],
)
async def test_claim_accepts_both_report_shapes_and_encrypted_reports(
    hass: HomeAssistant, claiming: SetupDialog, payload: bytes
) -> None:
    result = await claiming.report(payload)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert state(hass, "gps_satellites").state == "17"


async def test_claim_timeout_offers_to_wait_again_and_a_late_report_completes(
    hass: HomeAssistant, open_broker: Mosquitto, timed_out: SetupDialog
) -> None:
    result = timed_out.watcher.current(timed_out.flow_id)
    assert result is not None
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout"
    assert result["menu_options"] == ["claim", "finish", "settings"]
    assert f"{LOOPBACK}:{open_broker.port}" in rendered(result)

    result = await timed_out.choose("claim")
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "claim"
    result = await timed_out.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert state(hass, "gps_satellites").state == "17"


async def test_finishing_without_a_report_creates_the_entry_with_unavailable_entities(
    hass: HomeAssistant, timed_out: SetupDialog
) -> None:
    result = await timed_out.choose("finish")

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["serial_number"] == SERIAL_NUMBER
    # Not asked to pair its radio: its pairing is learned once it reports.
    assert result["data"]["charger_address"] is None
    assert result["data"]["charger_channel"] is None
    keys = ("gps_satellites", "gps_fix")
    assert states(hass, keys) == dict.fromkeys(keys, STATE_UNAVAILABLE)


async def test_provisioning_again_after_a_claim_timeout_shows_the_settings_form(
    open_broker: Mosquitto, timed_out: SetupDialog
) -> None:
    result = await timed_out.choose("settings")

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {}
    assert suggested_values(result["data_schema"]) == without_password(
        settings_input(open_broker.port)
    )
    # The charger is power-cycled and provisioned again; this time it reports.
    await timed_out.provision(open_broker.port, password="")
    result = await timed_out.report()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(timed_out.radio.chargers) == 2
    assert timed_out.radio.charger.committed is not None
    assert (
        timed_out.radio.charger.committed["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    )


@pytest.mark.usefixtures("short_claim")
async def test_claim_timeout_names_another_charger_that_reported_instead(
    hass: HomeAssistant, claiming_beside_another: SetupDialog
) -> None:
    # A configured charger reporting is business as usual; an unknown one is
    # likely the charger on the user's bench, with a mistyped serial number.
    publish(hass, OTHER_SERIAL_NUMBER)
    publish(hass, THIRD_SERIAL_NUMBER)
    result = await claiming_beside_another.next_step()

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout_other"
    assert result["menu_options"] == ["claim", "finish", "settings"]
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["other_serial_numbers"] == THIRD_SERIAL_NUMBER
    assert placeholders["serial_number"] == SERIAL_NUMBER
    assert THIRD_SERIAL_NUMBER in rendered(result)


@pytest.mark.usefixtures("short_claim")
async def test_claim_ignores_configured_chargers_and_unreadable_reports(
    hass: HomeAssistant, claiming_beside_another: SetupDialog
) -> None:
    publish(hass, OTHER_SERIAL_NUMBER)
    publish(hass, SERIAL_NUMBER, b"not a report")
    publish(hass, SERIAL_NUMBER, report_payload(OTHER_SERIAL_NUMBER, encrypted=True))
    publish(hass, "", report_payload())  # Dart/Receive_mqtt/
    result = await claiming_beside_another.next_step()

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout"
    assert f"{LOOPBACK}:" in rendered(result)
