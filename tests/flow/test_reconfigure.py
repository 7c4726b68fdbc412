"""Reconfigure: a charger set up already moves to another WiFi or broker."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
)

from ..common import LORA_ADDRESS, LORA_CHANNEL, state, warnings_or_errors
from ..flow_helpers import (
    ADDRESS,
    OTHER_ADDRESS,
    OTHER_SERIAL_NUMBER,
    SERIAL_NUMBER,
    charger_service_info,
    paired_firmware,
    pairing,
    select_options,
    suggested_values,
)
from . import LOOPBACK, NEW_PASSWORD, configured_entry, rendered

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from tests.mosquitto import Mosquitto

    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


async def loaded_entry(
    hass: HomeAssistant, options: dict[str, Any] | None = None, **data: Any
) -> MockConfigEntry:
    """A configured charger whose entry is set up."""
    entry = configured_entry(hass, **data)
    hass.config_entries.async_update_entry(entry, options=options or {})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def test_reconfigure_moves_a_charger_to_a_new_wifi_and_broker(
    hass: HomeAssistant,
    open_broker: Mosquitto,
    dialog: SetupDialog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await loaded_entry(hass, mqtt_host="192.0.2.10", mqtt_port=1883)
    coordinator = entry.runtime_data
    # Another configured charger is in provisioning mode too: not offered here.
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=OTHER_ADDRESS)
    dialog.radio.hear(charger_service_info(OTHER_ADDRESS))
    # The charger holds the pairing its entry knows, its mower paired to it.
    charger = dialog.radio.queue(firmware=paired_firmware(LORA_ADDRESS, LORA_CHANNEL))

    result = await dialog.reconfigure(entry)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_charger"
    assert [o["value"] for o in select_options(result["data_schema"], "address")] == [
        ADDRESS
    ]
    result = await dialog.submit({"address": ADDRESS})
    assert result["step_id"] == "settings"
    suggested = suggested_values(result["data_schema"])
    assert suggested == {
        "serial_number": SERIAL_NUMBER,
        "mqtt_host": "192.0.2.10",
        "mqtt_port": 1883,
        "radio": pairing(LORA_ADDRESS, LORA_CHANNEL),
    }

    await dialog.provision(
        open_broker.port,
        ssid="Garden 2",
        password=NEW_PASSWORD,
        radio=suggested["radio"],
    )
    result = await dialog.report()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == {
        "serial_number": SERIAL_NUMBER,
        "charger_address": LORA_ADDRESS,
        "charger_channel": LORA_CHANNEL,
        "mqtt_host": LOOPBACK,
        "mqtt_port": open_broker.port,
        "gateway": False,
        "address": ADDRESS,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not coordinator  # reloaded
    assert warnings_or_errors(caplog) == []
    assert state(hass, "gps_satellites").state == "17"
    assert dialog.radio.charger.committed is not None
    assert dialog.radio.charger.committed["set_wifi_info"]["sta"] == {
        "ssid": "Garden 2",
        "passwd": NEW_PASSWORD,
        "encrypt": 0,
    }
    assert dialog.radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": open_broker.port,
    }
    # Its pairing, sent again as it was, kept its mower.
    assert charger.link.mower_answers(asyncio.get_running_loop().time())


async def test_reconfigure_with_another_chargers_serial_number_aborts_wrong_charger(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    entry = await loaded_entry(hass)
    await dialog.reconfigure(entry)
    await dialog.submit({"address": ADDRESS})

    result = await dialog.enter_settings(1883, serial_number=OTHER_SERIAL_NUMBER)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_charger"
    assert result["description_placeholders"] == {"serial_number": OTHER_SERIAL_NUMBER}
    assert OTHER_SERIAL_NUMBER in rendered(result)
    assert dialog.radio.connect_calls == []
    assert entry.data["serial_number"] == SERIAL_NUMBER


async def test_reconfigure_without_a_charger_in_range_aborts_no_devices_found(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    entry = await loaded_entry(hass)
    dialog.radio.forget(ADDRESS)

    result = await dialog.reconfigure(entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


async def test_reconfigure_in_gateway_mode_uses_the_entrys_gateway_options(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    gateway_leases: GatewayStandIn,
    dialog: SetupDialog,
) -> None:
    gateway = gateway_leases
    # Not the default port: where this Home Assistant's gateway listens.
    entry = await loaded_entry(
        hass,
        options={CONF_GATEWAY_PORT: gateway.port, CONF_GATEWAY_BIND_ADDRESS: LOOPBACK},
        gateway=True,
        mqtt_port=gateway.port,
    )
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, True)]
    await dialog.reconfigure(entry)
    await dialog.submit({"address": ADDRESS})

    await dialog.provision(locked_broker.port)
    result = await dialog.report()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert gateway.calls[1] == (SERIAL_NUMBER, gateway.port, False)
    assert entry.data["gateway"] is True
    assert entry.data["mqtt_port"] == gateway.port
    assert dialog.radio.charger.committed is not None
    assert dialog.radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": gateway.port,
    }
    await dialog.settle()
    assert gateway.in_use == 1  # the reloaded entry's
