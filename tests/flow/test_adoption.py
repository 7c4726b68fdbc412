"""Adoption: a charger that already reports to the broker, added without Bluetooth.

The user step listens when no charger is heard over Bluetooth, or when the
user chooses the broker from its menu; a charger counts as heard once one of
its reports decodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_USER
from homeassistant.data_entry_flow import FlowResultType
import pytest

from ..common import state
from ..flow_helpers import (
    OTHER_SERIAL_NUMBER,
    SERIAL_NUMBER,
    THIRD_SERIAL_NUMBER,
    report_payload,
    select_options,
    status_topic,
)
from . import configured_entry, rendered

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from . import SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock", "short_listen")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(report_payload(), id="plain"),
        pytest.param(report_payload(encrypted=True), id="encrypted"),
        pytest.param(report_payload(shape="message"), id="type-message"),
    ],
)
async def test_a_charger_that_reports_is_added_without_bluetooth(
    hass: HomeAssistant, listening: SetupDialog, payload: bytes
) -> None:
    assert listening.watcher.actions() == ["find_reporting"]

    result = await listening.listen([(status_topic(), payload)])

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "adopt"
    assert select_options(result["data_schema"], "serial_number") == [
        {"value": SERIAL_NUMBER, "label": SERIAL_NUMBER}
    ]
    result = await listening.submit({"serial_number": SERIAL_NUMBER})

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Novabot charger {SERIAL_NUMBER}"
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        # Its radio pairing is not known until the charger is asked for it.
        "charger_address": None,
        "charger_channel": None,
        "mqtt_host": "mock-broker",  # the MQTT entry's broker
        "mqtt_port": 1883,
        "gateway": False,
    }
    # The report heard while listening seeds the entities.
    assert state(hass, "gps_satellites").state == "17"


async def test_the_broker_can_be_chosen_from_the_menu_and_lists_every_new_charger(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    configured_entry(hass, THIRD_SERIAL_NUMBER)
    await dialog.start(SOURCE_USER)
    await dialog.choose("find_reporting")

    result = await dialog.listen(
        [
            (status_topic(OTHER_SERIAL_NUMBER), report_payload(OTHER_SERIAL_NUMBER)),
            (status_topic(), report_payload(encrypted=True)),
            (status_topic(THIRD_SERIAL_NUMBER), report_payload(THIRD_SERIAL_NUMBER)),
        ]
    )

    assert select_options(result["data_schema"], "serial_number") == [
        {"value": SERIAL_NUMBER, "label": SERIAL_NUMBER},
        {"value": OTHER_SERIAL_NUMBER, "label": OTHER_SERIAL_NUMBER},
    ]
    await dialog.close()


NOT_CHARGER_REPORTS = [
    pytest.param(status_topic("LFIN1230700123"), report_payload(), id="mower"),
    pytest.param("Dart/Receive_mqtt/LFIC1/extra", report_payload(), id="deep-topic"),
    pytest.param("Dart/Send_mqtt/LFIC1230700123", report_payload(), id="command"),
    pytest.param(status_topic(), b"not json", id="not-json"),
    pytest.param(status_topic(), b'{"type":"other"}', id="not-a-report"),
    pytest.param(status_topic(), b"\x01" * 16, id="undecryptable"),
    pytest.param(
        status_topic(OTHER_SERIAL_NUMBER),
        report_payload(encrypted=True),  # encrypted with another charger's key
        id="wrong-key",
    ),
    pytest.param(
        status_topic(SERIAL_NUMBER.lower()), report_payload(), id="lower-case-topic"
    ),
    pytest.param(status_topic(), b"{" * 5000, id="huge"),
]


@pytest.mark.parametrize(("topic", "payload"), NOT_CHARGER_REPORTS)
async def test_nothing_but_a_report_that_decodes_proves_a_charger(
    listening: SetupDialog, topic: str, payload: bytes
) -> None:
    result = await listening.listen([(topic, payload)])

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_chargers_found"


async def test_without_any_charger_the_abort_explains_both_ways(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    configured_entry(hass)  # the one heard over Bluetooth is configured already
    await dialog.start(SOURCE_USER)

    result = await dialog.listen([(status_topic(), report_payload())])

    assert result["reason"] == "no_chargers_found"
    assert "Bluetooth" in rendered(result)
    assert "MQTT broker" in rendered(result)


async def test_choosing_the_broker_when_none_reports_points_back_to_bluetooth(
    dialog: SetupDialog,
) -> None:
    await dialog.start(SOURCE_USER)
    await dialog.choose("find_reporting")

    result = await dialog.listen([])

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_reporting_chargers"


async def test_a_charger_configured_while_listening_is_not_added_twice(
    hass: HomeAssistant, listening: SetupDialog
) -> None:
    await listening.listen([(status_topic(), report_payload())])
    configured_entry(hass)

    result = await listening.submit({"serial_number": SERIAL_NUMBER})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
