"""What Home Assistant asks the charger, and what it asks the mower through it.

Every message goes through one :class:`CommandChannel` per charger, so they
reach the charger one at a time, encrypted when the charger encrypts, each
waiting for its reply. Queries fail quietly (a charger that does not answer
simply shows no value); a mower command that fails raises an error the user
sees, saying why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN, LOGGER
from .protocol import (
    CommandChannel,
    command_topic,
    firmware_query,
    firmware_version,
    lora_info,
    lora_query,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .protocol import LoraInfo, Reply


class ChargerCommands:
    """Queries and mower commands for one charger, over Home Assistant's MQTT."""

    def __init__(self, hass: HomeAssistant, serial_number: str) -> None:
        self._hass = hass
        self._serial_number = serial_number
        self.channel = CommandChannel(self._async_publish)

    async def _async_publish(self, payload: bytes) -> None:
        # QoS 1, as the charger subscribes: a command is worth a retransmission.
        await mqtt.async_publish(
            self._hass, command_topic(self._serial_number), payload, qos=1
        )

    async def async_firmware_version(self) -> str | None:
        """The charger's firmware version, if it answers."""
        reply = await self._async_query(firmware_query())
        return firmware_version(reply.value) if reply and reply.ok else None

    async def async_lora_info(self) -> LoraInfo | None:
        """The charger's LoRa channel and radio noise, if it answers."""
        reply = await self._async_query(lora_query())
        return lora_info(reply.value) if reply and reply.ok else None

    async def _async_query(self, command: dict[str, Any]) -> Reply | None:
        try:
            return await self.channel.request(command)
        except HomeAssistantError as err:
            LOGGER.debug("Could not ask %s: %s", self._serial_number, err)
            return None

    async def async_mower(self, command: dict[str, Any]) -> None:
        """Relay a command to the mower; raise unless the mower acknowledged it."""
        try:
            reply = await self.channel.request(command)
        except HomeAssistantError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="command_not_sent"
            ) from err
        if reply is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="charger_not_answering",
                translation_placeholders={"serial_number": self._serial_number},
            )
        if not reply.ok:
            # The charger cannot tell a refusal from silence: both are result 1.
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="mower_not_acknowledged"
            )
