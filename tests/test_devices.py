"""Two devices: the charger, and the mower it relays, which appears once heard.

The mower's device is reached through the charger's. Its entities are added
when the charger first relays a mower that answers, at once after a restart
once its device exists, and again after its device was removed, when it is
heard again. Unique ids stay ``<SN>_<key>`` whichever device holds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest

from custom_components.novabot.const import CONF_ADDRESS, DOMAIN

from .common import (
    ADDRESS,
    CHARGER_KEYS,
    ENTITIES,
    MOWER_CONTROLS,
    MOWER_DEVICE_KEYS,
    NO_MOWER,
    OTHER_SERIAL,
    RADIO_ENTITIES,
    SERIAL,
    device,
    entity_id,
    entry_data,
    report,
    send,
    setup_entry,
    states,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import (
        WebSocketGenerator,
    )

    from .mqtt_charger import ChargerFactory

pytestmark = pytest.mark.usefixtures("mqtt_mock")

CHARGER_NAME = f"Novabot charger {SERIAL}"
MOWER_IDENTIFIER = (DOMAIN, f"{SERIAL}_mower")


def entity_keys(hass: HomeAssistant, entry: MockConfigEntry) -> set[str]:
    """The keys of the entry's entities in the registry (``<SN>_<key>``)."""
    registry = er.async_get(hass)
    return {
        registered.unique_id.removeprefix(f"{SERIAL}_")
        for registered in er.async_entries_for_config_entry(registry, entry.entry_id)
    }


def mower_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry | None:
    """The mower's device, if it is registered."""
    return dr.async_get(hass).async_get_device_by_identifier(
        MOWER_IDENTIFIER, entry.entry_id
    )


async def remove_device(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, device_id: str
) -> dict[str, Any]:
    """Remove a device as the frontend does; the websocket's answer."""
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "config/device_registry/remove", "device_id": device_id}
    )
    answer: dict[str, Any] = await client.receive_json()
    await hass.async_block_till_done()
    return answer


# --- The devices ----------------------------------------------------------------------


async def test_the_mower_is_a_device_reached_through_its_charger(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())

    charger, mower = device(hass), device(hass, mower=True)

    assert charger.identifiers == {(DOMAIN, SERIAL)}
    assert charger.manufacturer == "Novabot"
    assert charger.model == "Charging station"
    assert charger.name == CHARGER_NAME
    assert charger.serial_number == SERIAL
    assert charger.connections == set()
    assert charger.sw_version is None
    assert charger.via_device_id is None
    assert mower.identifiers == {MOWER_IDENTIFIER}
    assert mower.manufacturer == "Novabot"
    assert mower.model == f"Mower of charger {SERIAL}"
    assert mower.name == "Novabot mower"
    assert mower.via_device_id == charger.id
    assert {
        found.id
        for found in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    } == {charger.id, mower.id}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_the_mower_s_entities_are_on_its_device_the_others_on_the_charger_s(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    charger, mower = device(hass), device(hass, mower=True)

    on_device = {
        registered.unique_id: registered.device_id
        for registered in er.async_entries_for_config_entry(
            entity_registry, entry.entry_id
        )
    }

    keys = (*ENTITIES, *RADIO_ENTITIES, *MOWER_CONTROLS)
    assert on_device == {
        f"{SERIAL}_{key}": mower.id if key in MOWER_DEVICE_KEYS else charger.id
        for key in keys
    }


async def test_the_lawn_mower_is_named_by_its_device(hass: HomeAssistant) -> None:
    await setup_entry(hass)
    await send(hass, report())

    assert entity_id(hass, "mower") == "lawn_mower.novabot_mower"
    assert entity_id(hass, "mower_battery") == "sensor.novabot_mower_battery"


async def test_the_charger_s_device_has_the_bluetooth_connection_when_known(
    hass: HomeAssistant,
) -> None:
    await setup_entry(hass, data=entry_data(**{CONF_ADDRESS: ADDRESS}))

    assert device(hass).connections == {(dr.CONNECTION_BLUETOOTH, ADDRESS)}
    assert device(hass).identifiers == {(DOMAIN, SERIAL)}


async def test_two_chargers_have_a_device_each_and_a_mower_each(
    hass: HomeAssistant, mqtt_charger_factory: ChargerFactory
) -> None:
    other = await mqtt_charger_factory(OTHER_SERIAL)  # answers its firmware query
    await setup_entry(hass)
    await setup_entry(hass, OTHER_SERIAL)

    await send(hass, report())
    await other.async_report()

    assert device(hass).serial_number == SERIAL
    assert device(hass, OTHER_SERIAL).serial_number == OTHER_SERIAL
    assert device(hass).sw_version is None
    assert device(hass, OTHER_SERIAL).sw_version == "v0.3.6"
    assert device(hass, mower=True).via_device_id == device(hass).id
    assert (
        device(hass, OTHER_SERIAL, mower=True).via_device_id
        == device(hass, OTHER_SERIAL).id
    )


# --- When the mower's entities are there ----------------------------------------------


@pytest.mark.parametrize(
    "silent_mower",
    [
        pytest.param(NO_MOWER, id="no-mower"),
        pytest.param({"mower_status": 0, "mower_info": 0}, id="empty-frame"),
        pytest.param({"mower_error": 2}, id="not-answering"),
    ],
)
async def test_the_mower_s_entities_appear_once_a_mower_is_heard(
    hass: HomeAssistant, silent_mower: dict[str, int]
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report(**silent_mower))
    assert entity_keys(hass, entry) == {*CHARGER_KEYS, *RADIO_ENTITIES}
    assert mower_device(hass, entry) is None

    await send(hass, report())

    assert entity_keys(hass, entry) == {
        *ENTITIES,
        *RADIO_ENTITIES,
        *MOWER_CONTROLS,
    }
    assert states(hass, ("mower", "mower_activity", "mower_battery")) == {
        "mower": "docked",
        "mower_activity": "idle",
        "mower_battery": "100",
    }


async def test_the_mower_s_entities_are_there_at_once_after_a_restart(
    hass: HomeAssistant,
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    # No report since: the mower is there, unavailable.
    assert states(hass, ("mower", "stop", "mower_events")) == dict.fromkeys(
        ("mower", "stop", "mower_events"), STATE_UNAVAILABLE
    )
    await send(hass, report())
    assert states(hass, ("mower",)) == {"mower": "docked"}


async def test_the_mower_s_device_can_be_removed_and_comes_back_when_heard(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    mower = device(hass, mower=True)

    answer = await remove_device(hass, hass_ws_client, mower.id)

    assert answer["success"], answer
    assert mower_device(hass, entry) is None
    assert entity_keys(hass, entry) == {*CHARGER_KEYS, *RADIO_ENTITIES}
    assert hass.states.get("lawn_mower.novabot_mower") is None

    await send(hass, report())  # the same report as before: the mower is there

    assert mower_device(hass, entry) is not None
    assert states(hass, ("mower",)) == {"mower": "docked"}


async def test_a_removed_mower_stays_away_while_it_is_not_heard(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    await remove_device(hass, hass_ws_client, device(hass, mower=True).id)

    await send(hass, report(**NO_MOWER))
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await send(hass, report(**NO_MOWER))

    assert mower_device(hass, entry) is None
    assert entity_keys(hass, entry) == {*CHARGER_KEYS, *RADIO_ENTITIES}


async def test_the_mower_s_device_of_an_unloaded_entry_can_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    assert await hass.config_entries.async_unload(entry.entry_id)

    answer = await remove_device(hass, hass_ws_client, device(hass, mower=True).id)

    assert answer["success"], answer
    assert mower_device(hass, entry) is None


async def test_the_charger_s_device_cannot_be_removed(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """It goes with its entry."""
    entry = await setup_entry(hass)
    await send(hass, report())

    answer = await remove_device(hass, hass_ws_client, device(hass).id)

    assert not answer["success"]
    assert device(hass) is not None
    assert entity_keys(hass, entry) >= set(CHARGER_KEYS)
    assert states(hass, ("gps_satellites",)) == {"gps_satellites": "17"}
