"""Reports in: their values, encrypted or plain, and only what changed is written."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity as entity_helper, entity_registry as er
import pytest

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.coordinator import CLAIMED_STATUS
from custom_components.novabot.protocol import ChargerStatus
from custom_components.novabot.protocol.framing import encode_json

from .common import (
    BASE_REPORT,
    ENABLED_CHARGER_KEYS,
    ENABLED_KEYS,
    ENTITIES,
    MOWER_CONTROLS,
    MOWER_KEYS,
    NO_MOWER,
    OTHER_SERIAL,
    SERIAL,
    all_unavailable,
    device,
    entity_id,
    firmware_reply,
    move_time,
    mower_status,
    report,
    send,
    setup_entry,
    state,
    states,
    warnings_or_errors,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from freezegun.api import FrozenDateTimeFactory

pytestmark = pytest.mark.usefixtures("mqtt_mock")

type StateEvents = dict[str, list[Event[Any]]]


@pytest.fixture
def state_events(hass: HomeAssistant) -> StateEvents:
    """Every state_changed and state_reported event of the integration's entities."""
    registry = er.async_get(hass)

    @callback
    def novabot_entity(event_data: Any) -> bool:
        registered = registry.async_get(event_data["entity_id"])
        return registered is not None and registered.platform == DOMAIN

    events: StateEvents = {EVENT_STATE_CHANGED: [], EVENT_STATE_REPORTED: []}
    for event_type, recorded in events.items():

        @callback
        def record(event: Event[Any], recorded: list[Event[Any]] = recorded) -> None:
            recorded.append(event)

        hass.bus.async_listen(event_type, record, event_filter=novabot_entity)
    return events


def forget(state_events: StateEvents) -> None:
    """Forget the events so far."""
    for recorded in state_events.values():
        recorded.clear()


@pytest.fixture
def state_writes() -> Iterator[list[entity_helper.Entity]]:
    """The entities that write their state, one item per write."""
    writes: list[entity_helper.Entity] = []
    original = entity_helper.Entity.async_write_ha_state

    def counted(entity: entity_helper.Entity) -> None:
        writes.append(entity)
        original(entity)

    with patch.object(entity_helper.Entity, "async_write_ha_state", counted):
        yield writes


async def test_first_report_makes_entities_available_with_its_values(
    hass: HomeAssistant,
) -> None:
    entry = await setup_entry(hass)
    assert all_unavailable(hass, ENABLED_CHARGER_KEYS)

    await send(hass, report(mower_error=1))

    assert states(hass, ENABLED_KEYS) == {
        "gps_satellites": "17",
        "mower_activity": "idle",
        "mower_battery": "100",
        "mower": "docked",
        "gps_fix": "on",
        "rtk_fix": "on",
        "mower_connected": "off",  # one heartbeat missed: its values are fresh
    }
    coordinator = entry.runtime_data
    assert coordinator.data == ChargerStatus(**{**BASE_REPORT, "mower_error": 1})
    assert coordinator.encrypted is False
    assert coordinator.reports_accepted == 1


async def test_encrypted_reports_are_decrypted_with_the_charger_key(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup_entry(hass)

    for mower_x in range(3):
        await send(
            hass, report(encrypt_for=SERIAL, charger_status=0x05000001, mower_x=mower_x)
        )

    assert states(hass, ("gps_satellites", "gps_fix", "rtk_fix")) == {
        "gps_satellites": "5",
        "gps_fix": "on",
        "rtk_fix": "off",
    }
    assert entry.runtime_data.encrypted is True
    assert warnings_or_errors(caplog) == []


async def test_every_report_counts_and_sets_the_last_report_time(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    coordinator = (await setup_entry(hass)).runtime_data
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


# --- Only what changed is written ---------------------------------------------


@pytest.mark.parametrize(
    ("first", "again"),
    [
        pytest.param(report(), [report()] * 30, id="identical"),
        pytest.param(
            report(encrypt_for=SERIAL),
            [report(encrypt_for=SERIAL)] * 30,
            id="identical-encrypted",
        ),
        pytest.param(
            report(),
            [
                report("type"),
                report(encrypt_for=SERIAL),
                encode_json({"up_status_info": dict(reversed(BASE_REPORT.items()))}),
            ],
            id="same-status-in-another-shape-encryption-or-order",
        ),
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_report_with_the_same_status_writes_no_state_at_all(
    hass: HomeAssistant,
    state_events: StateEvents,
    state_writes: list[entity_helper.Entity],
    first: bytes,
    again: list[bytes],
) -> None:
    """The mower's buttons and events included."""
    await setup_entry(hass)
    await send(hass, first)
    assert states(hass, MOWER_CONTROLS)  # they are there
    state_writes.clear()
    forget(state_events)

    for payload in again:
        await send(hass, payload)

    assert state_writes == []
    assert state_events == {EVENT_STATE_CHANGED: [], EVENT_STATE_REPORTED: []}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("change", "changed_keys"),
    [
        (
            {"mower_error": 5},  # the mower stops answering: its values are stale
            {
                "lora_heartbeat_misses",
                "mower_connected",
                *MOWER_KEYS,
                "mower",
                "mower_events",
            },
        ),
        ({"mower_error": 0, "mower_x": 7}, {"mower_x"}),
        ({"charger_status": 0x12000101}, {"gps_satellites", "charger_status"}),
        ({"charger_status": 0x11000001}, {"rtk_fix", "charger_status"}),
        ({"charger_status": 0x110001FF}, {"charger_status"}),  # the LoRa flag bits
        ({"mower_status": mower_status(0, recharge=9) | 2}, {"mower_status"}),
        (
            {"mower_status": mower_status(56)},  # it leaves the dock
            {"mower_status", "mower_activity", "mower"},
        ),
    ],
    ids=[
        "mower-silent",
        "mower-moved",
        "satellites",
        "rtk",
        "lora-flag",
        "task-mode",
        "leaving-dock",
    ],
)
async def test_one_changed_field_changes_only_the_entities_whose_value_changed(
    hass: HomeAssistant,
    state_events: StateEvents,
    change: dict[str, int],
    changed_keys: set[str],
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    forget(state_events)

    await send(hass, report(**change))

    changed = {event.data["entity_id"] for event in state_events[EVENT_STATE_CHANGED]}
    assert changed == {entity_id(hass, key) for key in changed_keys}
    # The others write nothing: not even a "reported, unchanged" state.
    assert state_events[EVENT_STATE_REPORTED] == []


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_report_that_changes_one_field_writes_one_state(
    hass: HomeAssistant, state_writes: list[entity_helper.Entity]
) -> None:
    await setup_entry(hass)
    await send(hass, report(**NO_MOWER))
    state_writes.clear()

    for misses in range(17735, 17745):  # the heartbeat count, as a real charger's
        await send(hass, report(**{**NO_MOWER, "mower_error": misses}))

    assert len(state_writes) == 10  # one entity, once per report
    assert {write.entity_id for write in state_writes} == {
        entity_id(hass, "lora_heartbeat_misses")
    }


async def test_a_charger_without_a_mower_writes_no_state_per_report(
    hass: HomeAssistant, state_writes: list[entity_helper.Entity]
) -> None:
    """Its heartbeat count changes every report: that sensor is disabled."""
    await setup_entry(hass)
    await send(hass, report(**NO_MOWER))
    state_writes.clear()

    for misses in range(17735, 17745):
        await send(hass, report(**{**NO_MOWER, "mower_error": misses}))

    assert state_writes == []


async def test_reports_of_a_mowing_mower_write_no_button_or_event_state(
    hass: HomeAssistant, state_writes: list[entity_helper.Entity]
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    state_writes.clear()

    for step, code in enumerate((56, 90, 91, 90, 93, 90, 191, 192)):
        await send(hass, report(mower_status=mower_status(code), mower_x=step))

    written = {write.entity_id for write in state_writes}
    assert written == {entity_id(hass, key) for key in ("mower", "mower_activity")}


# --- A status the config flow heard -------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_status_seeded_by_the_config_flow_gives_values_at_setup(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    hass.data[CLAIMED_STATUS] = {
        SERIAL: ChargerStatus(
            charger_status=0x09000101,
            mower_status=BASE_REPORT["mower_status"],
            mower_error=0,
            mower_x=12,
        ),
        OTHER_SERIAL: ChargerStatus(charger_status=0),
    }

    entry = await setup_entry(hass)

    assert state(hass, "gps_satellites").state == "9"
    assert state(hass, "mower_connected").state == "on"
    assert state(hass, "mower_x").state == "12"
    assert state(hass, "mower").state == "docked"
    assert state(hass, "mower_battery").state == "unknown"  # not in the seed
    assert set(ENTITIES) <= set(states(hass, tuple(ENTITIES)))
    assert hass.data[CLAIMED_STATUS] == {OTHER_SERIAL: ChargerStatus(charger_status=0)}
    assert entry.runtime_data.details.firmware_version is None

    # The seed counts as the first report for the stale timeout.
    await move_time(hass, freezer, 61)
    assert all_unavailable(hass)


async def test_reports_start_no_config_flow(hass: HomeAssistant) -> None:
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


# --- Traps found on the way -----------------------------------------------------

# This serial number's key encrypts '{"up_status_info' (the first block of every
# report in the first shape) to a block whose first byte is '{'.
BRACE_SERIAL = "LFIC1230700042"


def test_some_serial_numbers_encrypt_every_report_to_a_leading_brace() -> None:
    """Precondition of the test below: one serial in 256 is affected."""
    assert report(encrypt_for=BRACE_SERIAL)[:1] == b"{"
    assert report(encrypt_for=BRACE_SERIAL, mower_x=99)[:1] == b"{"
    assert report(encrypt_for=SERIAL)[:1] != b"{"


async def test_encrypted_reports_are_read_even_when_the_ciphertext_starts_with_a_brace(
    hass: HomeAssistant,
) -> None:
    await setup_entry(hass, BRACE_SERIAL)

    await send(hass, report(encrypt_for=BRACE_SERIAL), BRACE_SERIAL)

    assert state(hass, "gps_satellites", BRACE_SERIAL).state == "17"


async def test_firmware_reply_uses_no_deprecated_device_registry_call(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    await setup_entry(hass)
    await send(hass, report())

    # Home Assistant reports a deprecated call once per process: start afresh.
    with patch("homeassistant.helpers.frame._REPORTED_INTEGRATIONS", set()):
        await send(hass, firmware_reply("v0.4.0"))

    assert device(hass).sw_version == "v0.4.0"
    assert warnings_or_errors(caplog) == []


async def test_firmware_query_that_cannot_be_published_logs_no_error(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
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
