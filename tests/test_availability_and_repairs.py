"""A silent charger: entities unavailable after the stale timeout, a repair after ten minutes.

The stale timeout is an option, applied at once without a reload; the repair
issue concerns a loaded entry only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.novabot.const import CONF_STALE_TIMEOUT, DOMAIN

from .common import (
    ENABLED_CHARGER_KEYS,
    SERIAL,
    all_unavailable,
    entry_data,
    move_time,
    none_unavailable,
    report,
    send,
    setup_entry,
    warnings_or_errors,
)

if TYPE_CHECKING:
    from freezegun.api import FrozenDateTimeFactory
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

pytestmark = pytest.mark.usefixtures("mqtt_mock")

REPAIR = (DOMAIN, f"no_reports_{SERIAL}")
SILENT_LINE = "sent no report"
BACK_LINE = "is reporting again"


def log_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    """The integration's log records that contain ``text``."""
    return [
        record
        for record in caplog.records
        if record.name == "custom_components.novabot" and text in record.getMessage()
    ]


# --- Availability -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "timeout"), [({}, 60), ({CONF_STALE_TIMEOUT: 300}, 300)]
)
async def test_entities_go_unavailable_after_the_stale_timeout_without_a_report(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    options: dict[str, Any],
    timeout: int,
) -> None:
    entry = await setup_entry(hass, options=options)
    await send(hass, report())

    await move_time(hass, freezer, timeout - 1)
    assert none_unavailable(hass)

    await move_time(hass, freezer, 2)
    assert all_unavailable(hass)
    assert entry.runtime_data.online is False


async def test_each_report_restarts_the_stale_timeout(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
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
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, payload: bytes
) -> None:
    await setup_entry(hass)
    await send(hass, payload)
    await move_time(hass, freezer, 61)
    assert all_unavailable(hass)

    await send(hass, payload)

    assert none_unavailable(hass)


async def test_ignored_messages_do_not_keep_the_entities_available(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
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
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    caplog.clear()

    for _ in range(12):  # twelve minutes of silence (the repair issue included)
        await move_time(hass, freezer, 61)
    (silent,) = log_lines(caplog, SILENT_LINE)
    assert silent.levelno == logging.INFO
    assert SERIAL in silent.getMessage()
    assert log_lines(caplog, BACK_LINE) == []

    for _ in range(10):
        await send(hass, report())
    (back,) = log_lines(caplog, BACK_LINE)
    assert back.levelno == logging.INFO
    assert SERIAL in back.getMessage()
    assert len(log_lines(caplog, SILENT_LINE)) == 1
    assert warnings_or_errors(caplog) == []


async def test_charger_silent_since_setup_logs_no_unavailable_line(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It was never available, so it does not "become" unavailable."""
    await setup_entry(hass)

    await move_time(hass, freezer, 61)

    assert log_lines(caplog, SILENT_LINE) == []
    assert all_unavailable(hass, ENABLED_CHARGER_KEYS)


# --- The stale timeout, changed live ---------------------------------------------------


def set_stale_timeout(
    hass: HomeAssistant, entry: MockConfigEntry, seconds: int
) -> None:
    """Save the option as the options flow does (the entry is not reloaded)."""
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_STALE_TIMEOUT: seconds}
    )


async def test_a_shorter_stale_timeout_applies_at_once(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_entry(hass, options={CONF_STALE_TIMEOUT: 300})
    coordinator = entry.runtime_data
    subscribed = mqtt_mock.async_subscribe.call_count
    await send(hass, report())
    await move_time(hass, freezer, 30)

    set_stale_timeout(hass, entry, 60)
    await hass.async_block_till_done()
    await move_time(hass, freezer, 29)
    assert none_unavailable(hass)
    await move_time(hass, freezer, 2)  # 61 s since the report

    assert all_unavailable(hass)
    assert entry.runtime_data is coordinator  # not reloaded
    assert mqtt_mock.async_subscribe.call_count == subscribed  # nothing re-subscribed


async def test_a_longer_stale_timeout_applies_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_entry(hass)
    await send(hass, report())
    await move_time(hass, freezer, 30)

    set_stale_timeout(hass, entry, 300)
    await hass.async_block_till_done()
    await move_time(hass, freezer, 269)
    assert none_unavailable(hass)
    await move_time(hass, freezer, 2)  # 301 s since the report

    assert all_unavailable(hass)


async def test_a_timeout_changed_before_the_first_report_counts_from_setup(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry = await setup_entry(hass)
    await move_time(hass, freezer, 30)

    set_stale_timeout(hass, entry, 120)
    await hass.async_block_till_done()
    await move_time(hass, freezer, 569)
    assert issue_registry.async_get_issue(*REPAIR) is None
    await move_time(hass, freezer, 1)  # ten minutes since setup

    assert issue_registry.async_get_issue(*REPAIR) is not None


# --- Repairs ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reported_after",
    [pytest.param(None, id="since-setup"), pytest.param(300, id="since-last-report")],
)
async def test_ten_minutes_of_silence_raise_a_repair_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    reported_after: int | None,
) -> None:
    await setup_entry(hass)
    if reported_after is not None:
        await move_time(hass, freezer, reported_after)
        await send(hass, report())

    await move_time(hass, freezer, 599)
    assert issue_registry.async_get_issue(*REPAIR) is None

    await move_time(hass, freezer, 1)
    issue = issue_registry.async_get_issue(*REPAIR)
    assert issue is not None
    assert issue.translation_key == "no_reports"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.is_fixable is False
    assert issue.translation_placeholders == {
        "serial_number": SERIAL,
        "host": "192.168.1.10",
        "port": "1883",
    }


@pytest.mark.usefixtures("mock_gateway")
async def test_repair_issue_of_a_gateway_charger_names_the_gateway_port(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass, data=entry_data(gateway=True))

    await move_time(hass, freezer, 601)

    issue = issue_registry.async_get_issue(*REPAIR)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["port"] == "1885"


async def test_repair_issue_goes_away_when_a_report_comes_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)
    await send(hass, report())
    await move_time(hass, freezer, 61)
    await move_time(hass, freezer, 540)
    assert issue_registry.async_get_issue(*REPAIR) is not None

    await send(hass, report())

    assert issue_registry.async_get_issue(*REPAIR) is None
    assert none_unavailable(hass)


async def test_report_during_silence_prevents_the_repair_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    await setup_entry(hass)
    await move_time(hass, freezer, 500)  # unavailable, the issue is 100 s away
    await send(hass, report())

    await move_time(hass, freezer, 200)  # past the old deadline

    assert issue_registry.async_get_issue(*REPAIR) is None


@pytest.mark.parametrize(
    "leave",
    [
        pytest.param(
            lambda hass, entry: hass.config_entries.async_unload(entry.entry_id),
            id="unloaded",
        ),
        pytest.param(
            lambda hass, entry: hass.config_entries.async_set_disabled_by(
                entry.entry_id, ConfigEntryDisabler.USER
            ),
            id="disabled",
        ),
        pytest.param(
            lambda hass, entry: hass.config_entries.async_remove(entry.entry_id),
            id="removed",
        ),
    ],
)
async def test_the_repair_issue_goes_with_the_entry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    leave: Any,
) -> None:
    """It is about a charger Home Assistant listens to."""
    entry = await setup_entry(hass)
    await move_time(hass, freezer, 601, step=10)
    assert issue_registry.async_get_issue(*REPAIR) is not None

    await leave(hass, entry)
    await hass.async_block_till_done()

    assert entry.state is not ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(*REPAIR) is None
