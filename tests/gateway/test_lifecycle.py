"""The gateway's life: started by its first user, shared, stopped by its last."""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from amqtt.errors import BrokerError
from homeassistant.const import EVENT_HOMEASSISTANT_CLOSE, EVENT_HOMEASSISTANT_STOP
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.gateway import (
    DATA_GATEWAY,
    Drop,
    GatewayError,
    GatewayMqttUnavailableError,
    GatewayPortInUseError,
    GatewayStartError,
    async_get_gateway_diagnostics,
    limits,
    relay,
)

from ..flow_helpers import wait_for
from .common import (
    COMMAND,
    LOOPBACK,
    OTHER_SN,
    REPORT,
    SN,
    STATUS,
    counters,
    dropped,
    gateway_issue,
    port_is_free,
    retry_timers,
    running_gateway,
    use_gateway,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger, OpenRawClient
    from .common import Release


def is_running(hass: HomeAssistant) -> bool:
    running: bool = async_get_gateway_diagnostics(hass)["running"]
    return running


def gateway_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of the gateway still alive: connections, relays, retries."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_name().startswith(f"{DOMAIN} gateway")
    ]


async def test_the_last_release_stops_the_gateway_and_frees_the_port(
    hass: HomeAssistant, release: Release, clients: ConnectCharger, port: int
) -> None:
    """The chargers are disconnected, commands unsubscribed; twice is harmless."""
    assert not port_is_free(port)
    charger = await clients()
    await charger.subscribe(COMMAND)

    await release()
    await charger.wait_disconnected()
    await release()

    assert port_is_free(port)
    assert not is_running(hass)
    async_fire_mqtt_message(hass, COMMAND, b"command")  # unsubscribed: nothing happens
    assert counters(hass)["relayed_down"] == 0

    # And it starts again.
    restarted = await use_gateway(hass, port)
    assert is_running(hass)
    await restarted()
    assert port_is_free(port)


@pytest.mark.usefixtures("settings_entry")
async def test_the_same_charger_twice_needs_two_releases(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """Setup and a config flow may both hold the same charger: leases count."""
    first = await use_gateway(hass, port)
    second = await use_gateway(hass, port)
    await first()
    await first()
    assert running_gateway(hass).serial_numbers == {SN}
    assert not port_is_free(port)
    await second()
    assert port_is_free(port)


@pytest.mark.usefixtures("settings_entry")
async def test_two_chargers_share_the_gateway(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    chargers: ConnectCharger,
    port: int,
) -> None:
    """Concurrent users get one gateway; releasing one withdraws only its charger."""
    release_first, release_other = await asyncio.gather(
        use_gateway(hass, port), use_gateway(hass, port, OTHER_SN)
    )
    assert async_get_gateway_diagnostics(hass)["chargers_admitted"] == 2

    charger = await chargers()
    await charger.subscribe(COMMAND)
    await release_first()
    assert running_gateway(hass).serial_numbers == {OTHER_SN}
    assert async_get_gateway_diagnostics(hass)["chargers_admitted"] == 1

    charger.publish(STATUS, REPORT)
    await wait_for(lambda: dropped(hass, Drop.UNKNOWN_SERIAL) == 1)
    async_fire_mqtt_message(hass, COMMAND, b"command")  # no longer relayed
    charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"other")
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    assert charger.messages.empty()
    assert counters(hass)["relayed_down"] == 0

    await release_other()
    assert port_is_free(port)


async def test_the_gateway_stops_with_home_assistant_and_leaves_nothing(
    hass: HomeAssistant,
    release: Release,
    clients: ConnectCharger,
    port: int,
    taken_port: int,
) -> None:
    """EVENT_HOMEASSISTANT_STOP: no task, no retry timer, no bound port is left.

    Nobody released anything: the charger is connected, and an entry's port
    is being retried.
    """
    charger = await clients()
    await charger.subscribe(COMMAND)
    await use_gateway(hass, taken_port, OTHER_SN, keep=True)
    assert retry_timers(hass)
    gateway = running_gateway(hass)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done(wait_background_tasks=True)

    await charger.wait_disconnected()
    assert port_is_free(port)
    assert not is_running(hass)
    assert gateway.ports == frozenset()
    assert not gateway._clients._serving
    assert not gateway._relay._uplink
    assert gateway_tasks() == []
    assert retry_timers(hass) == []
    assert async_get_gateway_diagnostics(hass)["ports_not_open"] == []
    await release()  # later unloads are harmless
    assert not is_running(hass)


async def test_a_gateway_started_after_stop_stops_on_close(
    hass: HomeAssistant, release: Release, port: int
) -> None:
    """A late user (a config flow during shutdown) is covered by the CLOSE event."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    late = await use_gateway(hass, port)
    assert is_running(hass)

    hass.bus.async_fire(EVENT_HOMEASSISTANT_CLOSE)
    await hass.async_block_till_done()

    assert not is_running(hass)
    assert port_is_free(port)
    await late()


async def test_stopping_does_not_wait_for_clients_being_admitted(
    hass: HomeAssistant, release: Release, raw: OpenRawClient, port: int
) -> None:
    """A client in its handshake, or being refused, does not delay the stop."""
    sessions = [await raw() for _ in range(limits.MAX_CLIENTS)]
    for index, session in enumerate(sessions[1:]):
        await session.connect(f"raw{index}")
    refused = await raw()  # sessions[0] is still in its handshake
    await wait_for(lambda: running_gateway(hass)._clients._refusing == 1)

    async with asyncio.timeout(1):
        await release()
    for client in [*sessions, refused]:
        assert await client.wait_closed_by_peer() == b""
    assert port_is_free(port)
    assert counters(hass)["relayed_up"] == 0


async def test_stopping_cancels_reports_waiting_on_home_assistant_mqtt(
    hass: HomeAssistant, release: Release, clients: ConnectCharger
) -> None:
    """Relays still waiting on a slow Home Assistant MQTT end with the gateway."""
    stalled = asyncio.Event()

    async def never_acknowledged(*args: Any, **kwargs: Any) -> None:
        stalled.set()
        await asyncio.Event().wait()

    charger = await clients()
    with patch.object(relay.mqtt, "async_publish", never_acknowledged):
        charger.publish(STATUS, REPORT)
        async with asyncio.timeout(5):
            await stalled.wait()
        assert len(running_gateway(hass)._relay._uplink) == 1
        await charger.close()
        await release()
    assert counters(hass)["relayed_up"] == 0


@pytest.mark.usefixtures("settings_entry")
async def test_a_flow_on_a_taken_port_raises_and_leaves_no_gateway(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, taken_port: int
) -> None:
    """Without keep: GatewayPortInUseError with that port, nothing left running."""
    with pytest.raises(GatewayPortInUseError) as caught:
        await use_gateway(hass, taken_port)

    err = caught.value
    assert isinstance(err, GatewayError)
    assert isinstance(err, HomeAssistantError)
    assert err.port == taken_port
    assert err.translation_domain == DOMAIN
    assert err.translation_key == "gateway_port_in_use"
    assert err.translation_placeholders == {"port": str(taken_port)}
    assert not is_running(hass)
    assert hass.data[DATA_GATEWAY].gateway is None
    assert async_get_gateway_diagnostics(hass)["chargers_admitted"] == 0
    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    assert gateway_tasks() == []


async def test_a_flow_on_a_taken_port_leaves_the_running_gateway_as_it_was(
    hass: HomeAssistant, release: Release, clients: ConnectCharger, taken_port: int
) -> None:
    """The gateway others use serves on; the flow's charger is not admitted."""
    charger = await clients()

    with pytest.raises(GatewayPortInUseError):
        await use_gateway(hass, taken_port, OTHER_SN)

    diagnostics = async_get_gateway_diagnostics(hass)
    assert (diagnostics["running"], diagnostics["ports"]) == (True, [charger.port])
    assert diagnostics["ports_not_open"] == []
    assert diagnostics["chargers_admitted"] == 1
    assert running_gateway(hass).serial_numbers == {SN}
    assert gateway_issue(hass, taken_port) is None
    assert retry_timers(hass) == []
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)


@pytest.mark.usefixtures("settings_entry")
async def test_a_flow_on_an_address_that_will_not_bind_raises_start_error(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """Another reason a port cannot open: GatewayStartError says where and why."""
    cannot_bind = OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")
    with (
        patch("asyncio.start_server", side_effect=cannot_bind),
        pytest.raises(GatewayStartError) as caught,
    ):
        await use_gateway(hass, port)

    assert caught.value.translation_key == "gateway_start_failed"
    assert caught.value.translation_placeholders == {
        "address": LOOPBACK,
        "port": str(port),
        "error": "Cannot assign requested address",
    }
    assert not is_running(hass)
    assert gateway_issue(hass, port) is None


@pytest.mark.usefixtures("settings_entry")
async def test_a_broker_that_fails_to_start_leaves_nothing_running(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """amqtt's own failure reaches the caller, and amqtt cleans up after itself."""
    with (
        patch(
            "amqtt.broker.Broker._start_listeners",
            side_effect=RuntimeError("listener failed"),
        ),
        pytest.raises(BrokerError, match="listener failed"),
    ):
        await use_gateway(hass, port)

    assert not is_running(hass)
    assert hass.data[DATA_GATEWAY].gateway is None
    assert port_is_free(port)
    assert gateway_tasks() == []


@pytest.mark.usefixtures("settings_entry")
async def test_without_mqtt_the_gateway_does_not_start(
    hass: HomeAssistant, port: int
) -> None:
    """The gateway relays through Home Assistant's MQTT: it must be set up."""
    with pytest.raises(GatewayMqttUnavailableError) as caught:
        await use_gateway(hass, port, keep=True)
    assert caught.value.translation_key == "gateway_mqtt_unavailable"
    assert port_is_free(port)
    assert not is_running(hass)
    assert gateway_issue(hass, port) is None
