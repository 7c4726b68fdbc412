"""Options: the stale timeout, and the gateway's port and bind address."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import network
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

from ..common import entry_data, move_time, report, send, setup_entry, state
from ..flow_helpers import suggested_values

if TYPE_CHECKING:
    from unittest.mock import MagicMock

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.config_entries import ConfigFlowResult
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.fixture
async def gateway_entry(
    hass: HomeAssistant, mock_gateway: MagicMock
) -> MockConfigEntry:
    """A charger in gateway mode, set up (the gateway is a stand-in)."""
    return await setup_entry(hass, data=entry_data(gateway=True))


async def open_options(hass: HomeAssistant, entry: MockConfigEntry) -> ConfigFlowResult:
    """The user opens the entry's options."""
    return await hass.config_entries.options.async_init(entry.entry_id)


async def save_options(
    hass: HomeAssistant, entry: MockConfigEntry, user_input: dict[str, Any]
) -> ConfigFlowResult:
    """The user opens the options, submits ``user_input``; the entry may reload."""
    result = await open_options(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    await hass.async_block_till_done()
    return result


@pytest.mark.parametrize(("saved", "shown"), [({}, 60), ({CONF_STALE_TIMEOUT: 45}, 45)])
async def test_a_direct_charger_has_only_the_stale_timeout(
    hass: HomeAssistant, saved: dict[str, Any], shown: int
) -> None:
    entry = await setup_entry(hass, options=saved)

    result = await open_options(hass, entry)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert suggested_values(result["data_schema"]) == {CONF_STALE_TIMEOUT: shown}


async def test_stale_timeout_is_saved_and_the_entry_reloads(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_entry(hass)
    coordinator = entry.runtime_data

    result = await save_options(hass, entry, {CONF_STALE_TIMEOUT: 120})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_STALE_TIMEOUT: 120}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not coordinator  # reloaded
    await send(hass, report())
    await move_time(hass, freezer, 100)
    assert state(hass, "gps_satellites").state == "17"
    await move_time(hass, freezer, 21)
    assert state(hass, "gps_satellites").state == STATE_UNAVAILABLE


@pytest.mark.parametrize("stale_timeout", [5, 601])
async def test_stale_timeout_outside_10_to_600_seconds_is_refused(
    hass: HomeAssistant, stale_timeout: int
) -> None:
    entry = await setup_entry(hass)

    with pytest.raises(InvalidData, match="stale_timeout"):
        await save_options(hass, entry, {CONF_STALE_TIMEOUT: stale_timeout})

    assert entry.options == {}


async def test_a_gateway_charger_also_has_the_port_and_the_bind_address(
    hass: HomeAssistant, gateway_entry: MockConfigEntry
) -> None:
    result = await open_options(hass, gateway_entry)

    assert result["type"] is FlowResultType.FORM
    assert suggested_values(result["data_schema"]) == {
        CONF_STALE_TIMEOUT: 60,
        CONF_GATEWAY_PORT: 1885,  # the port the charger was told
        CONF_GATEWAY_BIND_ADDRESS: DEFAULT_BIND_ADDRESS,
    }


async def test_gateway_options_are_saved_and_the_gateway_reopens_on_the_new_port(
    hass: HomeAssistant, gateway_entry: MockConfigEntry, mock_gateway: MagicMock
) -> None:
    with patch.object(
        network,
        "async_get_enabled_source_ips",
        return_value=[IPv4Address("192.168.1.10")],
    ):
        result = await save_options(
            hass,
            gateway_entry,
            {
                CONF_STALE_TIMEOUT: 90,
                CONF_GATEWAY_PORT: 1999,
                CONF_GATEWAY_BIND_ADDRESS: " 192.168.1.10 ",
            },
        )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert gateway_entry.options == {
        CONF_STALE_TIMEOUT: 90,
        CONF_GATEWAY_PORT: 1999,
        CONF_GATEWAY_BIND_ADDRESS: "192.168.1.10",
    }
    assert gateway_entry.state is ConfigEntryState.LOADED
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
    gateway_entry: MockConfigEntry,
    mock_gateway: MagicMock,
    bind_address: str,
) -> None:
    user_input = {
        CONF_STALE_TIMEOUT: 60,
        CONF_GATEWAY_PORT: 1886,
        CONF_GATEWAY_BIND_ADDRESS: bind_address,
    }

    result = await save_options(hass, gateway_entry, user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_GATEWAY_BIND_ADDRESS: "invalid_bind_address"}
    assert suggested_values(result["data_schema"]) == user_input  # what was typed
    assert gateway_entry.options == {}
    assert mock_gateway.await_count == 1  # no reload

    # Corrected, it is saved.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**user_input, CONF_GATEWAY_BIND_ADDRESS: "::"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert gateway_entry.options[CONF_GATEWAY_BIND_ADDRESS] == "::"
