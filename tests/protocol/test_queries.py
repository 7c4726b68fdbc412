"""The charger's queries: firmware version and LoRa radio, asked with ``null``."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.novabot.protocol import (
    LoraInfo,
    RadioPairing,
    encode_command,
    firmware_query,
    firmware_version,
    lora_info,
    lora_query,
)


def test_queries_ask_with_a_null_value() -> None:
    # v0.4.0 ignores 0 or {} silently.
    assert encode_command(firmware_query()) == b'{"ota_version_info":null}'
    assert encode_command(lora_query()) == b'{"get_lora_info":null}'


@pytest.mark.parametrize(
    ("value", "version"),
    [
        ({"system": "v0.0.1", "version": "v0.4.0"}, "v0.4.0"),
        ({"version": "v0.3.6"}, "v0.3.6"),
        ("v0.4.0", "v0.4.0"),
        ("v" * 64, "v" * 64),
    ],
    ids=["system-and-version", "version", "string", "64-characters"],
)
def test_firmware_version_is_read_from_the_reply_value(
    value: Any, version: str
) -> None:
    assert firmware_version(value) == version


@pytest.mark.parametrize(
    "value", [None, 40, "", "v" * 65, "v0.4\n", {"ver": "v1"}, {"version": 4}, [1]]
)
def test_firmware_version_is_none_for_anything_else(value: Any) -> None:
    assert firmware_version(value) is None


def test_lora_info_reads_the_pairing_and_the_noise_in_dbm() -> None:
    # rssi is the radio's ambient noise as a raw byte: 157 is -99 dBm.
    info = lora_info({"channel": 17, "addr": 3251, "rssi": 157})

    assert info == LoraInfo(address=3251, channel=17, noise_dbm=-99)
    assert info is not None
    assert info.pairing == RadioPairing(address=3251, channel=17)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"channel": 17, "rssi": -1}, LoraInfo(None, 17, None)),  # failed measurement
        ({"channel": 17}, LoraInfo(None, 17, None)),
        ({"rssi": 146}, LoraInfo(None, None, -110)),
        ({"channel": "17", "rssi": True}, LoraInfo(None, None, None)),
        ({"channel": 81, "rssi": 256}, LoraInfo(None, None, None)),
        ({"channel": 0, "rssi": 0, "addr": 0}, LoraInfo(0, 0, -256)),
        ({"addr": 65535, "channel": 80}, LoraInfo(65535, 80, None)),
        ({"addr": 65536, "channel": 80}, LoraInfo(None, 80, None)),
        ({"addr": "3251", "channel": 15}, LoraInfo(None, 15, None)),
        (None, None),
        ([17, 157], None),
    ],
)
def test_lora_info_keeps_only_readings_that_make_sense(
    value: Any, expected: LoraInfo | None
) -> None:
    assert lora_info(value) == expected


def test_half_a_pairing_is_no_pairing() -> None:
    assert LoraInfo(address=None, channel=17, noise_dbm=None).pairing is None
    assert LoraInfo(address=3251, channel=None, noise_dbm=None).pairing is None
