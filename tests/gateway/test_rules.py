"""Who may publish and subscribe what: a charger's own topics, nothing else."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from amqtt.contexts import Action
import pytest

from custom_components.novabot.gateway import Disconnect, Drop, limits

from ..flow_helpers import wait_for
from .common import (
    COMMAND,
    OTHER_SN,
    REPORT,
    STATUS,
    connected_clients,
    counters,
    dropped,
    relayed_up,
    running_gateway,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger


async def test_foreign_topics_and_unknown_serial_numbers_are_dropped(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Only Dart/Receive_mqtt/<admitted SN> goes up; the rest is counted."""
    charger = await clients()
    charger.publish("homeassistant/switch/x/set", b"ON")
    charger.publish(COMMAND, b"pretend to be Home Assistant")
    charger.publish(f"{STATUS}/extra", b"{}")
    charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"{}")
    charger.publish(STATUS, REPORT)  # the connection survives a few mistakes

    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    assert dropped(hass, Drop.FOREIGN_TOPIC) == 3
    assert dropped(hass, Drop.UNKNOWN_SERIAL) == 1
    assert relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)]
    assert charger.client.is_connected()


async def test_only_the_own_command_topic_can_be_subscribed(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """Other subscriptions are refused in the SUBACK, counted, and hear nothing."""
    charger = await clients()
    codes = await charger.subscribe(
        "#",
        "Dart/Send_mqtt/+",
        STATUS,
        f"{COMMAND}/x",
        f"Dart/Send_mqtt/{OTHER_SN}",
        COMMAND,
    )
    assert [code.is_failure for code in codes] == [True] * 5 + [False]
    assert dropped(hass, Drop.FORBIDDEN_SUBSCRIPTION) == 4
    assert dropped(hass, Drop.UNKNOWN_SERIAL) == 1

    # The refused subscription to the status topic does not leak reports.
    other = await clients("ESP32_other")
    other.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    await asyncio.sleep(0.1)
    assert charger.messages.empty()


@pytest.mark.usefixtures("release")
async def test_a_topic_amqtt_does_not_name_is_refused(hass: HomeAssistant) -> None:
    """Without a topic there is nothing to allow."""
    broker = running_gateway(hass)._broker
    assert broker is not None
    plugin = broker.plugins_manager.get_plugin("_GatewayPlugin")

    assert not await plugin.topic_filtering(
        session=None, topic=None, action=Action.SUBSCRIBE
    )


async def test_a_persistent_offender_is_disconnected(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twenty forbidden publishes, however slow, end the session."""
    monkeypatch.setattr(limits, "RATE_BURST", 1000)  # isolate the topic rule
    charger = await clients()
    for _ in range(limits.MAX_VIOLATIONS - 1):
        charger.publish("not/for/you", b"{}")
    await wait_for(
        lambda: dropped(hass, Drop.FOREIGN_TOPIC) == limits.MAX_VIOLATIONS - 1
    )
    assert charger.client.is_connected()

    for _ in range(10):  # some of these are still in amqtt's hands at the kick
        charger.publish("not/for/you", b"{}")
    await charger.wait_disconnected()
    assert counters(hass)["disconnected"] == {Disconnect.VIOLATIONS: 1}
    await wait_for(lambda: connected_clients(hass) == [])
