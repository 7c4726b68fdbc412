"""The charger's queries: its firmware version and its LoRa radio.

Both must be sent with the value JSON ``null`` (firmware v0.4.0 silently
ignores ``0`` or ``{}``); the charger answers them from memory, at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .commands import MAX_LORA_ADDRESS, MAX_LORA_CHANNEL, RadioPairing, bounded_int

FIRMWARE_QUERY = "ota_version_info"
LORA_QUERY = "get_lora_info"
# The radio's noise reading is a raw byte; the firmware takes a channel quieter
# than 146 (-110 dBm). -1 means the measurement failed.
NOISE_OFFSET = 256


def firmware_query() -> dict[str, Any]:
    """Ask for the firmware version."""
    return {FIRMWARE_QUERY: None}


def lora_query() -> dict[str, Any]:
    """Ask for the radio's pairing (address, channel) and its ambient noise."""
    return {LORA_QUERY: None}


def firmware_version(value: Any) -> str | None:
    """The version in an ``ota_version_info`` reply's value, if it has a usable one.

    Chargers answer ``{"system": "v0.0.1", "version": "v0.4.0"}``; a bare string
    is accepted too.
    """
    if isinstance(value, Mapping):
        value = value.get("version")
    if isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable():
        return value
    return None


@dataclass(frozen=True, slots=True)
class LoraInfo:
    """The charger's LoRa radio: its address and channel, and the noise in dBm."""

    address: int | None
    channel: int | None
    noise_dbm: int | None

    @property
    def pairing(self) -> RadioPairing | None:
        """The address and channel its mower must share, when both are known."""
        if self.address is None or self.channel is None:
            return None
        return RadioPairing(self.address, self.channel)


def lora_info(value: Any) -> LoraInfo | None:
    """Read a ``get_lora_info`` reply's value (``{"channel", "addr", "rssi"}``)."""
    if not isinstance(value, Mapping):
        return None
    # -1, the failed measurement, is no reading.
    rssi = bounded_int(value.get("rssi"), NOISE_OFFSET - 1)
    return LoraInfo(
        address=bounded_int(value.get("addr"), MAX_LORA_ADDRESS),
        channel=bounded_int(value.get("channel"), MAX_LORA_CHANNEL),
        noise_dbm=None if rssi is None else rssi - NOISE_OFFSET,
    )
