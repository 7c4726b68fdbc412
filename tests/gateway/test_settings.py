"""The shared settings: which entry's count, and moving a running gateway."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import errno
import socket
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.setup import async_setup_component
from novabot_dev.mosquitto import free_port
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.const import CONF_GATEWAY_BIND_ADDRESS, DOMAIN
from custom_components.novabot.gateway import (
    DATA_GATEWAY,
    RETRY_INTERVAL,
    GatewayPortInUseError,
    GatewaySettings,
    async_apply_gateway_settings,
    async_get_gateway_diagnostics,
    shared_gateway_settings,
)
from custom_components.novabot.gateway.settings import gateway_entries

from ..common import entry_data, mock_entry, setup_entry
from ..flow_helpers import wait_for
from .common import (
    COMMAND,
    LOOPBACK,
    OTHER_LOOPBACK,
    OTHER_SN,
    REPORT,
    SN,
    STATUS,
    add_gateway_entry,
    counters,
    gateway_issue,
    let_time_pass,
    port_is_free,
    retry_timers,
    running_gateway,
    use_gateway,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger
    from .common import Release

EARLIER = datetime(2025, 4, 1, tzinfo=UTC)
LATER = EARLIER + timedelta(days=30)


def where(hass: HomeAssistant) -> tuple[str, list[int]]:
    """The address the running gateway listens on, and its ports."""
    diagnostics = async_get_gateway_diagnostics(hass)
    return diagnostics["bind_address"], diagnostics["ports"]


def bound_address(hass: HomeAssistant, port: int) -> tuple[str, int]:
    """Where the gateway's socket for ``port`` is bound."""
    server = running_gateway(hass)._servers[port]
    address: tuple[str, int] = server.sockets[0].getsockname()
    return address


@pytest.fixture
def other_loopback_blocker(socket_enabled: None, port: int) -> Generator[socket.socket]:
    """Another program on ``port`` of the other loopback address."""
    with socket.socket() as sock:
        sock.bind((OTHER_LOOPBACK, port))
        sock.listen()
        yield sock


async def move_to(hass: HomeAssistant, entry: MockConfigEntry, address: str) -> None:
    """Save a new listening address in the options, as the options flow does."""
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_GATEWAY_BIND_ADDRESS: address}
    )
    await async_apply_gateway_settings(hass)


# Which entry's settings count.


@pytest.mark.parametrize(
    "newest_first", [False, True], ids=["oldest added first", "newest added first"]
)
def test_the_oldest_gateway_entry_s_settings_count(
    hass: HomeAssistant, newest_first: bool
) -> None:
    """Entries that disagree: the oldest one's, whatever the order they came in."""
    entries: list[dict[str, Any]] = [
        {"serial_number": SN, "bind_address": "10.0.0.1", "port": 1890},
        {"serial_number": OTHER_SN, "bind_address": "10.0.0.2", "port": 1891},
    ]
    created = [EARLIER, LATER]
    order = [1, 0] if newest_first else [0, 1]
    for index in order:
        add_gateway_entry(hass, **entries[index], created_at=created[index])

    assert shared_gateway_settings(hass) == GatewaySettings(1890, "10.0.0.1")
    assert [entry.unique_id for entry in gateway_entries(hass)] == [SN, OTHER_SN]


@pytest.mark.parametrize(
    "reverse", [False, True], ids=["in entry id order", "in reverse entry id order"]
)
def test_entries_created_at_the_same_time_are_ordered_by_entry_id(
    hass: HomeAssistant, reverse: bool
) -> None:
    """Entries migrated from before creation times all date from 1970: one answer."""
    migrated = datetime.fromtimestamp(0, UTC)
    entries = [
        mock_entry(
            serial_number,
            data=entry_data(serial_number, gateway=True),
            options={CONF_GATEWAY_BIND_ADDRESS: address},
        )
        for serial_number, address in ((SN, "10.0.0.1"), (OTHER_SN, "10.0.0.2"))
    ]
    entries.sort(key=lambda entry: entry.entry_id, reverse=reverse)
    for entry in entries:
        entry.created_at = migrated
        entry.add_to_hass(hass)
    first = min(entries, key=lambda entry: entry.entry_id)

    assert (
        shared_gateway_settings(hass).bind_address
        == first.options[CONF_GATEWAY_BIND_ADDRESS]
    )


def test_entries_without_gateway_options_give_way(hass: HomeAssistant) -> None:
    """The oldest entry that holds them counts; a missing one is the default."""
    add_gateway_entry(hass, SN, bind_address=None, created_at=EARLIER)
    add_gateway_entry(hass, OTHER_SN, bind_address="10.0.0.2", created_at=LATER)

    assert shared_gateway_settings(hass) == GatewaySettings(1885, "10.0.0.2")


def test_the_defaults_when_no_gateway_entry_holds_settings(
    hass: HomeAssistant,
) -> None:
    """Direct entries' options do not count; gateway entries without any give way."""
    assert shared_gateway_settings(hass) == GatewaySettings(1885, "0.0.0.0")  # noqa: S104
    add_gateway_entry(
        hass, SN, bind_address="10.0.0.1", port=1890, gateway=False, created_at=EARLIER
    )
    add_gateway_entry(hass, OTHER_SN, bind_address=None, created_at=LATER)

    assert shared_gateway_settings(hass) == GatewaySettings()
    assert GatewaySettings() == GatewaySettings(1885, "0.0.0.0")  # noqa: S104


async def test_the_gateway_listens_where_the_oldest_entry_says_whichever_loads_first(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """The newer entry, loaded first, starts the gateway on the older one's address."""
    assert await async_setup_component(hass, DOMAIN, {})  # entries load one by one
    older_port, newer_port = port, free_port()
    older = add_gateway_entry(
        hass, SN, bind_address=LOOPBACK, port=older_port, created_at=EARLIER
    )
    await setup_entry(
        hass,
        OTHER_SN,
        data=entry_data(OTHER_SN, gateway=True, mqtt_port=newer_port),
        options={CONF_GATEWAY_BIND_ADDRESS: OTHER_LOOPBACK},
    )
    assert where(hass) == (LOOPBACK, [newer_port])

    assert await hass.config_entries.async_setup(older.entry_id)
    await hass.async_block_till_done()
    assert where(hass) == (LOOPBACK, sorted([older_port, newer_port]))
    assert bound_address(hass, newer_port) == (LOOPBACK, newer_port)


# Moving a running gateway.


async def test_new_settings_move_the_gateway_and_its_clients_stay(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    settings_entry: MockConfigEntry,
    port: int,
) -> None:
    """Every port moves to the new address; a connected charger goes on."""
    charger = await clients()
    await charger.subscribe(COMMAND)

    await move_to(hass, settings_entry, OTHER_LOOPBACK)

    assert where(hass) == (OTHER_LOOPBACK, [port])
    assert bound_address(hass, port) == (OTHER_LOOPBACK, port)
    assert port_is_free(port, LOOPBACK)
    assert not port_is_free(port, OTHER_LOOPBACK)
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    async_fire_mqtt_message(hass, COMMAND, b"command")
    assert (await charger.receive()).payload == b"command"
    assert charger.client.is_connected()


@pytest.mark.usefixtures("other_loopback_blocker")
async def test_a_failing_move_leaves_the_gateway_where_it_was_and_raises(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    settings_entry: MockConfigEntry,
    port: int,
) -> None:
    """The port is taken at the new address: back on the old one, clients kept."""
    charger = await clients()

    with pytest.raises(GatewayPortInUseError):
        await move_to(hass, settings_entry, OTHER_LOOPBACK)

    assert where(hass) == (LOOPBACK, [port])
    assert bound_address(hass, port) == (LOOPBACK, port)
    assert async_get_gateway_diagnostics(hass)["ports_not_open"] == []
    assert charger.client.is_connected()
    newcomer = await clients("ESP32_newcomer")  # and it admits new ones there
    newcomer.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)


async def test_a_move_failing_on_a_later_port_moves_none(
    hass: HomeAssistant,
    release: Release,
    settings_entry: MockConfigEntry,
    port: int,
    socket_enabled: None,
) -> None:
    """Ports are moved one by one: those already moved go back as well."""
    other_port = free_port()
    release_other = await use_gateway(hass, other_port, OTHER_SN)
    later_port = max(port, other_port)
    with socket.socket() as blocker:
        blocker.bind((OTHER_LOOPBACK, later_port))
        blocker.listen()
        with pytest.raises(GatewayPortInUseError):
            await move_to(hass, settings_entry, OTHER_LOOPBACK)

    assert where(hass) == (LOOPBACK, sorted([port, other_port]))
    for each in (port, other_port):
        assert bound_address(hass, each) == (LOOPBACK, each)
        assert port_is_free(each, OTHER_LOOPBACK)
    await release_other()


@pytest.mark.usefixtures("other_loopback_blocker")
async def test_a_port_lost_while_moving_back_is_retried(
    hass: HomeAssistant,
    release: Release,
    settings_entry: MockConfigEntry,
    port: int,
) -> None:
    """Another program takes the old port during a failed move: issue and retries."""
    real_start_server = asyncio.start_server
    thief = socket.socket()

    async def start_server_while_another_program_takes_the_port(
        *args: Any, **kwargs: Any
    ) -> Any:
        if args[1] == OTHER_LOOPBACK:  # the move: the old socket was just closed
            thief.bind((LOOPBACK, port))
            thief.listen()
        return await real_start_server(*args, **kwargs)

    with (
        thief,
        patch(
            "asyncio.start_server",
            side_effect=start_server_while_another_program_takes_the_port,
        ),
    ):
        with pytest.raises(GatewayPortInUseError):
            await move_to(hass, settings_entry, OTHER_LOOPBACK)

        assert where(hass) == (LOOPBACK, [])
        assert async_get_gateway_diagnostics(hass)["ports_not_open"] == [port]
        assert gateway_issue(hass, port) is not None
        assert len(retry_timers(hass)) == 1

    await let_time_pass(hass, RETRY_INTERVAL)  # the thief has gone
    assert where(hass) == (LOOPBACK, [port])
    assert gateway_issue(hass, port) is None


async def test_a_port_that_would_not_open_is_tried_at_once_at_the_new_address(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    settings_entry: MockConfigEntry,
    port: int,
) -> None:
    """The owner corrects an address that would not bind: no wait for the retry."""
    cannot_bind = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    with patch("asyncio.start_server", side_effect=cannot_bind):
        release = await use_gateway(hass, port, keep=True)
    assert gateway_issue(hass, port) is not None

    await move_to(hass, settings_entry, OTHER_LOOPBACK)

    assert where(hass) == (OTHER_LOOPBACK, [port])
    assert gateway_issue(hass, port) is None
    assert retry_timers(hass) == []
    await release()


@pytest.mark.usefixtures("release")
async def test_the_same_address_moves_nothing(
    hass: HomeAssistant, settings_entry: MockConfigEntry, port: int
) -> None:
    """Applying unchanged settings keeps the very same sockets."""
    server = running_gateway(hass)._servers[port]

    await move_to(hass, settings_entry, LOOPBACK)

    assert running_gateway(hass)._servers[port] is server


async def test_settings_without_a_running_gateway_are_for_its_next_start(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    settings_entry: MockConfigEntry,
    port: int,
) -> None:
    """Nothing runs, nothing moves; the next start listens at the new address."""
    await move_to(hass, settings_entry, OTHER_LOOPBACK)  # never used: no gateway
    assert DATA_GATEWAY not in hass.data
    release = await use_gateway(hass, port)
    await release()
    await move_to(hass, settings_entry, LOOPBACK)  # used, stopped

    release = await use_gateway(hass, port)
    assert where(hass) == (LOOPBACK, [port])
    await release()
