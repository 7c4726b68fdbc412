"""The virtual charger on Home Assistant's MQTT, for the integration's tests.

It subscribes to its command topic through Home Assistant's MQTT (the test
harness's mocked socket delivers what Home Assistant publishes, as a broker
would), lets :class:`ChargerFirmware` decide, and publishes each reply when the
firmware would. Reports are the test's to send (``send_report``).

Use the ``mqtt_charger`` fixture (plain, firmware v0.3.6) or
``mqtt_charger_factory(encrypt=True, acknowledges=False, ...)``; with
``reporting_charger(...)`` the charger's entry is set up too, and its first
report (with the queries it causes) handled. The charger boots when it
connects (``started``: Home Assistant's clock). Mower commands are answered
quickly by default (``ack_time``, ``ack_wait``); ``reply_timing=ReplyTiming.FIRMWARE``
answers 1 to 4 s later, as the firmware does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from .charger_firmware import ChargerFirmware
from .common import LORA_ADDRESS, SERIAL, setup_entry

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Awaitable, Callable


class MqttCharger:
    """A :class:`ChargerFirmware` answering over Home Assistant's MQTT."""

    def __init__(self, hass: HomeAssistant, firmware: ChargerFirmware) -> None:
        self.hass = hass
        self.firmware = firmware
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._pending: set[asyncio.TimerHandle] = set()

    @property
    def status_topic(self) -> str:
        """Where it reports and replies."""
        return f"Dart/Receive_mqtt/{self.firmware.serial_number}"

    async def async_connect(self) -> None:
        """Subscribe to its command topic, as the charger does (QoS 1)."""
        self._unsubscribe = await mqtt.async_subscribe(
            self.hass,
            f"Dart/Send_mqtt/{self.firmware.serial_number}",
            self._command_received,
            qos=1,
            encoding=None,
        )

    def disconnect(self) -> None:
        """Unsubscribe and forget replies not sent yet."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()

    def send_report(self) -> None:
        """Publish a report now (a charger busy with a command skips it)."""
        now = self.hass.loop.time()
        if not self.firmware.busy(now):
            async_fire_mqtt_message(
                self.hass, self.status_topic, self.firmware.report(now)
            )

    async def async_report(self) -> None:
        """Publish a report; let Home Assistant handle it, and the queries it asks."""
        self.send_report()
        await self.hass.async_block_till_done()

    @callback
    def _command_received(self, message: mqtt.ReceiveMessage) -> None:
        payload = message.payload
        assert isinstance(payload, bytes)
        now = self.hass.loop.time()
        answer = self.firmware.receive(payload, now)
        if answer is None:
            return
        when, reply = answer
        if when <= now:
            # A task, so that block_till_done waits for the answer too.
            self.hass.async_create_task(self._async_reply(reply), eager_start=False)
            return
        handle: asyncio.TimerHandle | None = None

        def reply_later() -> None:
            self._pending.discard(handle)  # type: ignore[arg-type]
            async_fire_mqtt_message(self.hass, self.status_topic, reply)

        handle = self.hass.loop.call_at(when, reply_later)
        self._pending.add(handle)

    async def _async_reply(self, reply: bytes) -> None:
        async_fire_mqtt_message(self.hass, self.status_topic, reply)


type ChargerFactory = Callable[..., Awaitable[MqttCharger]]


@pytest.fixture
async def mqtt_charger_factory(
    hass: HomeAssistant, mqtt_mock: Any
) -> AsyncIterator[ChargerFactory]:
    """Connect virtual chargers (``ChargerFirmware`` options); all leave afterwards."""
    chargers: list[MqttCharger] = []

    async def connect(serial_number: str = SERIAL, **options: Any) -> MqttCharger:
        # The tests' charger has its own LoRa address, the same every run.
        options.setdefault("lora_address", LORA_ADDRESS)
        firmware = ChargerFirmware(serial_number, started=hass.loop.time(), **options)
        charger = MqttCharger(hass, firmware)
        await charger.async_connect()
        chargers.append(charger)
        return charger

    yield connect
    for charger in chargers:
        charger.disconnect()


@pytest.fixture
async def mqtt_charger(mqtt_charger_factory: ChargerFactory) -> MqttCharger:
    """A charger with firmware v0.3.6 and a mower that acknowledges."""
    return await mqtt_charger_factory()


@pytest.fixture
def reporting_charger(
    hass: HomeAssistant, mqtt_charger_factory: ChargerFactory
) -> ChargerFactory:
    """Connect a charger (``ChargerFirmware`` options), set its entry up, report once."""

    async def start(**options: Any) -> MqttCharger:
        charger = await mqtt_charger_factory(**options)
        await setup_entry(hass)
        await charger.async_report()
        return charger

    return start
