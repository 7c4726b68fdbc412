"""What the charger says about itself: its firmware version and LoRa radio.

Both are asked when the charger appears (its first report, a report after a
silence, a switch to encrypted reports: it may have been updated), and the
radio every ten minutes while it reports (its noise reading changes rarely).
A charger that does not answer just shows no value. The radio's pairing, the
address and channel its mower shares, is kept in the entry: provisioning the
charger again re-sends exactly that pairing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_time_interval

from .const import (
    CONF_CHARGER_ADDRESS,
    CONF_CHARGER_CHANNEL,
    DOMAIN,
    LORA_FIELD,
    LORA_POLL_INTERVAL,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from datetime import datetime

    from .coordinator import NovabotCoordinator
    from .protocol import LoraInfo


class ChargerDetails:
    """The charger's firmware version and LoRa radio, kept up to date."""

    def __init__(self, coordinator: NovabotCoordinator) -> None:
        self._coordinator = coordinator
        self._asked = False
        self.firmware_version: str | None = None
        self.lora: LoraInfo | None = None

    def async_start(self) -> None:
        """Ask for the radio every ten minutes while the entry is loaded."""
        entry = self._coordinator.config_entry
        entry.async_on_unload(
            async_track_time_interval(
                self._coordinator.hass, self._poll_lora, LORA_POLL_INTERVAL
            )
        )

    def charger_changed(self) -> None:
        """The charger may have been updated: ask again with its next report."""
        self._asked = False

    def report_accepted(self) -> None:
        """Ask what is not asked yet, once the charger is heard."""
        if self._asked:
            return
        self._asked = True
        self._background(self._async_ask_everything(), "details")

    @callback
    def _poll_lora(self, _now: datetime) -> None:
        if self._coordinator.online:
            self._background(self._async_ask_lora(), "LoRa info")

    async def _async_ask_everything(self) -> None:
        if version := await self._coordinator.commands.async_firmware_version():
            self._set_firmware_version(version)
        await self._async_ask_lora()

    async def _async_ask_lora(self) -> None:
        lora = await self._coordinator.commands.async_lora_info()
        if lora is not None and lora != self.lora:
            self.lora = lora
            self._keep_pairing(lora)
            self._coordinator.async_update_fields(frozenset({LORA_FIELD}))

    def _keep_pairing(self, lora: LoraInfo) -> None:
        """Keep the radio's pairing in the entry when the charger gave both halves."""
        if (pairing := lora.pairing) is None:
            return
        entry = self._coordinator.config_entry
        kept = {
            CONF_CHARGER_ADDRESS: pairing.address,
            CONF_CHARGER_CHANNEL: pairing.channel,
        }
        if any(entry.data.get(key) != value for key, value in kept.items()):
            self._coordinator.hass.config_entries.async_update_entry(
                entry, data={**entry.data, **kept}
            )

    def _set_firmware_version(self, version: str) -> None:
        if version == self.firmware_version:
            return
        self.firmware_version = version
        coordinator = self._coordinator
        registry = dr.async_get(coordinator.hass)
        if device := registry.async_get_device_by_identifier(
            (DOMAIN, coordinator.serial_number), coordinator.config_entry.entry_id
        ):
            registry.async_update_device(device.id, sw_version=version)

    def _background(self, coroutine: Coroutine[Any, Any, None], what: str) -> None:
        coordinator = self._coordinator
        coordinator.config_entry.async_create_background_task(
            coordinator.hass, coroutine, f"{DOMAIN} {what} {coordinator.serial_number}"
        )
