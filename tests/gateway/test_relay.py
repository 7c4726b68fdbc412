"""The relay: reports up to Home Assistant's MQTT, commands down to the charger."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.exceptions import HomeAssistantError
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.gateway import Drop, limits, relay

from ..flow_helpers import wait_for
from .common import (
    COMMAND,
    REPORT,
    STATUS,
    counters,
    dropped,
    relayed_up,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    import pytest
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger

COMMAND_PAYLOAD = b'{"ota_version_info":null}'


async def test_a_report_is_relayed_byte_for_byte(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A report from the charger is published on Home Assistant's MQTT, unchanged."""
    charger = await clients()
    charger.publish(STATUS, REPORT)
    charger.publish(STATUS, b"")

    await wait_for(lambda: counters(hass)["relayed_up"] == 2)
    assert relayed_up(mqtt_mock) == [
        (STATUS, REPORT, 0, False),
        (STATUS, b"", 0, False),
    ]
    assert isinstance(relayed_up(mqtt_mock)[0][1], bytes)


async def test_a_command_reaches_the_charger_at_qos_0(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A command on Home Assistant's MQTT reaches the subscribed charger at QoS 0.

    Its reply is what tells whether it arrived. At QoS 1, a charger whose WiFi
    dropped (its connection still open) left amqtt waiting for a PUBACK, and
    logging a warning and an error in Home Assistant's log when it gave up
    (a soak finding); a clean session gets nothing redelivered anyway.
    """
    charger = await clients()
    assert not any(code.is_failure for code in await charger.subscribe(COMMAND))

    async_fire_mqtt_message(hass, COMMAND, COMMAND_PAYLOAD)
    message = await charger.receive()

    assert (message.topic, message.payload, message.qos) == (
        COMMAND,
        COMMAND_PAYLOAD,
        0,
    )
    assert counters(hass)["relayed_down"] == 1


async def test_no_loops_and_no_duplicates(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Up stays up, down stays down, and each message crosses exactly once."""
    charger = await clients()
    await charger.subscribe(COMMAND)

    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    # A command published on Home Assistant's MQTT, as the coordinator does:
    # the mocked broker echoes it to the gateway's subscription.
    await mqtt.async_publish(hass, COMMAND, b"command")
    message = await charger.receive()
    await asyncio.sleep(0.3)  # time for a loop or a duplicate to show up

    assert message.payload == b"command"
    assert charger.messages.empty()  # the report did not come back down
    assert relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)]  # nor went up twice
    assert counters(hass)["relayed_up"] == 1
    assert counters(hass)["relayed_down"] == 1


async def test_a_report_home_assistant_mqtt_refuses_is_counted(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Home Assistant's MQTT not connected: the report is dropped and counted."""
    charger = await clients()
    with patch.object(
        relay.mqtt, "async_publish", side_effect=HomeAssistantError("not connected")
    ):
        charger.publish(STATUS, REPORT)
        await wait_for(lambda: dropped(hass, Drop.MQTT_UNAVAILABLE) == 1)
    assert counters(hass)["relayed_up"] == 0


async def test_reports_beyond_the_uplink_backlog_are_dropped(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No more than MAX_UPLINK_IN_FLIGHT reports wait on Home Assistant's MQTT."""
    monkeypatch.setattr(limits, "MAX_UPLINK_IN_FLIGHT", 0)
    charger = await clients()
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: dropped(hass, Drop.UPLINK_BACKLOG) == 1)
    assert counters(hass)["relayed_up"] == 0


async def test_a_command_no_charger_listens_to_is_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A command for a charger that has not subscribed is counted, not queued."""
    charger = await clients()
    async_fire_mqtt_message(hass, COMMAND, b"command")
    assert dropped(hass, Drop.CHARGER_NOT_CONNECTED) == 1

    await charger.subscribe(COMMAND)
    await asyncio.sleep(0.1)
    assert charger.messages.empty()
    assert counters(hass)["relayed_down"] == 0


async def test_a_command_too_large_for_the_charger_is_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """A command that would make a packet over MAX_PACKET_SIZE never reaches it."""
    charger = await clients()
    await charger.subscribe(COMMAND)
    async_fire_mqtt_message(hass, COMMAND, b"x" * limits.MAX_PACKET_SIZE)
    assert dropped(hass, Drop.COMMAND_TOO_LARGE) == 1
    await asyncio.sleep(0.1)
    assert charger.messages.empty()
    assert counters(hass)["relayed_down"] == 0
