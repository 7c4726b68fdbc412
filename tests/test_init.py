"""Setting up, unloading and reloading a charger's entry; gateway mode; migration."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_PORT,
    CONF_STALE_TIMEOUT,
    DOMAIN,
)
from custom_components.novabot.gateway import (
    GatewayError,
    GatewayMqttUnavailableError,
)

from .common import (
    ENABLED_KEYS,
    ENTITIES,
    MOWER_CONTROLS,
    MOWER_DEVICE_KEYS,
    OTHER_SERIAL,
    RADIO_ENTITIES,
    SERIAL,
    STATUS_TOPIC,
    coordinator_timers,
    device,
    entry_data,
    firmware_reply,
    mock_entry,
    move_time,
    report,
    send,
    setup_entry,
    state,
    states,
)

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

WAIT_FOR_MQTT = "homeassistant.components.mqtt.async_wait_for_mqtt_client"
APPLY_GATEWAY_SETTINGS = "custom_components.novabot.async_apply_gateway_settings"


def subscriptions(mqtt_mock: MqttMockHAClient) -> list[tuple[str, str | None]]:
    """(topic, encoding) of every subscription made on Home Assistant's client."""
    return [
        (call.args[0], call.args[3])
        for call in mqtt_mock.async_subscribe.call_args_list
    ]


# --- Setup --------------------------------------------------------------------


async def test_setup_subscribes_to_the_charger_status_topic_as_bytes(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass)

    assert (STATUS_TOPIC, None) in subscriptions(mqtt_mock)


async def test_setup_waits_for_the_mqtt_client(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    mqtt_ready = asyncio.Event()
    asked = asyncio.Event()

    async def wait_for_mqtt_client(_hass: HomeAssistant) -> bool:
        asked.set()
        await mqtt_ready.wait()
        return True

    entry = mock_entry()
    entry.add_to_hass(hass)
    with patch(WAIT_FOR_MQTT, side_effect=wait_for_mqtt_client):
        setup = hass.async_create_task(hass.config_entries.async_setup(entry.entry_id))
        await asyncio.wait_for(asked.wait(), timeout=5)
        for _ in range(10):  # anything not waiting for MQTT would happen now
            await asyncio.sleep(0)
        assert entry.state is ConfigEntryState.SETUP_IN_PROGRESS
        assert (STATUS_TOPIC, None) not in subscriptions(mqtt_mock)

        mqtt_ready.set()
        assert await setup

    assert entry.state is ConfigEntryState.LOADED
    assert (STATUS_TOPIC, None) in subscriptions(mqtt_mock)


async def test_setup_is_retried_when_the_mqtt_client_is_not_available(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    with patch(WAIT_FOR_MQTT, return_value=False):
        entry = await setup_entry(hass, state=ConfigEntryState.SETUP_RETRY)

    assert (STATUS_TOPIC, None) not in subscriptions(mqtt_mock)
    assert entry.reason is not None
    assert "MQTT integration is not available" in entry.reason
    await hass.config_entries.async_unload(entry.entry_id)


async def test_setup_is_retried_without_an_mqtt_entry(hass: HomeAssistant) -> None:
    entry = await setup_entry(hass, state=ConfigEntryState.SETUP_RETRY)

    assert hass.states.async_entity_ids() == []
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


# --- Unload and reload --------------------------------------------------------


async def test_unload_unsubscribes_and_cancels_every_timer(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_entry(hass)
    coordinator = entry.runtime_data
    await send(hass, report())
    await move_time(hass, freezer, 70)  # stale: the repair timer is running
    assert coordinator_timers(hass, coordinator)
    accepted = coordinator.reports_accepted

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.NOT_LOADED
    assert coordinator_timers(hass, coordinator) == []
    caplog.clear()
    await send(hass, report(mower_error=8))
    await move_time(hass, freezer, 20 * 60, step=10)
    assert coordinator.reports_accepted == accepted
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None
    assert not [r for r in caplog.records if r.name == "custom_components.novabot"]
    # The registry keeps the entities; their states say the entry is gone.
    assert set(states(hass, ENABLED_KEYS).values()) == {STATE_UNAVAILABLE}


async def test_unload_right_after_setup_leaves_no_timer(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)
    coordinator = entry.runtime_data
    assert coordinator_timers(hass, coordinator)  # the stale timeout runs

    assert await hass.config_entries.async_unload(entry.entry_id)

    assert coordinator_timers(hass, coordinator) == []


async def test_reload_sets_the_entry_up_again(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    before = entry.runtime_data

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not before
    assert before.reports_accepted == 1
    assert state(hass, "gps_satellites").state == STATE_UNAVAILABLE
    await send(hass, report(charger_status=0x03000000))
    assert state(hass, "gps_satellites").state == "3"
    assert before.reports_accepted == 1  # the old coordinator hears nothing
    assert entry.runtime_data.reports_accepted == 1


async def test_two_chargers_side_by_side_stay_independent(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    first = await setup_entry(hass)
    second = await setup_entry(hass, OTHER_SERIAL)

    await send(hass, report(charger_status=0x05000000))
    await send(
        hass, report(charger_status=0x09000001, encrypt_for=OTHER_SERIAL), OTHER_SERIAL
    )
    assert state(hass, "gps_satellites").state == "5"
    assert state(hass, "gps_satellites", OTHER_SERIAL).state == "9"
    assert first.runtime_data.encrypted is False
    assert second.runtime_data.encrypted is True

    # The second keeps reporting, the first goes silent.
    for _ in range(4):
        await move_time(hass, freezer, 20)
        await send(hass, report(charger_status=0x09000001), OTHER_SERIAL)
    assert state(hass, "gps_satellites").state == STATE_UNAVAILABLE
    assert state(hass, "gps_satellites", OTHER_SERIAL).state == "9"

    # Unloading one leaves the other listening.
    assert await hass.config_entries.async_unload(first.entry_id)
    await send(hass, report(charger_status=0x0B000001), OTHER_SERIAL)
    assert state(hass, "gps_satellites", OTHER_SERIAL).state == "11"
    assert second.runtime_data.reports_ignored == {}


# --- Gateway mode -------------------------------------------------------------


async def test_direct_entry_does_not_use_the_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    await setup_entry(hass)

    mock_gateway.assert_not_called()


async def test_gateway_entry_uses_the_gateway_on_its_port_and_releases_it_on_unload(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    """The entry keeps its place at the gateway even while its port cannot open."""
    entry = await setup_entry(hass, data=entry_data(gateway=True))

    mock_gateway.assert_awaited_once_with(hass, SERIAL, 1885, keep=True)
    mock_gateway.release.assert_not_awaited()
    await send(hass, report())
    assert state(hass, "gps_satellites").state == "17"

    assert await hass.config_entries.async_unload(entry.entry_id)
    mock_gateway.release.assert_awaited_once()


async def test_gateway_entry_is_listened_for_on_the_port_its_charger_was_told(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    """Not the gateway port of the options: that one is for chargers set up later."""
    await setup_entry(
        hass,
        data=entry_data(gateway=True, **{CONF_MQTT_PORT: 1999}),
        options={CONF_GATEWAY_PORT: 1885, CONF_GATEWAY_BIND_ADDRESS: "127.0.0.1"},
    )

    mock_gateway.assert_awaited_once_with(hass, SERIAL, 1999, keep=True)


async def test_two_gateway_chargers_each_take_and_give_back_the_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    first = await setup_entry(hass, data=entry_data(gateway=True))
    second = await setup_entry(
        hass, OTHER_SERIAL, data=entry_data(OTHER_SERIAL, gateway=True)
    )

    assert [call.args[1] for call in mock_gateway.await_args_list] == [
        SERIAL,
        OTHER_SERIAL,
    ]
    assert await hass.config_entries.async_unload(first.entry_id)
    assert mock_gateway.release.await_count == 1
    assert await hass.config_entries.async_unload(second.entry_id)
    assert mock_gateway.release.await_count == 2


async def test_gateway_that_cannot_run_retries_setup_and_says_why(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    mock_gateway.side_effect = GatewayMqttUnavailableError()

    entry = await setup_entry(
        hass, data=entry_data(gateway=True), state=ConfigEntryState.SETUP_RETRY
    )

    assert entry.reason is not None
    assert "relays through Home Assistant's MQTT integration" in entry.reason
    assert (STATUS_TOPIC, None) not in subscriptions(mqtt_mock)
    await hass.config_entries.async_unload(entry.entry_id)


# --- Options apply without a reload ---------------------------------------------------


@pytest.mark.parametrize("gateway", [False, True], ids=["direct", "gateway"])
async def test_changed_options_apply_without_a_reload(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mock_gateway: MagicMock,
    gateway: bool,
) -> None:
    """A reload would drop the gateway's chargers; the gateway moves if it must."""
    entry = await setup_entry(hass, data=entry_data(gateway=gateway))
    coordinator = entry.runtime_data
    subscribed = mqtt_mock.async_subscribe.call_count

    with patch(APPLY_GATEWAY_SETTINGS) as apply_gateway_settings:
        hass.config_entries.async_update_entry(entry, options={CONF_STALE_TIMEOUT: 120})
        await hass.async_block_till_done()

    assert entry.runtime_data is coordinator
    assert coordinator.stale_after.total_seconds() == 120
    assert mqtt_mock.async_subscribe.call_count == subscribed
    assert mock_gateway.await_count == int(gateway)  # its lease kept, not renewed
    assert apply_gateway_settings.call_count == int(gateway)


async def test_a_gateway_that_cannot_move_stays_where_it_listens(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mock_gateway: MagicMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await setup_entry(hass, data=entry_data(gateway=True))

    with patch(
        APPLY_GATEWAY_SETTINGS, side_effect=GatewayError("address not available")
    ):
        hass.config_entries.async_update_entry(
            entry, options={CONF_GATEWAY_BIND_ADDRESS: "192.168.1.99"}
        )
        await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert "stays where it listens: address not available" in caplog.text


# --- Removal and reload keep things tidy -----------------------------------------


async def test_firmware_version_survives_a_reload(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    await send(hass, firmware_reply("v0.4.0"))

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    assert device(hass).sw_version == "v0.4.0"


async def test_an_entry_of_a_newer_release_is_not_set_up(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """A downgrade: this release cannot know what version 2 stores."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=SERIAL, data=entry_data(), version=2, minor_version=1
    )
    entry.add_to_hass(hass)

    await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.MIGRATION_ERROR


# --- Migration ------------------------------------------------------------------------

# The entities of an entry of version 1.2, with the entity ids the old code gave
# them (each named after the charger's device): key -> (platform, object id).
OLD_OBJECT_ID = f"novabot_charger_{SERIAL.lower()}"
ENTITIES_OF_1_2: dict[str, tuple[str, str]] = {
    "gps_satellites": ("sensor", "gps_satellites"),
    "lora_heartbeat_misses": ("sensor", "missed_mower_heartbeats"),
    "lora_noise": ("sensor", "lora_noise"),
    "lora_channel": ("sensor", "lora_channel"),
    "mower_status": ("sensor", "mower_status_code"),
    "mower_activity": ("sensor", "mower_activity"),
    "mower_battery": ("sensor", "mower_battery"),
    "mower_x": ("sensor", "mower_x"),
    "mower_y": ("sensor", "mower_y"),
    "mower_z": ("sensor", "mower_heading"),
    "mower_info": ("sensor", "mower_info"),
    "mower_info1": ("sensor", "mower_info_1"),
    "charger_status": ("sensor", "status_bits"),
    "gps_fix": ("binary_sensor", "gps_fix"),
    "rtk_fix": ("binary_sensor", "rtk_fix"),
    "mower_connected": ("binary_sensor", "mower"),
    "mower": ("lawn_mower", "mower"),
    "cutting_height": ("number", "cutting_height"),
    "mowing_area": ("select", "mowing_area"),
}
# Disabled by default in 1.2 (the raw values); the owner may have kept them so.
DISABLED_IN_1_2 = (
    "mower_x",
    "mower_y",
    "mower_z",
    "mower_info",
    "mower_info1",
    "charger_status",
)
RETIRED_IN_1_3 = ("cutting_height", "mowing_area")


def old_entity_id(key: str) -> str:
    platform, object_id = ENTITIES_OF_1_2[key]
    return f"{platform}.{OLD_OBJECT_ID}_{object_id}"


@pytest.fixture
def entry_of_1_2(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> MockConfigEntry:
    """An entry as release 1.2 left it: every entity on the charger's device."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Novabot charger {SERIAL}",
        unique_id=SERIAL,
        data=entry_data(),
        version=1,
        minor_version=2,
    )
    entry.add_to_hass(hass)
    charger = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, SERIAL)},
        manufacturer="Novabot",
        model="Charging station",
        name=entry.title,
        serial_number=SERIAL,
    )
    for key, (platform, object_id) in ENTITIES_OF_1_2.items():
        entity_registry.async_get_or_create(
            platform,
            DOMAIN,
            f"{SERIAL}_{key}",
            config_entry=entry,
            device_id=charger.id,
            suggested_object_id=f"{OLD_OBJECT_ID}_{object_id}",
            disabled_by=(
                er.RegistryEntryDisabler.INTEGRATION if key in DISABLED_IN_1_2 else None
            ),
        )
    return entry


async def test_the_mowing_settings_of_1_2_are_retired(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
    entry_of_1_2: MockConfigEntry,
) -> None:
    """They became the novabot.start_mowing action and the options."""
    assert entity_registry.async_get(old_entity_id("cutting_height")) is not None

    assert await hass.config_entries.async_setup(entry_of_1_2.entry_id)
    await hass.async_block_till_done()

    assert (entry_of_1_2.version, entry_of_1_2.minor_version) == (1, 3)
    for key in RETIRED_IN_1_3:
        assert entity_registry.async_get(old_entity_id(key)) is None
        assert hass.states.get(old_entity_id(key)) is None


async def test_the_mower_s_entities_of_1_2_move_to_its_device_with_their_ids(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
    entry_of_1_2: MockConfigEntry,
) -> None:
    """Automations keep working: lawn_mower.novabot_charger_..._mower stays."""
    assert await hass.config_entries.async_setup(entry_of_1_2.entry_id)
    await hass.async_block_till_done()

    charger, mower = device(hass), device(hass, mower=True)
    assert mower.via_device_id == charger.id
    assert mower.name == "Novabot mower"
    assert mower.model == f"Mower of charger {SERIAL}"
    kept = [key for key in ENTITIES_OF_1_2 if key not in RETIRED_IN_1_3]
    for key in kept:
        registered = entity_registry.async_get(old_entity_id(key))
        assert registered is not None, key
        assert registered.unique_id == f"{SERIAL}_{key}"
        assert registered.device_id == (
            mower.id if key in MOWER_DEVICE_KEYS else charger.id
        ), key
        assert bool(registered.disabled_by) == (key in DISABLED_IN_1_2), key
    assert old_entity_id("mower") == "lawn_mower.novabot_charger_lfic1230700123_mower"

    # The mower is known: its entities are there before a report, and its
    # controls join them on its device.
    assert hass.states.get(old_entity_id("mower")).state == STATE_UNAVAILABLE
    for key, platform in MOWER_CONTROLS.items():
        added = entity_registry.async_get_entity_id(platform, DOMAIN, f"{SERIAL}_{key}")
        assert added is not None
        assert entity_registry.async_get(added).device_id == mower.id
    await send(hass, report())
    assert hass.states.get(old_entity_id("mower")).state == "docked"
    assert {
        registered.unique_id
        for registered in er.async_entries_for_config_entry(
            entity_registry, entry_of_1_2.entry_id
        )
    } == {f"{SERIAL}_{key}" for key in (*ENTITIES, *RADIO_ENTITIES, *MOWER_CONTROLS)}


async def test_an_entry_of_1_1_loses_the_retired_entities_of_both_releases(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=SERIAL, data=entry_data(), version=1, minor_version=1
    )
    entry.add_to_hass(hass)
    retired = [
        entity_registry.async_get_or_create(
            platform, DOMAIN, f"{SERIAL}_{key}", config_entry=entry
        ).entity_id
        for platform, key in (
            ("sensor", "lora_rssi"),
            ("number", "cutting_height"),
            ("select", "mowing_area"),
        )
    ]

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert [entity_registry.async_get(retired_id) for retired_id in retired] == [
        None,
        None,
        None,
    ]
    assert entry.minor_version == 3
