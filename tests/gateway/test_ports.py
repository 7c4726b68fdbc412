"""Where the gateway listens: every port a charger was told, and ports that will not open."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING
from unittest.mock import patch

from novabot_dev.mosquitto import free_port
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.gateway import (
    RETRY_INTERVAL,
    async_get_gateway_diagnostics,
)

from ..flow_helpers import wait_for
from .common import (
    LOOPBACK,
    OTHER_SN,
    REPORT,
    SN,
    STATUS,
    counters,
    gateway_issue,
    let_time_pass,
    port_is_free,
    relayed_up,
    retry_timers,
    running_gateway,
    use_gateway,
    warnings_logged,
)

if TYPE_CHECKING:
    import socket

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger
    from .common import Release

OTHER_STATUS = f"Dart/Receive_mqtt/{OTHER_SN}"


def listening_on(hass: HomeAssistant) -> tuple[list[int], list[int]]:
    """The ports the gateway listens on, and those it cannot open."""
    diagnostics = async_get_gateway_diagnostics(hass)
    return diagnostics["ports"], diagnostics["ports_not_open"]


# One gateway, several ports.


async def test_a_charger_told_another_port_than_the_setting_gets_in_there(
    hass: HomeAssistant, release: Release, chargers: ConnectCharger, port: int
) -> None:
    """The gateway listens on every port a lease was told, not only the setting's."""
    other_port = free_port()
    release_other = await use_gateway(hass, other_port, OTHER_SN)
    assert listening_on(hass) == (sorted([port, other_port]), [])

    charger = await chargers("ESP32_other", to=other_port)
    await charger.subscribe(f"Dart/Send_mqtt/{OTHER_SN}")
    charger.publish(OTHER_STATUS, b"{}")
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    async_fire_mqtt_message(hass, f"Dart/Send_mqtt/{OTHER_SN}", b"command")

    assert (await charger.receive()).payload == b"command"
    await release_other()


async def test_releasing_the_last_lease_of_a_port_stops_listening_there_only(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    release: Release,
    chargers: ConnectCharger,
    port: int,
) -> None:
    """The port closes; every connection goes on, the one made through it too."""
    other_port = free_port()
    release_other = await use_gateway(hass, other_port)  # SN again, told another port
    on_setting = await chargers("ESP32_setting")
    on_other = await chargers("ESP32_other", to=other_port)

    await release_other()

    assert listening_on(hass) == ([port], [])
    assert port_is_free(other_port)
    assert not port_is_free(port)
    on_setting.publish(STATUS, b"1")
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    on_other.publish(STATUS, b"2")
    await wait_for(lambda: counters(hass)["relayed_up"] == 2)
    assert relayed_up(mqtt_mock) == [(STATUS, b"1", 0, False), (STATUS, b"2", 0, False)]
    assert on_setting.client.is_connected()
    assert on_other.client.is_connected()


async def test_a_port_two_leases_were_told_stays_open_until_both_are_released(
    hass: HomeAssistant, release: Release, port: int
) -> None:
    """A port is closed with its last lease, not its first."""
    other_port = free_port()
    first = await use_gateway(hass, other_port, OTHER_SN)
    second = await use_gateway(hass, other_port, OTHER_SN)

    await first()
    assert listening_on(hass) == (sorted([port, other_port]), [])
    await second()
    assert listening_on(hass) == ([port], [])


async def test_the_last_lease_stops_the_gateway_on_every_port(
    hass: HomeAssistant, release: Release, chargers: ConnectCharger, port: int
) -> None:
    """Connections through every port end, and every port is free again."""
    other_port = free_port()
    release_other = await use_gateway(hass, other_port, OTHER_SN)
    on_setting = await chargers("ESP32_setting")
    on_other = await chargers("ESP32_other", to=other_port)

    await release()
    assert listening_on(hass) == ([other_port], [])
    assert on_setting.client.is_connected()
    await release_other()

    await on_setting.wait_disconnected()
    await on_other.wait_disconnected()
    assert port_is_free(port)
    assert port_is_free(other_port)
    assert not async_get_gateway_diagnostics(hass)["running"]


# An entry's port that will not open: kept, said, retried.


async def test_an_entry_keeps_its_lease_while_its_port_is_taken(
    hass: HomeAssistant, release: Release, port: int, taken_port: int
) -> None:
    """keep=True: no error; a repair issue names the port; the rest serves on."""
    release_other = await use_gateway(hass, taken_port, OTHER_SN, keep=True)

    issue = gateway_issue(hass, taken_port)
    assert issue is not None
    assert issue.issue_id == f"gateway_port_in_use_{taken_port}"
    assert issue.translation_key == "gateway_port_in_use"
    assert issue.translation_placeholders == {"port": str(taken_port)}
    assert not issue.is_fixable
    assert listening_on(hass) == ([port], [taken_port])
    assert running_gateway(hass).serial_numbers == {SN, OTHER_SN}
    assert len(retry_timers(hass)) == 1
    await release_other()


@pytest.mark.usefixtures("settings_entry", "mqtt_mock")
async def test_a_taken_port_is_retried_every_30_seconds_until_it_opens(
    hass: HomeAssistant,
    chargers: ConnectCharger,
    blocker: socket.socket,
    taken_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tried again every RETRY_INTERVAL, warned once; once open, issue and timer go."""
    assert RETRY_INTERVAL == 30
    release = await use_gateway(hass, taken_port, keep=True)
    # The broker runs, for when the port opens.
    assert async_get_gateway_diagnostics(hass)["running"]

    (first_retry,) = retry_timers(hass)
    await let_time_pass(hass, RETRY_INTERVAL)  # still taken: tried, in vain
    assert gateway_issue(hass, taken_port) is not None
    (second_retry,) = retry_timers(hass)
    assert second_retry is not first_retry
    (warning,) = warnings_logged(caplog)
    assert f"cannot listen on port {taken_port}" in warning.getMessage()

    blocker.close()
    await let_time_pass(hass, RETRY_INTERVAL / 2)  # not yet
    assert listening_on(hass) == ([], [taken_port])
    await let_time_pass(hass, RETRY_INTERVAL)

    assert listening_on(hass) == ([taken_port], [])
    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    charger = await chargers(to=taken_port)
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    await charger.close()
    await release()


async def test_the_issue_goes_with_the_last_lease_needing_the_port(
    hass: HomeAssistant, release: Release, port: int, taken_port: int
) -> None:
    """An entry's lease released while its port is taken: no issue, no retry left.

    The gateway serves on for the others (a config flow, say).
    """
    release_entry = await use_gateway(hass, taken_port, OTHER_SN, keep=True)
    assert gateway_issue(hass, taken_port) is not None

    await release_entry()

    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    assert listening_on(hass) == ([port], [])
    assert running_gateway(hass).serial_numbers == {SN}
    await let_time_pass(hass, RETRY_INTERVAL)
    assert listening_on(hass) == ([port], [])


@pytest.mark.usefixtures("settings_entry")
async def test_no_entry_needing_the_gateway_leaves_no_issue_and_no_timer(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, taken_port: int
) -> None:
    """The only lease, on a taken port, released: the gateway stops, nothing is left."""
    release = await use_gateway(hass, taken_port, keep=True)
    assert gateway_issue(hass, taken_port) is not None

    await release()

    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    assert not async_get_gateway_diagnostics(hass)["running"]
    assert listening_on(hass) == ([], [])


async def test_a_port_opened_for_another_lease_ends_the_issue(
    hass: HomeAssistant,
    release: Release,
    port: int,
    blocker: socket.socket,
    taken_port: int,
) -> None:
    """A second lease on a retried port finds it free: the issue goes at once."""
    release_entry = await use_gateway(hass, taken_port, OTHER_SN, keep=True)
    blocker.close()

    release_flow = await use_gateway(hass, taken_port, OTHER_SN)

    assert listening_on(hass) == (sorted([port, taken_port]), [])
    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    await release_flow()
    await release_entry()


@pytest.mark.usefixtures("settings_entry")
async def test_an_address_that_will_not_bind_gives_a_cannot_listen_issue(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """An error other than a taken port: its own issue, with the address and why."""
    cannot_bind = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    with patch("asyncio.start_server", side_effect=cannot_bind):
        release = await use_gateway(hass, port, keep=True)

    issue = gateway_issue(hass, port)
    assert issue is not None
    assert (issue.domain, issue.translation_key) == (DOMAIN, "gateway_cannot_listen")
    assert issue.translation_placeholders == {
        "address": LOOPBACK,
        "port": str(port),
        "error": "Cannot assign requested address",
    }
    await let_time_pass(hass, RETRY_INTERVAL)  # the address binds now
    assert gateway_issue(hass, port) is None
    assert listening_on(hass) == ([port], [])
    await release()
