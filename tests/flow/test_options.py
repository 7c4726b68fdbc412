"""Options: the stale timeout, the mower's start, and the gateway shared by chargers.

Options apply at once, without reloading any entry: a reload would drop the
chargers connected to the gateway. The gateway's port and listening address
are one setting for every charger that goes through it.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock, patch

from homeassistant.components import mqtt, network
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.data_entry_flow import FlowResultType, InvalidData
import pytest

from custom_components.novabot.const import (
    CONF_CUTTING_HEIGHT,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MOWING_AREA,
    CONF_STALE_TIMEOUT,
)
from custom_components.novabot.gateway import DEFAULT_BIND_ADDRESS

from ..common import (
    OTHER_SERIAL,
    entry_data,
    move_time,
    report,
    send,
    setup_entry,
    state,
)
from ..flow_helpers import (
    THIRD_SERIAL_NUMBER,
    form_section,
    sections,
    select_options,
    suggested_values,
)
from . import INTEGRATION, STRINGS

if TYPE_CHECKING:
    from collections.abc import Iterator
    from unittest.mock import MagicMock

    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.config_entries import ConfigFlowResult
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

pytestmark = pytest.mark.usefixtures("mqtt_mock")

MOWING_DEFAULTS = {CONF_MOWING_AREA: ["all_maps"], CONF_CUTTING_HEIGHT: 5}
HOME_ADDRESS = "192.168.1.10"  # one of this Home Assistant's own addresses


@pytest.fixture
def host_addresses() -> Iterator[None]:
    """This Home Assistant has the LAN address ``HOME_ADDRESS``."""
    with patch.object(
        network,
        "async_get_enabled_source_ips",
        return_value=[IPv4Address(HOME_ADDRESS)],
    ):
        yield


@pytest.fixture
def apply_gateway_settings() -> Iterator[AsyncMock]:
    """Moving the running gateway to the shared settings, watched."""
    with patch(f"{INTEGRATION}.async_apply_gateway_settings") as watched:
        yield watched


@pytest.fixture
def subscriptions() -> Iterator[MagicMock]:
    """Subscriptions to Home Assistant's MQTT, counted (entries subscribe at setup)."""
    with patch.object(mqtt, "async_subscribe", wraps=mqtt.async_subscribe) as counted:
        yield counted


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
    """The user opens the options and submits ``user_input``."""
    result = await open_options(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    await hass.async_block_till_done()
    return result


def options_input(
    stale_timeout: int = 60,
    *,
    gateway: dict[str, Any] | None = None,
    **mowing: Any,
) -> dict[str, Any]:
    """What the options form sends: its fields, and one object per section."""
    user_input: dict[str, Any] = {
        CONF_STALE_TIMEOUT: stale_timeout,
        "mowing": {**MOWING_DEFAULTS, **mowing},
    }
    if gateway is not None:
        user_input["gateway"] = gateway
    return user_input


def gateway_section(port: int, bind_address: str) -> dict[str, Any]:
    """The gateway section filled in."""
    return {CONF_GATEWAY_PORT: port, CONF_GATEWAY_BIND_ADDRESS: bind_address}


# --- What the form shows -----------------------------------------------------------


@pytest.mark.parametrize(("saved", "shown"), [({}, 60), ({CONF_STALE_TIMEOUT: 45}, 45)])
async def test_a_direct_charger_has_no_gateway_section(
    hass: HomeAssistant, saved: dict[str, Any], shown: int
) -> None:
    entry = await setup_entry(hass, options=saved)

    result = await open_options(hass, entry)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert sections(result["data_schema"]) == ["mowing"]
    assert suggested_values(result["data_schema"]) == {
        CONF_STALE_TIMEOUT: shown,
        "mowing": MOWING_DEFAULTS,
    }


async def test_the_mowing_area_is_a_multiple_choice_of_the_maps(
    hass: HomeAssistant,
) -> None:
    entry = await setup_entry(hass)

    result = await open_options(hass, entry)

    mowing = form_section(result["data_schema"], "mowing")
    area = next(
        selector
        for key, selector in mowing.schema.schema.items()
        if key == CONF_MOWING_AREA
    )
    assert area.config["multiple"] is True
    assert area.config["translation_key"] == CONF_MOWING_AREA
    assert select_options(mowing.schema, CONF_MOWING_AREA) == [
        "map_1",
        "map_2",
        "map_3",
        "all_maps",
    ]
    # Every map has its name in the texts.
    assert set(STRINGS["selector"][CONF_MOWING_AREA]["options"]) == {
        "map_1",
        "map_2",
        "map_3",
        "all_maps",
    }


async def test_a_gateway_charger_shows_the_gateway_settings_every_charger_shares(
    hass: HomeAssistant, mock_gateway: MagicMock
) -> None:
    # The oldest gateway-mode charger holds the shared settings.
    await setup_entry(
        hass,
        OTHER_SERIAL,
        data=entry_data(OTHER_SERIAL, gateway=True),
        options=gateway_section(1999, "127.0.0.1"),
    )
    entry = await setup_entry(hass, data=entry_data(gateway=True))

    result = await open_options(hass, entry)

    assert sections(result["data_schema"]) == ["mowing", "gateway"]
    assert suggested_values(result["data_schema"]) == {
        CONF_STALE_TIMEOUT: 60,
        "mowing": MOWING_DEFAULTS,
        "gateway": gateway_section(1999, "127.0.0.1"),
    }


async def test_without_gateway_settings_saved_the_form_shows_the_defaults(
    hass: HomeAssistant, gateway_entry: MockConfigEntry
) -> None:
    result = await open_options(hass, gateway_entry)

    assert suggested_values(result["data_schema"])["gateway"] == gateway_section(
        1885, DEFAULT_BIND_ADDRESS
    )


# --- What saving does ------------------------------------------------------------


async def test_the_stale_timeout_applies_without_a_reload(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, subscriptions: MagicMock
) -> None:
    entry = await setup_entry(hass)
    coordinator = entry.runtime_data
    subscribed = subscriptions.call_count

    result = await save_options(hass, entry, options_input(120))

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_STALE_TIMEOUT: 120, **MOWING_DEFAULTS}
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is coordinator  # not reloaded
    assert subscriptions.call_count == subscribed  # still listening, as before
    await send(hass, report())
    await move_time(hass, freezer, 100)
    assert state(hass, "gps_satellites").state == "17"
    await move_time(hass, freezer, 21)
    assert state(hass, "gps_satellites").state == STATE_UNAVAILABLE


async def test_the_mowing_defaults_are_saved(hass: HomeAssistant) -> None:
    entry = await setup_entry(hass)

    result = await save_options(
        hass,
        entry,
        options_input(mowing_area=["map_1", "map_3"], cutting_height=7),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_STALE_TIMEOUT: 60,
        CONF_MOWING_AREA: ["map_1", "map_3"],
        CONF_CUTTING_HEIGHT: 7,
    }
    # Shown as saved the next time.
    result = await open_options(hass, entry)
    assert suggested_values(result["data_schema"])["mowing"] == {
        CONF_MOWING_AREA: ["map_1", "map_3"],
        CONF_CUTTING_HEIGHT: 7,
    }
    hass.config_entries.options.async_abort(result["flow_id"])


async def test_no_mowing_area_is_refused_under_the_mowing_section(
    hass: HomeAssistant,
) -> None:
    entry = await setup_entry(hass)

    result = await save_options(hass, entry, options_input(mowing_area=[]))

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"mowing": "no_mowing_area"}
    assert "no_mowing_area" in STRINGS["options"]["error"]
    assert entry.options == {}


@pytest.mark.parametrize(
    "user_input",
    [
        pytest.param(options_input(5), id="stale-timeout-5"),
        pytest.param(options_input(601), id="stale-timeout-601"),
        pytest.param(options_input(cutting_height=1), id="cutting-height-1"),
        pytest.param(options_input(cutting_height=10), id="cutting-height-10"),
        pytest.param(options_input(mowing_area=["map_4"]), id="no-such-map"),
    ],
)
async def test_values_outside_the_forms_bounds_are_refused(
    hass: HomeAssistant, user_input: dict[str, Any]
) -> None:
    entry = await setup_entry(hass)

    with pytest.raises(InvalidData):
        await save_options(hass, entry, user_input)

    assert entry.options == {}


@pytest.mark.usefixtures("host_addresses")
async def test_gateway_settings_are_saved_in_every_gateway_charger_without_a_reload(
    hass: HomeAssistant,
    mock_gateway: MagicMock,
    apply_gateway_settings: AsyncMock,
    subscriptions: MagicMock,
) -> None:
    first = await setup_entry(hass, data=entry_data(gateway=True))
    second = await setup_entry(
        hass,
        OTHER_SERIAL,
        data=entry_data(OTHER_SERIAL, gateway=True),
        options={CONF_STALE_TIMEOUT: 45},
    )
    direct = await setup_entry(hass, THIRD_SERIAL_NUMBER)
    coordinators = [entry.runtime_data for entry in (first, second, direct)]
    leases, subscribed = mock_gateway.await_count, subscriptions.call_count

    result = await save_options(
        hass,
        second,
        options_input(90, gateway=gateway_section(1999, f" {HOME_ADDRESS} ")),
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert second.options == {
        CONF_STALE_TIMEOUT: 90,
        **MOWING_DEFAULTS,
        **gateway_section(1999, HOME_ADDRESS),
    }
    # The other gateway-mode charger shares them, and keeps its own options.
    assert first.options == gateway_section(1999, HOME_ADDRESS)
    assert direct.options == {}
    # Applied at once: nothing reloaded, no lease taken or given back, no
    # subscription made again; the running gateway moves to the new address.
    assert [entry.runtime_data for entry in (first, second, direct)] == coordinators
    assert all(
        entry.state is ConfigEntryState.LOADED for entry in (first, second, direct)
    )
    assert mock_gateway.await_count == leases
    mock_gateway.release.assert_not_awaited()
    assert subscriptions.call_count == subscribed
    apply_gateway_settings.assert_awaited_with(hass)


@pytest.mark.parametrize(
    "bind_address",
    ["localhost", "192.168.1", "", "::g", "0.0.0.0:1885", "8.8.8.8"],
)
@pytest.mark.usefixtures("host_addresses")
async def test_an_address_the_gateway_cannot_listen_on_is_refused_under_its_section(
    hass: HomeAssistant,
    gateway_entry: MockConfigEntry,
    mock_gateway: MagicMock,
    bind_address: str,
) -> None:
    user_input = options_input(gateway=gateway_section(1886, bind_address))

    result = await save_options(hass, gateway_entry, user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"gateway": "invalid_bind_address"}
    assert "invalid_bind_address" in STRINGS["options"]["error"]
    assert suggested_values(result["data_schema"]) == user_input  # what was typed
    assert gateway_entry.options == {}

    # Corrected, it is saved.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input(gateway=gateway_section(1886, "::"))
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert gateway_entry.options[CONF_GATEWAY_BIND_ADDRESS] == "::"
    assert mock_gateway.await_count == 1  # never reloaded
