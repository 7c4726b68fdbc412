"""Options: the stale timeout, and the gateway's port and bind address."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.data_entry_flow import FlowResultType, InvalidData
import pytest

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_STALE_TIMEOUT,
)
from custom_components.novabot.gateway import DEFAULT_BIND_ADDRESS

from .common import entry_data, move_time, report, send, setup_entry, state

if TYPE_CHECKING:
    from unittest.mock import MagicMock

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .common import MockConfigEntry


def suggested_values(result: Any) -> dict[str, Any]:
    """The value each form field shows, by field name."""
    return {
        str(key): (key.description or {}).get("suggested_value")
        for key in result["data_schema"].schema
    }


async def test_direct_entry_offers_only_the_stale_timeout(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert suggested_values(result) == {CONF_STALE_TIMEOUT: 60}


async def test_stale_timeout_is_saved_and_the_entry_reloads(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_entry(hass)
    coordinator = entry.runtime_data

    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_STALE_TIMEOUT: 120}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_STALE_TIMEOUT: 120}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not coordinator  # reloaded
    await send(hass, report())
    await move_time(hass, freezer, 100)
    assert state(hass, "gps_satellites").state == "17"
    await move_time(hass, freezer, 21)
    assert state(hass, "gps_satellites").state == STATE_UNAVAILABLE


async def test_options_form_shows_the_saved_stale_timeout(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass, options={CONF_STALE_TIMEOUT: 45})

    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert suggested_values(result) == {CONF_STALE_TIMEOUT: 45}


@pytest.mark.parametrize("stale_timeout", [5, 601])
async def test_stale_timeout_outside_10_to_600_seconds_is_refused(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, stale_timeout: int
) -> None:
    entry = await setup_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    with pytest.raises(InvalidData, match="stale_timeout"):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_STALE_TIMEOUT: stale_timeout}
        )

    assert entry.options == {}


async def _gateway_entry(hass: HomeAssistant) -> MockConfigEntry:
    return await setup_entry(hass, data=entry_data(gateway=True))


async def test_gateway_entry_also_offers_the_port_and_the_bind_address(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    entry = await _gateway_entry(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["type"] is FlowResultType.FORM
    assert suggested_values(result) == {
        CONF_STALE_TIMEOUT: 60,
        CONF_GATEWAY_PORT: 1885,  # the port the charger was told
        CONF_GATEWAY_BIND_ADDRESS: DEFAULT_BIND_ADDRESS,
    }


async def test_gateway_options_are_saved_and_the_gateway_reopens_on_the_new_port(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    entry = await _gateway_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)

    with patch(
        "homeassistant.components.network.async_get_enabled_source_ips",
        return_value=[IPv4Address("192.168.1.10")],
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                CONF_STALE_TIMEOUT: 90,
                CONF_GATEWAY_PORT: 1999,
                CONF_GATEWAY_BIND_ADDRESS: " 192.168.1.10 ",
            },
        )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_STALE_TIMEOUT: 90,
        CONF_GATEWAY_PORT: 1999,
        CONF_GATEWAY_BIND_ADDRESS: "192.168.1.10",
    }
    assert entry.state is ConfigEntryState.LOADED
    mock_gateway.release.assert_awaited_once()  # the old setup let go
    assert mock_gateway.await_count == 2
    assert mock_gateway.await_args is not None
    assert mock_gateway.await_args.kwargs == {
        "port": 1999,
        "bind_address": "192.168.1.10",
    }


@pytest.mark.parametrize(
    "bind_address",
    ["localhost", "192.168.1", "", "::g", "0.0.0.0:1885", "8.8.8.8"],
)
async def test_invalid_bind_address_is_refused(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mock_gateway: MagicMock,
    bind_address: str,
) -> None:
    entry = await _gateway_entry(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    user_input = {
        CONF_STALE_TIMEOUT: 60,
        CONF_GATEWAY_PORT: 1886,
        CONF_GATEWAY_BIND_ADDRESS: bind_address,
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_GATEWAY_BIND_ADDRESS: "invalid_bind_address"}
    assert suggested_values(result) == user_input  # what the user typed stays
    assert entry.options == {}
    assert mock_gateway.await_count == 1  # no reload

    # Corrected, it is saved.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**user_input, CONF_GATEWAY_BIND_ADDRESS: "::"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_GATEWAY_BIND_ADDRESS] == "::"
