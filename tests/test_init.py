"""Setting up, unloading and reloading a charger's entry; gateway mode."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from unittest.mock import MagicMock, patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    DOMAIN,
)
from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    GatewayPortInUseError,
    GatewayStartError,
)

from .common import (
    ENABLED_KEYS,
    OTHER_SERIAL,
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


def gateway_port_issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    """The repair issue about the gateway's port, whatever its id."""
    issues = [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.translation_key == "gateway_port_in_use"
    ]
    assert len(issues) <= 1
    return issues[0] if issues else None


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
    entry = await setup_entry(hass, data=entry_data(gateway=True))

    mock_gateway.assert_awaited_once_with(
        hass, SERIAL, port=1885, bind_address=DEFAULT_BIND_ADDRESS
    )
    mock_gateway.release.assert_not_awaited()
    await send(hass, report())
    assert state(hass, "gps_satellites").state == "17"

    assert await hass.config_entries.async_unload(entry.entry_id)
    mock_gateway.release.assert_awaited_once()


async def test_gateway_options_choose_the_port_and_the_bind_address(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    await setup_entry(
        hass,
        data=entry_data(gateway=True),
        options={CONF_GATEWAY_PORT: 1999, CONF_GATEWAY_BIND_ADDRESS: "192.168.1.10"},
    )

    mock_gateway.assert_awaited_once_with(
        hass, SERIAL, port=1999, bind_address="192.168.1.10"
    )


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


@pytest.fixture
async def port_taken(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mock_gateway: MagicMock,
    issue_registry: ir.IssueRegistry,
) -> MockConfigEntry:
    """A gateway charger whose setup found the gateway's port taken: it retries."""
    mock_gateway.side_effect = GatewayPortInUseError(1885)
    return await setup_entry(
        hass, data=entry_data(gateway=True), state=ConfigEntryState.SETUP_RETRY
    )


async def test_gateway_port_in_use_retries_setup_with_a_repair_issue(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port_taken: MockConfigEntry
) -> None:
    assert port_taken.reason is not None
    assert "1885" in port_taken.reason
    assert (STATUS_TOPIC, None) not in subscriptions(mqtt_mock)
    issue = gateway_port_issue(hass)
    assert issue is not None
    assert issue.translation_placeholders == {"port": "1885"}
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.is_fixable is False
    await hass.config_entries.async_unload(port_taken.entry_id)


@pytest.mark.parametrize(
    ("options", "port"),
    [
        pytest.param({}, 1885, id="the-other-program-let-the-port-go"),
        pytest.param({CONF_GATEWAY_PORT: 1886}, 1886, id="moved-to-another-port"),
    ],
)
async def test_gateway_port_issue_goes_once_the_gateway_runs(
    hass: HomeAssistant,
    mock_gateway: MagicMock,
    port_taken: MockConfigEntry,
    options: dict[str, int],
    port: int,
) -> None:
    assert gateway_port_issue(hass) is not None
    mock_gateway.side_effect = None

    hass.config_entries.async_update_entry(port_taken, options=options)
    assert await hass.config_entries.async_reload(port_taken.entry_id)
    await hass.async_block_till_done()

    assert port_taken.state is ConfigEntryState.LOADED
    assert mock_gateway.await_args is not None
    assert mock_gateway.await_args.kwargs["port"] == port
    assert gateway_port_issue(hass) is None


@pytest.mark.usefixtures("issue_registry")
async def test_gateway_that_cannot_start_retries_setup_and_says_why(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mock_gateway: MagicMock
) -> None:
    """It is no port another program holds: no repair issue for that."""
    mock_gateway.side_effect = GatewayStartError(
        "192.168.1.99", 1885, OSError(99, "Cannot assign requested address")
    )

    entry = await setup_entry(
        hass, data=entry_data(gateway=True), state=ConfigEntryState.SETUP_RETRY
    )

    assert entry.reason is not None
    assert "1885" in entry.reason
    assert "Cannot assign requested address" in entry.reason
    assert gateway_port_issue(hass) is None
    assert (STATUS_TOPIC, None) not in subscriptions(mqtt_mock)
    await hass.config_entries.async_unload(entry.entry_id)


# --- Removal and reload keep things tidy -----------------------------------------


async def test_removing_a_silent_charger_removes_its_repair_issue(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await setup_entry(hass)
    await move_time(hass, freezer, 601, step=10)
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}")

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()

    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None


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
