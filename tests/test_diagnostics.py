"""Diagnostics: what the integration knows about a charger, and no secret."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import SOURCE_BLUETOOTH
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.filters import props

from custom_components.novabot.const import CONF_ADDRESS, CONF_STALE_TIMEOUT, DOMAIN
from custom_components.novabot.protocol import (
    CHARGER_LOGINS,
    Admission,
    ProbeOutcome,
    ProbeResult,
)

from .common import (
    ADDRESS,
    CHARGER_STATUS,
    SERIAL,
    entry_data,
    firmware_reply,
    move_time,
    report,
    send,
    setup_entry,
)
from .flow_helpers import FakeRadio, charger_service_info

if TYPE_CHECKING:
    from collections.abc import Iterator

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import (
        ClientSessionGenerator,
        MqttMockHAClient,
    )
    from syrupy.assertion import SnapshotAssertion

    from .mqtt_charger import ChargerFactory

CHOICE = "custom_components.novabot.flow.broker_choice"
# Distinctive, so that finding it anywhere in the diagnostics is meaningful.
PASSWORD = "Diagnostics-Must-Not-Show-This-7f3a"
GATEWAY_DIAGNOSTICS = {"running": True, "port": 1885, "clients": 1}


@pytest.fixture
def gateway_diagnostics() -> Iterator[MagicMock]:
    """The gateway's own diagnostics (the gateway has its own tests)."""
    with patch(
        "custom_components.novabot.diagnostics.async_get_gateway_diagnostics",
        autospec=True,
        return_value=GATEWAY_DIAGNOSTICS,
    ) as diagnostics:
        yield diagnostics


async def test_diagnostics_show_entry_status_firmware_and_counters(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_charger_factory: ChargerFactory,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    await mqtt_charger_factory(encrypt=True)  # answers the firmware and LoRa queries
    entry = await setup_entry(
        hass,
        data=entry_data(**{CONF_ADDRESS: ADDRESS}),
        options={CONF_STALE_TIMEOUT: 90},
    )
    await send(hass, report(encrypt_for=SERIAL, mower_error=2, battery_capacity=70))
    await send(hass, b"{nonsense")
    await send(hass, bytes(17))
    await send(hass, bytes(17))
    await move_time(hass, freezer, 5)
    await send(hass, report(encrypt_for=SERIAL, mower_error=2, battery_capacity=70))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics == snapshot(exclude=props("last_report"))
    assert diagnostics["last_report"] == entry.runtime_data.last_report.isoformat()
    assert "gateway" not in diagnostics


async def test_diagnostics_before_any_report(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
) -> None:
    entry = await setup_entry(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["entry"] == {"data": entry_data(), "options": {}}
    assert diagnostics["online"] is False
    assert diagnostics["status"] is None
    assert diagnostics["firmware_version"] is None
    assert diagnostics["encrypted_reports"] is None
    assert diagnostics["last_report"] is None
    assert diagnostics["reports_accepted"] == 0
    assert diagnostics["reports_ignored"] == {}


async def test_diagnostics_of_a_silent_charger_keep_the_last_status(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report(mower_status=4))
    await move_time(hass, freezer, 61)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["online"] is False
    assert diagnostics["status"]["mower_status"] == 4
    assert diagnostics["encrypted_reports"] is False


async def test_gateway_entry_diagnostics_include_the_gateway(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
    mock_gateway: MagicMock,
    gateway_diagnostics: MagicMock,
) -> None:
    entry = await setup_entry(hass, data=entry_data(gateway=True))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["gateway"] == GATEWAY_DIAGNOSTICS
    gateway_diagnostics.assert_called_once_with(hass)


async def test_diagnostics_never_contain_the_wifi_password(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
) -> None:
    """Provision a charger with a password; nothing of it reaches the diagnostics."""
    radio = FakeRadio()
    radio.hear(charger_service_info(ADDRESS))
    admitted = Admission(
        dict.fromkeys(CHARGER_LOGINS, ProbeResult(ProbeOutcome.ACCEPTED))
    )
    with (
        radio.installed(),
        patch(f"{CHOICE}.probe_charger_logins", return_value=admitted),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_BLUETOOTH},
            data=charger_service_info(ADDRESS),
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "serial_number": SERIAL,
                "ssid": "Garden",
                "password": PASSWORD,
                "mqtt_host": "192.168.1.10",
                "mqtt_port": 1883,
            },
        )
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        flow_id = result["flow_id"]
        # Move on as the frontend does after each progress step; in the claim
        # window the charger reports (every ~2 s in real life) until it is heard.
        async with asyncio.timeout(10):
            while (flow := hass.config_entries.flow._progress.get(flow_id)) is not None:
                step = flow.cur_step
                assert step is not None
                if step["type"] is FlowResultType.SHOW_PROGRESS_DONE:
                    await hass.config_entries.flow.async_configure(flow_id)
                    continue
                if step["step_id"] == "claim":
                    await send(hass, report(encrypt_for=SERIAL))
                await asyncio.sleep(0.01)

    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    await send(hass, firmware_reply("v0.4.0", encrypt_for=SERIAL))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["status"]["charger_status"] == CHARGER_STATUS
    text = json.dumps(diagnostics)
    assert PASSWORD not in text
    assert PASSWORD.lower() not in text.lower()
    assert "passw" not in text.lower()
    assert PASSWORD not in json.dumps(_everything_stored(entry))


def _everything_stored(entry: Any) -> dict[str, Any]:
    return {"data": dict(entry.data), "options": dict(entry.options)}
