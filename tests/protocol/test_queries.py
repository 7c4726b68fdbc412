"""The charger's queries: firmware version and LoRa radio, asked with ``null``."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.novabot.protocol import (
    LoraInfo,
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


def test_lora_info_reads_the_channel_and_the_noise_in_dbm() -> None:
    # rssi is the radio's ambient noise as a raw byte: 157 is -99 dBm.
    assert lora_info({"channel": 17, "addr": 718, "rssi": 157}) == LoraInfo(
        channel=17, noise_dbm=-99
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"channel": 17, "rssi": -1}, LoraInfo(17, None)),  # a failed measurement
        ({"channel": 17}, LoraInfo(17, None)),
        ({"rssi": 146}, LoraInfo(None, -110)),
        ({"channel": "17", "rssi": True}, LoraInfo(None, None)),
        ({"channel": 256, "rssi": 256}, LoraInfo(None, None)),
        ({"channel": 0, "rssi": 0}, LoraInfo(0, -256)),
        (None, None),
        ([17, 157], None),
    ],
)
def test_lora_info_keeps_only_readings_that_make_sense(
    value: Any, expected: LoraInfo | None
) -> None:
    assert lora_info(value) == expected
