"""Diagnostics: what the integration knows about a charger, and no secret.

Owners attach them to public bug reports, and the serial number completes the
charger's AES key: it is redacted wherever it appears, and so are Bluetooth
addresses, hosts, IP addresses and client ids. The firmware, the mode, the
counters, the decoded values and the radio stay.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from unittest.mock import MagicMock, patch

from homeassistant.components.diagnostics import REDACTED
from homeassistant.config_entries import SOURCE_BLUETOOTH
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from syrupy.filters import props

from custom_components.novabot.const import (
    CONF_ADDRESS,
    CONF_CHARGER_ADDRESS,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_STALE_TIMEOUT,
    DOMAIN,
)
from custom_components.novabot.protocol import (
    ANONYMOUS_LOGIN,
    Admission,
    ProbeOutcome,
    ProbeResult,
    arbitrary_login,
)

from .common import (
    ADDRESS,
    CHARGER_STATUS,
    LORA_ADDRESS,
    LORA_CHANNEL,
    OTHER_SERIAL,
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
# The gateway's own diagnostics, as it gives them: its address, and a charger
# connected with the serial number as client id (what the firmware sends).
GATEWAY_ADDRESS = "192.168.1.10"
CHARGER_IP = "192.168.1.50"
GATEWAY_DIAGNOSTICS = {
    "running": True,
    "ports": [1885],
    "ports_not_open": [],
    "bind_address": GATEWAY_ADDRESS,
    "chargers_admitted": 2,
    "clients": [
        {"client_id": SERIAL, "remote_address": CHARGER_IP, "remote_port": 50123},
        {"client_id": "ESP32_1A2B3C", "remote_address": CHARGER_IP, "remote_port": 1},
    ],
    "counters": {"relayed_to_home_assistant": 12, f"topic_{OTHER_SERIAL}": 1},
}


@pytest.fixture
def gateway_diagnostics() -> Iterator[MagicMock]:
    """The gateway's own diagnostics (the gateway has its own tests)."""
    with patch(
        "custom_components.novabot.diagnostics.async_get_gateway_diagnostics",
        autospec=True,
        return_value=GATEWAY_DIAGNOSTICS,
    ) as diagnostics:
        yield diagnostics


def assert_nothing_identifies_the_owner(diagnostics: dict[str, Any]) -> None:
    """No serial number, Bluetooth address, host or IP address anywhere."""
    text = json.dumps(diagnostics)
    for secret in (SERIAL, OTHER_SERIAL, ADDRESS, GATEWAY_ADDRESS, CHARGER_IP):
        assert secret not in text


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
    await send(hass, report(encrypt_for=SERIAL, battery_capacity=70))
    await send(hass, b"{nonsense")
    await send(hass, bytes(17))
    await send(hass, bytes(17))
    await move_time(hass, freezer, 5)
    await send(hass, report(encrypt_for=SERIAL, mower_error=2, battery_capacity=70))

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics == snapshot(exclude=props("last_report"))
    assert diagnostics["last_report"] == entry.runtime_data.last_report.isoformat()
    assert "gateway" not in diagnostics
    assert_nothing_identifies_the_owner(diagnostics)
    # The LoRa radio's address is no secret, unlike the Bluetooth one.
    assert diagnostics["lora"]["address"] == entry.data[CONF_CHARGER_ADDRESS]


async def test_diagnostics_before_any_report(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
) -> None:
    entry = await setup_entry(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics["entry"] == {
        "title": REDACTED,
        "unique_id": REDACTED,
        "version": "1.3",
        "data": {
            **entry_data(),
            "serial_number": REDACTED,
            "mqtt_host": REDACTED,
        },
        "options": {},
    }
    assert diagnostics["mode"] == "direct"
    assert diagnostics["online"] is False
    assert diagnostics["status"] is None
    assert diagnostics["firmware_version"] is None
    assert diagnostics["encrypted_reports"] is None
    assert diagnostics["last_report"] is None
    assert diagnostics["reports_accepted"] == 0
    assert diagnostics["reports_ignored"] == {}
    assert diagnostics["mower_present"] is False
    assert diagnostics["lora"] is None


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


@pytest.mark.usefixtures("mqtt_mock", "mock_gateway")
async def test_gateway_entry_diagnostics_redact_addresses_and_client_ids(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    gateway_diagnostics: MagicMock,
    snapshot: SnapshotAssertion,
) -> None:
    """Any configured charger's serial number goes, wherever it appears."""
    entry = await setup_entry(
        hass,
        data=entry_data(gateway=True),
        options={CONF_GATEWAY_PORT: 1885, CONF_GATEWAY_BIND_ADDRESS: GATEWAY_ADDRESS},
    )
    await setup_entry(hass, OTHER_SERIAL, data=entry_data(OTHER_SERIAL, gateway=True))
    await send(hass, report())

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    assert diagnostics == snapshot(exclude=props("last_report"))
    gateway_diagnostics.assert_called_once_with(hass)
    assert_nothing_identifies_the_owner(diagnostics)


async def test_diagnostics_never_contain_the_wifi_password(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: MqttMockHAClient,
) -> None:
    """Provision a charger with a password; nothing of it reaches the diagnostics."""
    radio = FakeRadio()
    radio.hear(charger_service_info(ADDRESS))
    admitted = Admission(
        dict.fromkeys(
            (ANONYMOUS_LOGIN, arbitrary_login()), ProbeResult(ProbeOutcome.ACCEPTED)
        )
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
                "radio": {"lora_address": LORA_ADDRESS, "lora_channel": LORA_CHANNEL},
            },
        )
        assert result["step_id"] == "confirm"  # what saving does to the mower
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
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
