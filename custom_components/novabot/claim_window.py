"""The claim window: wait until a newly provisioned charger really reports.

The charger reboots, joins the WiFi and connects to the broker (or gateway);
its first valid report proves the whole path works. Other chargers heard
meanwhile are noted: one of them may be the charger the user meant.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.core import callback

from .coordinator import payload_bytes
from .protocol import (
    STATUS_TOPIC_FILTER,
    InvalidMessageError,
    PayloadCodec,
    decode_message,
    parse_status,
    serial_number_from_topic,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    from homeassistant.core import HomeAssistant

    from .protocol import ChargerStatus

CLAIM_TIMEOUT = 120.0  # the charger reboots, joins WiFi and connects: ~30 s usually


class ClaimWindow:
    """Listens on every charger's report topic for one serial number's report."""

    def __init__(
        self, hass: HomeAssistant, serial_number: str, configured: Collection[str]
    ) -> None:
        self._hass = hass
        self._serial_number = serial_number
        self._codec = PayloadCodec(serial_number)
        self._configured = configured
        self.other_serial_numbers: set[str] = set()

    async def async_wait(self, timeout: float = CLAIM_TIMEOUT) -> ChargerStatus | None:
        """The charger's first valid report, or ``None`` after ``timeout`` seconds."""
        heard: asyncio.Future[ChargerStatus] = self._hass.loop.create_future()

        @callback
        def report_received(message: mqtt.ReceiveMessage) -> None:
            sender = serial_number_from_topic(message.topic)
            if sender != self._serial_number:
                if sender and sender not in self._configured:
                    self.other_serial_numbers.add(sender)
                return
            try:
                status = parse_status(
                    decode_message(payload_bytes(message.payload), self._codec).document
                )
            except InvalidMessageError:
                return
            if not heard.done():
                heard.set_result(status)

        unsubscribe = await mqtt.async_subscribe(
            self._hass, STATUS_TOPIC_FILTER, report_received, encoding=None
        )
        try:
            async with asyncio.timeout(timeout):
                return await heard
        except TimeoutError:
            return None
        finally:
            unsubscribe()
