"""The gateway's life: started by its first user, shared, moved, stopped."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.exceptions import HomeAssistantError
from novabot_dev.mosquitto import free_port
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.novabot.const import (
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_PORT,
    DOMAIN,
)
from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    Drop,
    GatewayError,
    GatewayMqttUnavailableError,
    GatewayPortInUseError,
    GatewayStartError,
    async_get_gateway_diagnostics,
    async_use_gateway,
    gateway_endpoint,
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
    port_is_free,
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


@pytest.mark.parametrize(
    ("data", "options", "expected"),
    [
        pytest.param(
            {CONF_GATEWAY: True, CONF_MQTT_PORT: 1890},
            {},
            (1890, DEFAULT_BIND_ADDRESS),
            id="the port the charger was told",
        ),
        pytest.param(
            {CONF_MQTT_PORT: 1883},
            {},
            (DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS),
            id="not in gateway mode yet: the default",
        ),
        pytest.param(
            {CONF_GATEWAY: True, CONF_MQTT_PORT: 1890},
            {CONF_GATEWAY_PORT: 1999, CONF_GATEWAY_BIND_ADDRESS: "192.168.1.2"},
            (1999, "192.168.1.2"),
            id="the options",
        ),
    ],
)
def test_where_an_entry_s_gateway_listens(
    data: dict[str, Any], options: dict[str, Any], expected: tuple[int, str]
) -> None:
    """The options first, then the port a gateway-mode charger was told."""
    entry = MockConfigEntry(domain=DOMAIN, data=data, options=options)
    assert gateway_endpoint(entry) == expected


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


async def test_the_same_charger_twice_needs_two_releases(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """Setup and a config flow may both hold the same charger: leases count."""
    first = await use_gateway(hass, port)
    second = await use_gateway(hass, port)
    await first()
    await first()
    assert running_gateway(hass).serial_numbers == {SN}
    await second()
    assert port_is_free(port)


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
    diagnostics = async_get_gateway_diagnostics(hass)
    assert diagnostics["admitted_serial_numbers"] == sorted([SN, OTHER_SN])

    charger = await chargers()
    await charger.subscribe(COMMAND)
    await release_first()
    assert running_gateway(hass).serial_numbers == {OTHER_SN}

    charger.publish(STATUS, REPORT)
    await wait_for(lambda: dropped(hass, Drop.UNKNOWN_SERIAL) == 1)
    async_fire_mqtt_message(hass, COMMAND, b"command")  # no longer relayed
    charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"other")
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    assert charger.messages.empty()
    assert counters(hass)["relayed_down"] == 0

    await release_other()
    assert port_is_free(port)


async def test_another_port_moves_the_gateway(
    hass: HomeAssistant, release: Release, clients: ConnectCharger, port: int
) -> None:
    """A user on another port restarts the gateway there, for every charger."""
    new_port = free_port()
    charger = await clients()

    release_other = await use_gateway(hass, new_port, OTHER_SN)
    await charger.wait_disconnected()
    assert port_is_free(port)
    assert not port_is_free(new_port)
    diagnostics = async_get_gateway_diagnostics(hass)
    assert (diagnostics["port"], diagnostics["bind_address"]) == (new_port, LOOPBACK)
    assert diagnostics["admitted_serial_numbers"] == sorted([SN, OTHER_SN])

    charger = await clients(to=new_port)
    await charger.subscribe(COMMAND)
    async_fire_mqtt_message(hass, COMMAND, b"command")  # resubscribed after the move
    assert (await charger.receive()).payload == b"command"
    await charger.close()

    await release_other()
    assert not port_is_free(new_port)  # SN still uses it
    await release()
    assert port_is_free(new_port)


async def test_a_taken_port_on_move_keeps_the_old_gateway(
    hass: HomeAssistant, release: Release, port: int, taken_port: int
) -> None:
    """A move that fails leaves the gateway serving on its old port."""
    with pytest.raises(GatewayPortInUseError):
        await use_gateway(hass, taken_port, OTHER_SN)

    diagnostics = async_get_gateway_diagnostics(hass)
    assert (diagnostics["running"], diagnostics["port"]) == (True, port)
    assert diagnostics["admitted_serial_numbers"] == [SN]
    await release()
    assert port_is_free(port)


async def test_the_gateway_stops_with_home_assistant(
    hass: HomeAssistant, release: Release, clients: ConnectCharger, port: int
) -> None:
    """EVENT_HOMEASSISTANT_STOP frees the port even if nobody releases."""
    charger = await clients()

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    await charger.wait_disconnected()
    assert port_is_free(port)
    assert not is_running(hass)
    await release()  # later unloads are harmless


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


async def test_a_taken_port_raises_port_in_use(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, taken_port: int
) -> None:
    """Another program on the port: GatewayPortInUseError with that port."""
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
    assert async_get_gateway_diagnostics(hass)["admitted_serial_numbers"] == []


async def test_an_address_that_is_not_ours_raises_start_error(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
) -> None:
    """An address of no local interface cannot be bound either."""
    with pytest.raises(GatewayStartError) as caught:
        await async_use_gateway(hass, SN, port=port, bind_address="192.0.2.1")
    assert caught.value.translation_key == "gateway_start_failed"
    assert caught.value.translation_placeholders["address"] == "192.0.2.1"
    assert caught.value.translation_placeholders["port"] == str(port)
    assert not is_running(hass)


async def test_without_mqtt_the_gateway_does_not_start(
    hass: HomeAssistant, port: int
) -> None:
    """The gateway relays through Home Assistant's MQTT: it must be set up."""
    with pytest.raises(GatewayMqttUnavailableError) as caught:
        await use_gateway(hass, port)
    assert caught.value.translation_key == "gateway_mqtt_unavailable"
    assert port_is_free(port)
