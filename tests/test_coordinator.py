"""The coordinator: reports in, firmware version out, silence, repairs, bad input."""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity as entity_helper,
    issue_registry as ir,
)
import pytest

from custom_components.novabot.const import (
    CONF_STALE_TIMEOUT,
    DOMAIN,
)
from custom_components.novabot.coordinator import CLAIMED_STATUS
from custom_components.novabot.protocol import ChargerStatus
from custom_components.novabot.protocol.framing import encode_json

from .common import (
    CHARGER_STATUS,
    COMMAND_TOPIC,
    ENABLED_KEYS,
    ENTITIES,
    MOWER_KEYS,
    OMIT,
    OTHER_SERIAL,
    SERIAL,
    encrypt,
    entity_id,
    entry_data,
    firmware_reply,
    move_time,
    report,
    report_document,
    send,
    setup_entry,
    state,
    states,
)

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from custom_components.novabot.coordinator import NovabotCoordinator

    from .common import MockConfigEntry

FIRMWARE_QUERY = b'{"ota_version_info":null}'
LOGGER_NAME = "custom_components.novabot"
SILENT_LINE = "sent no report"
BACK_LINE = "is reporting again"


def device(hass: HomeAssistant) -> dr.DeviceEntry:
    """The charger's device (owned by the only Novabot entry)."""
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    found = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SERIAL), entry.entry_id
    )
    assert found is not None
    return found


def coordinator_of(entry: MockConfigEntry) -> NovabotCoordinator:
    return entry.runtime_data


def firmware_queries(mqtt_mock: MqttMockHAClient) -> list[bytes]:
    """Payloads published to the charger's command topic."""
    return [
        call.args[1]
        for call in mqtt_mock.async_publish.call_args_list
        if call.args[0] == COMMAND_TOPIC
    ]


def log_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == LOGGER_NAME and text in record.getMessage()
    ]


def _noise(record: logging.LogRecord, *, undecodable: bool) -> bool:
    message = record.getMessage()
    return (
        # Home Assistant warns about every custom integration it loads...
        "has not been tested by Home Assistant" in message
        # ...and asyncio's debug mode about "slow" steps when the clock jumps.
        or (record.name == "asyncio" and message.startswith("Executing"))
        # ...and mocked MQTT when a clock jump overtakes its acknowledgements.
        or message.startswith("No ACK from MQTT server")
        # MQTT discovery (the manifest's Dart/Receive_mqtt/+) decodes payloads as
        # UTF-8 and warns about binary ones: see the xfail test about it.
        or (
            undecodable
            and record.name == "homeassistant.components.mqtt.client"
            and message.startswith("Can't decode payload")
            and "'novabot'" in message
        )
    )


def warnings_or_errors(
    caplog: pytest.LogCaptureFixture, *, undecodable: bool = False
) -> list[str]:
    """WARNING and ERROR lines, but for known noise.

    ``undecodable=True`` also ignores MQTT discovery's warning about a payload
    that is not UTF-8 (a known problem with its own xfail test).
    """
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and not _noise(record, undecodable=undecodable)
    ]


def all_unavailable(hass: HomeAssistant, keys: tuple[str, ...] = ENABLED_KEYS) -> bool:
    return all(value == STATE_UNAVAILABLE for value in states(hass, keys).values())


def none_unavailable(hass: HomeAssistant, keys: tuple[str, ...] = ENABLED_KEYS) -> bool:
    return all(value != STATE_UNAVAILABLE for value in states(hass, keys).values())


@callback
def _novabot_entity(event_data: Any) -> bool:
    return event_data["entity_id"].split(".")[1].startswith("novabot_charger")


@pytest.fixture
def state_events(hass: HomeAssistant) -> dict[str, list[Event[Any]]]:
    """Every state_changed and state_reported event, from now on."""
    events: dict[str, list[Event[Any]]] = {
        EVENT_STATE_CHANGED: [],
        EVENT_STATE_REPORTED: [],
    }
    for event_type, recorded in events.items():

        @callback
        def record(event: Event[Any], recorded: list[Event[Any]] = recorded) -> None:
            recorded.append(event)

        hass.bus.async_listen(event_type, record, event_filter=_novabot_entity)
    return events


# --- Reports and values -------------------------------------------------------


async def test_first_report_makes_entities_available_with_its_values(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)
    assert all_unavailable(hass)

    await send(hass, report(mower_error=5))

    assert states(hass, ENABLED_KEYS) == {
        "gps_satellites": "17",
        "lora_heartbeat_misses": "5",
        "mower_status": "unavailable",  # the mower missed 5 heartbeats: stale
        "mower_activity": "unavailable",
        "mower_battery": "unavailable",
        "mower": "unavailable",
        "gps_fix": "on",
        "rtk_fix": "on",
        "mower_connected": "off",
    }
    coordinator = coordinator_of(entry)
    assert coordinator.data == ChargerStatus(
        charger_status=CHARGER_STATUS,
        mower_status=0,
        mower_info=0,
        mower_x=0,
        mower_y=0,
        mower_z=0,
        mower_info1=0,
        mower_error=5,
    )
    assert coordinator.encrypted is False
    assert coordinator.reports_accepted == 1


async def test_encrypted_reports_are_decrypted_with_the_charger_key(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)

    await send(hass, report(encrypt_for=SERIAL, charger_status=0x05000001))

    assert state(hass, "gps_satellites").state == "5"
    assert state(hass, "gps_fix").state == "on"
    assert state(hass, "rtk_fix").state == "off"
    assert coordinator_of(entry).encrypted is True


async def test_every_report_counts_and_sets_the_last_report_time(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_entry(hass)
    coordinator = coordinator_of(entry)
    assert coordinator.last_report is None

    await send(hass, report())
    first = coordinator.last_report
    await move_time(hass, freezer, 2)
    await send(hass, report())  # identical: counted without decoding again
    await move_time(hass, freezer, 2)
    await send(hass, report(mower_error=3))

    assert coordinator.reports_accepted == 3
    assert first is not None
    assert coordinator.last_report is not None
    assert (coordinator.last_report - first).total_seconds() == pytest.approx(4, abs=1)


# --- Identical and changed reports --------------------------------------------


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_identical_reports_write_no_state_at_all(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    state_events: dict[str, list[Event[Any]]],
    encrypted: bool,
) -> None:
    await setup_entry(hass)
    payload = report(encrypt_for=SERIAL if encrypted else None)
    await send(hass, payload)
    state_events[EVENT_STATE_CHANGED].clear()
    state_events[EVENT_STATE_REPORTED].clear()

    original = entity_helper.Entity.async_write_ha_state
    with patch.object(
        entity_helper.Entity,
        "async_write_ha_state",
        autospec=True,
        side_effect=original,
    ) as write_state:
        for _ in range(30):
            await send(hass, payload)

    assert write_state.call_count == 0
    assert state_events[EVENT_STATE_CHANGED] == []
    assert state_events[EVENT_STATE_REPORTED] == []


async def test_same_status_in_another_shape_or_encryption_writes_no_state(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    state_events: dict[str, list[Event[Any]]],
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    state_events[EVENT_STATE_CHANGED].clear()
    state_events[EVENT_STATE_REPORTED].clear()

    await send(hass, report("type"))
    await send(hass, report(encrypt_for=SERIAL))
    body = report_document()["up_status_info"]
    await send(hass, encode_json({"up_status_info": dict(reversed(body.items()))}))

    assert state_events[EVENT_STATE_CHANGED] == []
    assert state_events[EVENT_STATE_REPORTED] == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("change", "changed_keys"),
    [
        (
            {"mower_error": 5},  # the mower stops answering: its values are stale
            {"lora_heartbeat_misses", "mower_connected", *MOWER_KEYS},
        ),
        ({"mower_error": 0, "mower_x": 7}, {"mower_x"}),
        ({"charger_status": 0x12000101}, {"gps_satellites", "charger_status"}),
        ({"charger_status": 0x11000001}, {"rtk_fix", "charger_status"}),
        ({"charger_status": 0x110001FF}, {"charger_status"}),  # the LoRa flag bits
        ({"mower_status": 2}, {"mower_status"}),
    ],
)
async def test_one_changed_field_changes_only_the_entities_whose_value_changed(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    state_events: dict[str, list[Event[Any]]],
    change: dict[str, int],
    changed_keys: set[str],
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    state_events[EVENT_STATE_CHANGED].clear()
    state_events[EVENT_STATE_REPORTED].clear()

    await send(hass, report(**change))

    changed = {event.data["entity_id"] for event in state_events[EVENT_STATE_CHANGED]}
    assert changed == {entity_id(hass, key) for key in changed_keys}
    # The others write nothing: not even a "reported, unchanged" state.
    assert state_events[EVENT_STATE_REPORTED] == []


async def test_a_report_that_changes_one_field_writes_one_state(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    state_events: dict[str, list[Event[Any]]],
) -> None:
    await setup_entry(hass)
    await send(hass, report(mower_error=2))

    writes = 0
    original = entity_helper.Entity.async_write_ha_state

    def counted(entity: entity_helper.Entity) -> None:
        nonlocal writes
        writes += 1
        original(entity)

    with patch.object(entity_helper.Entity, "async_write_ha_state", counted):
        for misses in range(3, 13):  # the heartbeat count, as a real charger's
            await send(hass, report(mower_error=misses))

    assert writes == 10  # one entity, once per report


# --- Availability -------------------------------------------------------------


async def test_entities_go_unavailable_after_60_seconds_without_a_report(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())

    await move_time(hass, freezer, 59)
    assert none_unavailable(hass)

    await move_time(hass, freezer, 2)
    assert all_unavailable(hass)
    assert coordinator_of(entry).online is False


async def test_each_report_restarts_the_stale_timeout(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry(hass)
    for _ in range(5):  # 5 x 40 s, longer than the timeout in total
        await send(hass, report())
        await move_time(hass, freezer, 40)
        assert none_unavailable(hass)


@pytest.mark.parametrize(
    "payload",
    [report(), report(encrypt_for=SERIAL), report(mower_x=4)],
    ids=["identical", "identical-encrypted", "changed"],
)
async def test_entities_come_back_with_the_next_report(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    payload: bytes,
) -> None:
    await setup_entry(hass)
    await send(hass, payload)
    await move_time(hass, freezer, 61)
    assert all_unavailable(hass)

    await send(hass, payload)

    assert none_unavailable(hass)


async def test_stale_timeout_option_sets_when_entities_go_unavailable(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry(hass, options={CONF_STALE_TIMEOUT: 300})
    await send(hass, report())

    await move_time(hass, freezer, 290)
    assert none_unavailable(hass)
    await move_time(hass, freezer, 11)
    assert all_unavailable(hass)


async def test_ignored_messages_do_not_keep_the_entities_available(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    for _ in range(4):
        await move_time(hass, freezer, 20)
        await send(hass, b"not a report")
        await send(hass, report(charger_status=-1))

    assert all_unavailable(hass)


async def test_one_log_line_when_the_charger_goes_silent_and_one_when_it_returns(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    caplog.clear()

    for _ in range(12):  # twelve minutes of silence (the repair issue included)
        await move_time(hass, freezer, 61)
    silent = log_lines(caplog, SILENT_LINE)
    assert len(silent) == 1
    assert silent[0].levelno == logging.INFO
    assert SERIAL in silent[0].getMessage()
    assert log_lines(caplog, BACK_LINE) == []

    for _ in range(10):
        await send(hass, report())
    back = log_lines(caplog, BACK_LINE)
    assert len(back) == 1
    assert back[0].levelno == logging.INFO
    assert SERIAL in back[0].getMessage()
    assert len(log_lines(caplog, SILENT_LINE)) == 1
    assert warnings_or_errors(caplog) == []


async def test_charger_silent_since_setup_logs_no_unavailable_line(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It was never available, so it does not "become" unavailable."""
    await setup_entry(hass)

    await move_time(hass, freezer, 61)

    assert log_lines(caplog, SILENT_LINE) == []
    assert all_unavailable(hass)


# --- Repairs ------------------------------------------------------------------


async def test_no_report_for_ten_minutes_after_setup_raises_a_repair_issue(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)

    await move_time(hass, freezer, 599)
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None

    await move_time(hass, freezer, 1)
    issue = issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}")
    assert issue is not None
    assert issue.translation_key == "no_reports"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.is_fixable is False
    assert issue.translation_placeholders == {
        "serial_number": SERIAL,
        "host": "192.168.1.10",
        "port": "1883",
        "mode": "direct",
    }


async def test_no_report_for_ten_minutes_after_the_last_one_raises_a_repair_issue(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)
    await move_time(hass, freezer, 300)
    await send(hass, report())

    await move_time(hass, freezer, 599)  # 899 s after setup, 599 s of silence
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None

    await move_time(hass, freezer, 1)
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is not None


async def test_repair_issue_names_the_gateway_mode(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    mock_gateway: Any,
) -> None:
    await setup_entry(hass, data=entry_data(gateway=True))

    await move_time(hass, freezer, 601)

    issue = issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["mode"] == "gateway"
    assert issue.translation_placeholders["port"] == "1885"


async def test_repair_issue_goes_away_when_a_report_comes_back(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    await move_time(hass, freezer, 61)
    await move_time(hass, freezer, 540)
    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is not None

    await send(hass, report())

    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None
    assert none_unavailable(hass)


async def test_report_during_silence_prevents_the_repair_issue(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)
    await move_time(hass, freezer, 500)  # unavailable, the issue is 100 s away
    await send(hass, report())

    await move_time(hass, freezer, 200)  # past the old deadline

    assert issue_registry.async_get_issue(DOMAIN, f"no_reports_{SERIAL}") is None


# --- Bad input ----------------------------------------------------------------

TOO_LARGE = encode_json(
    {"up_status_info": {"charger_status": 1}, "padding": "x" * 4096}
)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(
            b'{"up_status_info":"\xff\xfe"}', "frame is not valid UTF-8", id="non-utf8"
        ),
        pytest.param(b"{up_status_info: 1}", "frame is not valid JSON", id="not-json"),
        pytest.param(b"{", "frame is not valid JSON", id="truncated-json"),
        pytest.param(
            b"[1, 2, 3, 4, 5, 6]",
            "encrypted payload is not a multiple of 16 bytes",
            id="json-array",
        ),
        pytest.param(
            b"[" + b" " * 62 + b"]",  # 64 bytes
            "wrong key or not a message",
            id="json-array-of-16-byte-blocks",
        ),
        pytest.param(
            b'"up_status_info"', "wrong key or not a message", id="json-string"
        ),
        pytest.param(
            b"", "encrypted payload is not a multiple of 16 bytes", id="empty"
        ),
        pytest.param(b'{"foo": 1}', "not an up_status_info report", id="other-message"),
        pytest.param(
            b'{"up_status_info": [285212929]}',
            "report is not an object",
            id="array-body",
        ),
        pytest.param(
            b'{"type": "up_status_info", "message": 3}',
            "report is not an object",
            id="number-message",
        ),
        pytest.param(
            report(charger_status=OMIT), "charger_status is missing", id="no-bits"
        ),
        pytest.param(
            report(charger_status=None), "charger_status is missing", id="null-bits"
        ),
        pytest.param(
            report(charger_status=True),
            "charger_status is not an integer",
            id="bool",
        ),
        pytest.param(
            report(charger_status=285212929.0),
            "charger_status is not an integer",
            id="float",
        ),
        pytest.param(
            report(charger_status="285212929"),
            "charger_status is not an integer",
            id="string",
        ),
        pytest.param(
            report(charger_status=-1), "charger_status is out of range", id="negative"
        ),
        pytest.param(
            report(charger_status=2**32), "charger_status is out of range", id="2**32"
        ),
        pytest.param(
            report(mower_error=False), "mower_error is not an integer", id="bool-field"
        ),
        pytest.param(
            report(mower_x=[1]), "mower_x is not an integer", id="array-field"
        ),
        pytest.param(
            report(mower_y=-5), "mower_y is out of range", id="negative-field"
        ),
        pytest.param(
            report(battery_capacity=101),
            "battery_capacity is out of range",
            id="battery-over-100",
        ),
        pytest.param(TOO_LARGE, "payload too large", id="huge"),
        pytest.param(encrypt(TOO_LARGE), "payload too large", id="huge-encrypted"),
        pytest.param(
            report(encrypt_for=OTHER_SERIAL),
            "wrong key or not a message",
            id="wrong-key",
        ),
        pytest.param(
            report(encrypt_for=OTHER_SERIAL, shape="type"),
            "wrong key or not a message",
            id="wrong-key-other-shape",
        ),
        pytest.param(
            bytes(range(17)),
            "encrypted payload is not a multiple of 16 bytes",
            id="17-bytes",
        ),
        pytest.param(
            encrypt(b"[1,2,3]"), "wrong key or not a message", id="encrypted-array"
        ),
    ],
)
async def test_bad_input_is_ignored_and_counted_by_reason(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    caplog: pytest.LogCaptureFixture,
    payload: bytes,
    reason: str,
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report(mower_error=3, battery_capacity=80))
    coordinator = coordinator_of(entry)
    before = states(hass, (*ENABLED_KEYS, "battery_capacity"))
    status = coordinator.data

    await send(hass, payload)

    assert coordinator.reports_ignored == {reason: 1}
    assert coordinator.reports_accepted == 1
    assert coordinator.data is status
    assert states(hass, (*ENABLED_KEYS, "battery_capacity")) == before
    assert warnings_or_errors(caplog, undecodable=True) == []


async def test_bad_input_is_counted_per_reason(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = await setup_entry(hass)

    for payload in (b"{x", b"{y", report(charger_status=-1), bytes(17)):
        await send(hass, payload)

    assert coordinator_of(entry).reports_ignored == {
        "frame is not valid JSON": 2,
        "charger_status is out of range": 1,
        "encrypted payload is not a multiple of 16 bytes": 1,
    }


async def test_reports_on_another_charger_topic_change_nothing(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    before = states(hass, ENABLED_KEYS)

    await send(hass, report(charger_status=0, mower_error=7), OTHER_SERIAL)
    await send(hass, report(charger_status=0), topic=f"Dart/Receive_mqtt/{SERIAL}/x")
    await send(hass, report(charger_status=0), topic=f"Dart/Send_mqtt/{SERIAL}")

    coordinator = coordinator_of(entry)
    assert states(hass, ENABLED_KEYS) == before
    assert coordinator.reports_accepted == 1
    assert coordinator.reports_ignored == {}
    assert warnings_or_errors(caplog) == []


# --- Status from the config flow ----------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_status_seeded_by_the_config_flow_gives_values_at_setup(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.data[CLAIMED_STATUS] = {
        SERIAL: ChargerStatus(charger_status=0x09000101, mower_error=0, mower_x=12),
        OTHER_SERIAL: ChargerStatus(charger_status=0),
    }

    entry = await setup_entry(hass)

    assert state(hass, "gps_satellites").state == "9"
    assert state(hass, "mower_connected").state == "on"
    assert state(hass, "mower_x").state == "12"
    assert state(hass, "mower_status").state == "unknown"  # not in the seed
    assert set(ENTITIES) <= set(states(hass, tuple(ENTITIES)))
    assert hass.data[CLAIMED_STATUS] == {OTHER_SERIAL: ChargerStatus(charger_status=0)}
    assert coordinator_of(entry).details.firmware_version is None

    # The seed counts as the first report for the stale timeout.
    await move_time(hass, freezer, 61)
    assert all_unavailable(hass)


# --- Known bugs (strict xfail: they start passing when fixed) -------------------

# This serial number's key encrypts '{"up_status_info' (the first block of every
# report in the first shape) to a block whose first byte is '{'.
BRACE_SERIAL = "LFIC1230700042"


def test_some_serial_numbers_encrypt_every_report_to_a_leading_brace() -> None:
    """Precondition of the xfail test below: one serial in 256 is affected."""
    assert report(encrypt_for=BRACE_SERIAL)[:1] == b"{"
    assert report(encrypt_for=BRACE_SERIAL, mower_x=99)[:1] == b"{"
    assert report(encrypt_for=SERIAL)[:1] != b"{"


async def test_encrypted_reports_are_read_even_when_the_ciphertext_starts_with_a_brace(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    await setup_entry(hass, BRACE_SERIAL)

    await send(hass, report(encrypt_for=BRACE_SERIAL), BRACE_SERIAL)

    assert state(hass, "gps_satellites", BRACE_SERIAL).state == "17"


async def test_encrypted_reports_log_no_warning(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_entry(hass)

    for mower_x in range(3):
        await send(hass, report(encrypt_for=SERIAL, mower_x=mower_x))

    assert state(hass, "gps_satellites").state == "17"
    assert warnings_or_errors(caplog) == []


async def test_firmware_reply_uses_no_deprecated_device_registry_call(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_entry(hass)
    await send(hass, report())

    # Home Assistant reports a deprecated call once per process: start afresh.
    with patch("homeassistant.helpers.frame._REPORTED_INTEGRATIONS", set()):
        await send(hass, firmware_reply("v0.4.0"))

    assert device(hass).sw_version == "v0.4.0"
    assert warnings_or_errors(caplog) == []


async def test_firmware_query_that_cannot_be_published_logs_no_error(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_entry(hass)

    with patch(
        "homeassistant.components.mqtt.async_publish",
        side_effect=HomeAssistantError("Cannot publish"),
    ):
        await send(hass, report())
        gc.collect()  # an unretrieved task exception is reported when collected
        await hass.async_block_till_done()

    assert state(hass, "gps_satellites").state == "17"
    assert warnings_or_errors(caplog) == []


async def test_reports_start_no_config_flow(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """No MQTT discovery: a report costs no flow, for configured chargers or not."""
    await setup_entry(hass)
    flow_manager = hass.config_entries.flow

    with patch.object(
        flow_manager, "async_init", wraps=flow_manager.async_init
    ) as started:
        for mower_x in range(5):
            await send(hass, report(mower_x=mower_x))
            await send(hass, report(mower_x=mower_x), OTHER_SERIAL)

    assert state(hass, "gps_satellites").state == "17"
    assert started.call_count == 0
    assert flow_manager.async_progress_by_handler(DOMAIN) == []
