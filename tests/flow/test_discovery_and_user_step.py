"""How a setup starts: Bluetooth discovery, or the user's menu and a charger picked."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import (
    SOURCE_BLUETOOTH,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.const import DOMAIN

from ..common import state, warnings_or_errors
from ..flow_helpers import (
    ADDRESS,
    ADVERTISED_NAME,
    OTHER_ADDRESS,
    OTHER_SERIAL_NUMBER,
    PASSWORD,
    PROVISIONING_ACTIONS,
    SERIAL_NUMBER,
    SSID,
    charger_service_info,
    select_options,
)
from . import LOOPBACK, SetupDialog, configured_entry, rendered

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from tests.mosquitto import Mosquitto


# --- Bluetooth discovery -------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_bluetooth_discovery_shows_the_settings_form(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    result = await dialog.start()

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {}
    flow = hass.config_entries.flow.async_get(dialog.flow_id)
    assert flow["context"]["title_placeholders"] == {"name": "Novabot charger"}
    assert flow["context"]["unique_id"] == ADDRESS


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_discovered_charger_is_provisioned_and_its_entry_created(
    hass: HomeAssistant, open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    result = await discovered.provision(open_broker.port)
    assert result["progress_action"] == "claim"  # the session is done
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "port": str(open_broker.port),
        "seconds": "120",
    }
    result = await discovered.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Novabot charger {SERIAL_NUMBER}"
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        # Not asked to pair its radio: the pairing it keeps is not known yet.
        "charger_address": None,
        "charger_channel": None,
        "mqtt_host": LOOPBACK,
        "mqtt_port": open_broker.port,
        "gateway": False,
        "address": ADDRESS,
    }
    assert result["options"] == {}
    assert result["result"].unique_id == SERIAL_NUMBER
    # The charger was told the broker itself (direct mode) and committed; its
    # radio pairing was left alone.
    assert discovered.radio.charger.commands == PROVISIONING_ACTIONS[1:]
    assert discovered.radio.charger.committed == {
        "set_wifi_info": {
            "sta": {"ssid": SSID, "passwd": PASSWORD, "encrypt": 0},
            "ap": {"ssid": SERIAL_NUMBER, "passwd": "12345678", "encrypt": 0},
        },
        "set_rtk_info": 0,
        "set_mqtt_info": {"addr": LOOPBACK, "port": open_broker.port},
        "set_cfg_info": 1,
    }
    # The report the claim window heard seeds the entities: no wait for the next.
    assert {
        key: state(hass, key).state
        for key in ("gps_satellites", "mower_battery", "gps_fix", "rtk_fix")
    } == {
        "gps_satellites": "17",
        "mower_battery": "100",
        "gps_fix": "on",
        "rtk_fix": "on",
    }


async def nothing(dialog: SetupDialog) -> None:
    """Nothing happened before."""


async def charger_configured(dialog: SetupDialog) -> None:
    """The charger is set up already."""
    configured_entry(dialog.hass)


async def charger_discovered(dialog: SetupDialog) -> None:
    """Its advertisement opened a dialog already."""
    other = SetupDialog(dialog.hass, dialog.watcher, dialog.radio)
    assert (await other.start())["type"] is FlowResultType.FORM


@pytest.mark.parametrize(
    ("before", "name", "reason"),
    [
        # Mowers advertise the chargers' company id, under another name.
        pytest.param(nothing, "NOVABOT", "not_a_charger", id="mower"),
        pytest.param(
            charger_configured, ADVERTISED_NAME, "already_configured", id="configured"
        ),
        pytest.param(
            charger_discovered, ADVERTISED_NAME, "already_in_progress", id="twice"
        ),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_discovery_of_nothing_new_to_set_up_aborts(
    dialog: SetupDialog,
    *,
    before: Callable[[SetupDialog], Awaitable[None]],
    name: str,
    reason: str,
) -> None:
    await before(dialog)

    result = await dialog.start(name=name)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


@pytest.mark.usefixtures("mqtt_mock")
async def test_settings_of_a_charger_set_up_without_bluetooth_abort_already_configured(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    """Adopted from the broker, no Bluetooth address is known for it."""
    configured_entry(hass, address=None)
    await dialog.start()
    await dialog.choose("settings")  # "a new charger", says the user

    result = await dialog.enter_settings(1883)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dialog.radio.connect_calls == []


# --- A charger already set up is not offered again -----------------------------------


async def adopted_and_loaded(hass: HomeAssistant) -> MockConfigEntry:
    """A charger added from the broker (no Bluetooth address), set up."""
    entry = configured_entry(hass, address=None)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_discovery_of_an_address_an_entry_holds_aborts_before_any_card(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    """Even beside a charger added from the broker, which would be asked about."""
    configured_entry(hass, address=ADDRESS)
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=None)

    result = await dialog.start()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


@pytest.mark.usefixtures("mqtt_mock")
async def test_an_adopted_charger_heard_over_bluetooth_is_remembered_once(
    hass: HomeAssistant, dialog: SetupDialog, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await adopted_and_loaded(hass)
    other = configured_entry(hass, OTHER_SERIAL_NUMBER, address=None)
    coordinator = entry.runtime_data

    # Power-cycled, the charger is in provisioning mode: it is heard again.
    result = await dialog.start()

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "identify"
    assert result["menu_options"] == ["settings", "remember"]
    assert result["description_placeholders"] == {
        "serial_numbers": f"{SERIAL_NUMBER}, {OTHER_SERIAL_NUMBER}"
    }
    assert SERIAL_NUMBER in rendered(result)
    result = await dialog.choose("remember")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "remember"
    assert select_options(result["data_schema"], "serial_number") == [
        {"value": SERIAL_NUMBER, "label": SERIAL_NUMBER},
        {"value": OTHER_SERIAL_NUMBER, "label": OTHER_SERIAL_NUMBER},
    ]

    result = await dialog.submit({"serial_number": SERIAL_NUMBER})
    await dialog.settle()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "address_remembered"
    assert entry.data["address"] == ADDRESS
    assert "address" not in other.data
    assert dialog.radio.connect_calls == []  # nothing was sent to the charger
    # Reloaded: its device now has its Bluetooth connection.
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not coordinator
    assert warnings_or_errors(caplog) == []

    # Power-cycled once more: nothing to ask, nothing to show.
    result = await dialog.start()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_new_charger_heard_beside_an_adopted_one_is_set_up_from_the_settings(
    hass: HomeAssistant, open_broker: Mosquitto, dialog: SetupDialog
) -> None:
    adopted = configured_entry(hass, OTHER_SERIAL_NUMBER, address=None)
    await dialog.start()

    result = await dialog.choose("settings")

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {}
    await dialog.provision(open_broker.port)
    result = await dialog.report()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["address"] == ADDRESS
    assert "address" not in adopted.data


@pytest.mark.parametrize("source", [SOURCE_USER, SOURCE_BLUETOOTH])
async def test_flow_without_mqtt_aborts_mqtt_not_configured(
    dialog: SetupDialog, source: str
) -> None:
    result = await dialog.start(source)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# --- The user's menu: a charger heard over Bluetooth ---------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_user_step_offers_bluetooth_or_the_broker_when_a_charger_is_heard(
    dialog: SetupDialog,
) -> None:
    result = await dialog.start(SOURCE_USER)

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["pick_charger", "find_reporting"]
    await dialog.close()


@pytest.mark.usefixtures("mqtt_mock")
async def test_picking_a_charger_lists_those_heard_that_are_not_configured(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    configured_entry(hass, OTHER_SERIAL_NUMBER, address="22:22:22:22:22:22")
    dialog.radio.hear(
        # Known by its manufacturer data only, with no name.
        charger_service_info(OTHER_ADDRESS, name=""),
        # Known by its name only.
        charger_service_info(
            "33:33:33:33:33:33", name="charger_pile", manufacturer_data={}
        ),
        # Already configured.
        charger_service_info("22:22:22:22:22:22"),
        # Not a charger.
        charger_service_info(
            "44:44:44:44:44:44", name="Thermometer", manufacturer_data={76: b"\x02"}
        ),
        # A mower: the same company id, another name.
        charger_service_info("55:55:55:55:55:55", name="NOVABOT"),
    )
    await dialog.start(SOURCE_USER)

    result = await dialog.choose("pick_charger")

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_charger"
    assert select_options(result["data_schema"], "address") == [
        {"value": ADDRESS, "label": f"CHARGER_PILE ({ADDRESS})"},
        {"value": OTHER_ADDRESS, "label": f"Charger ({OTHER_ADDRESS})"},
        {"value": "33:33:33:33:33:33", "label": "charger_pile (33:33:33:33:33:33)"},
    ]

    result = await dialog.submit({"address": OTHER_ADDRESS})

    assert result["step_id"] == "settings"
    flow = hass.config_entries.flow.async_get(dialog.flow_id)
    assert flow["context"]["unique_id"] == OTHER_ADDRESS


@pytest.mark.usefixtures("mqtt_mock")
async def test_charger_picked_in_the_user_step_is_provisioned_and_added(
    open_broker: Mosquitto, dialog: SetupDialog
) -> None:
    await dialog.start(SOURCE_USER)
    await dialog.choose("pick_charger")
    await dialog.submit({"address": ADDRESS})

    await dialog.provision(open_broker.port)
    result = await dialog.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"]["address"] == ADDRESS
    assert dialog.radio.charger.committed is not None
