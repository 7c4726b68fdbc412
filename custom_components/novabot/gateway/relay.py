"""The relay: reports up to Home Assistant's MQTT, commands down into the broker.

Up: the reports the rules let through are published on Home Assistant's MQTT
in the order they arrived, at most ``MAX_UPLINK_IN_FLIGHT`` waiting at once.
Down: the relay subscribes there to each admitted charger's command topic and
hands a command to the broker only when that charger listens for it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from amqtt.mqtt.constants import QOS_0
from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from ..const import LOGGER
from ..coordinator import payload_bytes
from ..protocol.messages import command_topic
from . import limits
from .counters import Drop

if TYPE_CHECKING:
    from amqtt.broker import Broker

    from .counters import _Counters


def _charger_listening(broker: Broker, topic: str) -> bool:
    """Whether a connected client subscribed to exactly ``topic`` (the only kind allowed)."""
    subscribers = broker.subscriptions.get(topic, ())
    return any(session.transitions.state == "connected" for session, _ in subscribers)


class _Relay:
    """Both directions between the broker and Home Assistant's MQTT."""

    def __init__(self, hass: HomeAssistant, counters: _Counters) -> None:
        self._hass = hass
        self._counters = counters
        self._broker: Broker | None = None
        self._command_unsubscribes: dict[str, CALLBACK_TYPE] = {}
        self._uplink: set[asyncio.Task[None]] = set()

    @callback
    def attach(self, broker: Broker) -> None:
        """Hand commands to ``broker`` from now on (they are dropped until then)."""
        self._broker = broker

    async def async_subscribe(self, serial_number: str) -> None:
        """Relay a charger's commands."""
        # QoS 1 on Home Assistant's own link to its broker; the last hop, to
        # the charger, is QoS 0 (see _async_relay_down).
        self._command_unsubscribes[serial_number] = await mqtt.async_subscribe(
            self._hass,
            command_topic(serial_number),
            self._async_relay_down,
            qos=1,
            encoding=None,
        )

    @callback
    def unsubscribe(self, serial_number: str) -> None:
        """Relay a charger's commands no longer."""
        if unsubscribe := self._command_unsubscribes.pop(serial_number, None):
            unsubscribe()

    @callback
    def unsubscribe_all(self) -> None:
        """Relay no more commands."""
        for unsubscribe in self._command_unsubscribes.values():
            unsubscribe()
        self._command_unsubscribes.clear()

    async def async_stop(self) -> None:
        """Cancel the reports still waiting on Home Assistant's MQTT."""
        for task in self._uplink:
            task.cancel()
        if self._uplink:
            await asyncio.wait(self._uplink)
        self._broker = None

    @callback
    def relay_up(self, topic: str, payload: bytes | bytearray) -> None:
        """Publish a client's report, already allowed by the rules, on Home Assistant's MQTT."""
        if len(self._uplink) >= limits.MAX_UPLINK_IN_FLIGHT:
            self._counters.dropped[Drop.UPLINK_BACKLOG] += 1
            return
        # Started eagerly, so publishes reach Home Assistant's MQTT client in
        # the order they arrived; each then waits for its own acknowledgement.
        task = self._hass.async_create_background_task(
            self._async_publish_up(topic, bytes(payload)),
            "novabot gateway relay up",
            eager_start=True,
        )
        if not task.done():
            self._uplink.add(task)
            task.add_done_callback(self._uplink.discard)

    async def _async_publish_up(self, topic: str, payload: bytes) -> None:
        try:
            await mqtt.async_publish(self._hass, topic, payload, qos=0, retain=False)
        except HomeAssistantError as err:
            self._counters.dropped[Drop.MQTT_UNAVAILABLE] += 1
            LOGGER.debug("Gateway could not relay %s: %s", topic, err)
            return
        self._counters.relayed_up += 1
        LOGGER.debug("Gateway relayed %s bytes up on %s", len(payload), topic)

    @callback
    def _async_relay_down(self, msg: mqtt.ReceiveMessage) -> None:
        """A command for a charger arrived on Home Assistant's MQTT."""
        payload = payload_bytes(msg.payload)
        if len(payload) + len(msg.topic) + 8 > limits.MAX_PACKET_SIZE:
            self._counters.dropped[Drop.COMMAND_TOO_LARGE] += 1
            return
        broker = self._broker
        if broker is None or not _charger_listening(broker, msg.topic):
            self._counters.dropped[Drop.CHARGER_NOT_CONNECTED] += 1
            return
        # amqtt queues the broadcast without waiting, so the eager task is
        # already done here. At QoS 0: the charger's reply says whether the
        # command arrived, and a charger gone silent (its connection still
        # open) leaves amqtt no PUBACK to wait for and complain about.
        self._hass.async_create_task(
            broker.internal_message_broadcast(msg.topic, payload, qos=QOS_0),
            "novabot gateway relay down",
            eager_start=True,
        )
        self._counters.relayed_down += 1
        LOGGER.debug("Gateway relayed %s bytes down on %s", len(payload), msg.topic)
