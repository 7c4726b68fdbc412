"""The gateway's limits: packet size, rate per client, and how many clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.novabot.gateway import Disconnect, Drop, limits

from ..flow_helpers import wait_for
from .clients import PahoCharger, connect_packet, publish_packet
from .common import (
    CONNACK_ACCEPTED,
    STATUS,
    counters,
    dropped,
    relayed_up,
    running_gateway,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    import pytest
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger, OpenRawClient


async def test_oversized_packets_are_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A packet over 4 KiB is skipped unread; the next one is relayed."""
    charger = await clients()
    overhead = len(publish_packet(STATUS, b"x" * 200)) - 200  # 3-byte fixed header
    largest = b"x" * (limits.MAX_PACKET_SIZE - overhead)
    charger.publish(STATUS, largest + b"x")
    charger.publish(STATUS, b"x" * 100_000)
    charger.publish(STATUS, largest)

    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    assert dropped(hass, Drop.OVERSIZED) == 2
    assert relayed_up(mqtt_mock) == [(STATUS, largest, 0, False)]

    for _ in range(limits.MAX_VIOLATIONS - 2):  # they add up like any violation
        charger.publish(STATUS, largest + b"x")
    await charger.wait_disconnected()
    assert dropped(hass, Drop.OVERSIZED) == limits.MAX_VIOLATIONS
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}


async def test_a_burst_over_the_rate_is_trimmed(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Beyond the burst, packets are dropped; a short burst does not disconnect."""
    charger = await clients()
    for index in range(15):
        charger.publish(STATUS, str(index).encode())

    await wait_for(
        lambda: counters(hass)["relayed_up"] + dropped(hass, Drop.RATE_LIMITED) == 15
    )
    assert dropped(hass, Drop.RATE_LIMITED) >= 15 - limits.RATE_BURST - 2
    assert charger.client.is_connected()
    # The first ones went through, in order.
    payloads = [call[1] for call in relayed_up(mqtt_mock)]
    assert payloads == [str(index).encode() for index in range(len(payloads))]


async def test_a_flood_disconnects_the_client(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A client that keeps flooding is disconnected after MAX_VIOLATIONS drops."""
    charger = await clients()
    for _ in range(200):
        charger.publish(STATUS, b"{}")

    await charger.wait_disconnected()
    assert dropped(hass, Drop.RATE_LIMITED) == limits.MAX_VIOLATIONS
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}
    assert counters(hass)["relayed_up"] <= limits.RATE_BURST + 2


async def test_the_ninth_client_is_refused(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Eight clients at most; the ninth gets CONNACK "server unavailable"."""
    chargers = [
        await clients(f"ESP32_{index:06x}") for index in range(limits.MAX_CLIENTS)
    ]

    refused = PahoCharger(chargers[0].port, "ESP32_ninth")
    try:
        reason = await refused.connect()
        assert reason.is_failure
        assert reason.value == 136  # paho's name for 3.1.1 return code 3
        await refused.wait_disconnected()
    finally:
        await refused.close()
    assert dropped(hass, Drop.TOO_MANY_CLIENTS) == 1

    await chargers[0].close()
    await wait_for(
        lambda: len(running_gateway(hass)._clients._connections) < limits.MAX_CLIENTS
    )
    await clients("ESP32_later")  # a slot is free again


async def test_a_connection_flood_is_closed_without_reading(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: OpenRawClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over the limit, a few clients get an answer; the rest are simply closed."""
    monkeypatch.setattr(limits, "REFUSE_TIMEOUT", 10.0)
    for index in range(limits.MAX_CLIENTS):
        assert await (await raw()).connect(f"raw{index}") == CONNACK_ACCEPTED
    waiting = [await raw() for _ in range(limits.MAX_CLIENTS)]  # send nothing
    gateway_clients = running_gateway(hass)._clients
    await wait_for(lambda: gateway_clients._refusing == limits.MAX_CLIENTS)

    flood = await raw()
    assert await flood.wait_closed_by_peer(timeout=2) == b""
    assert dropped(hass, Drop.TOO_MANY_CLIENTS) == limits.MAX_CLIENTS + 1

    await waiting[0].send(connect_packet("late"))
    assert await waiting[0].wait_closed_by_peer() == b"\x20\x02\x00\x03"
    await waiting[1].send(b"GET / HTTP/1.1\r\n\r\n")
    assert await waiting[1].wait_closed_by_peer() == b""
    await waiting[2].send(b"\x10\x05")
    await waiting[2].close()
    await wait_for(lambda: gateway_clients._refusing == limits.MAX_CLIENTS - 3)
