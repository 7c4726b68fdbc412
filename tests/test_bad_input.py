"""Bad input: whatever arrives on a charger's topic that is not its report.

It is ignored, counted by reason for the diagnostics, and logged at most at
debug level: anyone who can publish on the broker can send it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from custom_components.novabot.protocol.framing import encode_json

from .common import (
    ENABLED_KEYS,
    OMIT,
    OTHER_SERIAL,
    SERIAL,
    encrypt,
    report,
    send,
    setup_entry,
    states,
    warnings_or_errors,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

pytestmark = pytest.mark.usefixtures("mqtt_mock")

TOO_LARGE = encode_json(
    {"up_status_info": {"charger_status": 1}, "padding": "x" * 4096}
)


# Why a message is ignored, as the diagnostics count it.
NOT_BLOCKS = "encrypted payload is not a multiple of 16 bytes"
WRONG_KEY = "wrong key or not a message"
NOT_INTEGER = "charger_status is not an integer"
BAD_INPUT = [  # (id, payload, why it is ignored)
    ("non-utf8", b'{"up_status_info":"\xff\xfe"}', "frame is not valid UTF-8"),
    ("not-json", b"{up_status_info: 1}", "frame is not valid JSON"),
    ("truncated-json", b"{", "frame is not valid JSON"),
    ("json-array", b"[1, 2, 3, 4, 5, 6]", NOT_BLOCKS),
    ("json-array-of-16-byte-blocks", b"[" + b" " * 62 + b"]", WRONG_KEY),
    ("json-string", b'"up_status_info"', WRONG_KEY),
    ("empty", b"", NOT_BLOCKS),
    ("other-message", b'{"foo": 1}', "not an up_status_info report"),
    ("array-body", b'{"up_status_info": [285212929]}', "report is not an object"),
    (
        "number-message",
        b'{"type": "up_status_info", "message": 3}',
        "report is not an object",
    ),
    ("no-bits", report(charger_status=OMIT), "charger_status is missing"),
    ("null-bits", report(charger_status=None), "charger_status is missing"),
    ("bool", report(charger_status=True), NOT_INTEGER),
    ("float", report(charger_status=285212929.0), NOT_INTEGER),
    ("string", report(charger_status="285212929"), NOT_INTEGER),
    ("negative", report(charger_status=-1), "charger_status is out of range"),
    ("2**32", report(charger_status=2**32), "charger_status is out of range"),
    ("bool-field", report(mower_error=False), "mower_error is not an integer"),
    ("array-field", report(mower_x=[1]), "mower_x is not an integer"),
    ("negative-field", report(mower_y=-5), "mower_y is out of range"),
    (
        "battery-over-100",
        report(battery_capacity=101),
        "battery_capacity is out of range",
    ),
    ("huge", TOO_LARGE, "payload too large"),
    ("huge-encrypted", encrypt(TOO_LARGE), "payload too large"),
    ("wrong-key", report(encrypt_for=OTHER_SERIAL), WRONG_KEY),
    (
        "wrong-key-other-shape",
        report(encrypt_for=OTHER_SERIAL, shape="type"),
        WRONG_KEY,
    ),
    ("17-bytes", bytes(range(17)), NOT_BLOCKS),
    ("encrypted-array", encrypt(b"[1,2,3]"), WRONG_KEY),
]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [pytest.param(payload, reason, id=ident) for ident, payload, reason in BAD_INPUT],
)
async def test_bad_input_is_ignored_and_counted_by_reason(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, payload: bytes, reason: str
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report(mower_error=1, battery_capacity=80))
    coordinator = entry.runtime_data
    before = states(hass, (*ENABLED_KEYS, "battery_capacity"))
    status = coordinator.data

    await send(hass, payload)

    assert coordinator.reports_ignored == {reason: 1}
    assert coordinator.reports_accepted == 1
    assert coordinator.data is status
    assert states(hass, (*ENABLED_KEYS, "battery_capacity")) == before
    assert warnings_or_errors(caplog) == []


async def test_bad_input_is_counted_per_reason(hass: HomeAssistant) -> None:
    entry = await setup_entry(hass)

    for payload in (b"{x", b"{y", report(charger_status=-1), bytes(17)):
        await send(hass, payload)

    assert entry.runtime_data.reports_ignored == {
        "frame is not valid JSON": 2,
        "charger_status is out of range": 1,
        "encrypted payload is not a multiple of 16 bytes": 1,
    }


async def test_reports_on_another_charger_topic_change_nothing(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    before = states(hass, ENABLED_KEYS)

    await send(hass, report(charger_status=0, mower_error=7), OTHER_SERIAL)
    await send(hass, report(charger_status=0), topic=f"Dart/Receive_mqtt/{SERIAL}/x")
    await send(hass, report(charger_status=0), topic=f"Dart/Send_mqtt/{SERIAL}")

    coordinator = entry.runtime_data
    assert states(hass, ENABLED_KEYS) == before
    assert coordinator.reports_accepted == 1
    assert coordinator.reports_ignored == {}
    assert warnings_or_errors(caplog) == []
