"""The advertising data of a charger in provisioning mode, as bytes on the air.

The proxy hands Home Assistant the raw AD structures, as an ESPHome proxy with
raw advertisements does, so Home Assistant's own parser decodes them.
"""

from __future__ import annotations

from .const import ADVERTISED_NAME, MANUFACTURER_ID, MANUFACTURER_SUFFIX

_AD_FLAGS = 0x01
_AD_COMPLETE_LOCAL_NAME = 0x09
_AD_MANUFACTURER_SPECIFIC = 0xFF
# LE General Discoverable, BR/EDR not supported: what an ESP32 peripheral sends.
_FLAGS = 0x06
_LEGACY_ADVERTISEMENT_SIZE = 31


def mac_bytes(address: str) -> bytes:
    """``AA:BB:CC:DD:EE:FF`` as six bytes, most significant first."""
    raw = bytes.fromhex(address.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"not a Bluetooth address: {address!r}")
    return raw


def _structure(ad_type: int, payload: bytes) -> bytes:
    return bytes((len(payload) + 1, ad_type)) + payload


def charger_advertisement(address: str) -> bytes:
    """Flags, the local name ``CHARGER_PILE`` and the manufacturer data.

    The manufacturer data is company id 0x5566 (little endian on the air),
    then the charger's 6-byte Bluetooth MAC, then ASCII ``ESP``.
    """
    raw = (
        _structure(_AD_FLAGS, bytes((_FLAGS,)))
        + _structure(_AD_COMPLETE_LOCAL_NAME, ADVERTISED_NAME.encode())
        + _structure(
            _AD_MANUFACTURER_SPECIFIC,
            MANUFACTURER_ID.to_bytes(2, "little")
            + mac_bytes(address)
            + MANUFACTURER_SUFFIX,
        )
    )
    # 30 bytes: it fits one legacy advertisement, no scan response needed.
    assert len(raw) <= _LEGACY_ADVERTISEMENT_SIZE
    return raw
