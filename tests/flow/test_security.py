"""The WiFi password goes to the charger only: never stored, logged or shown."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from homeassistant.data_entry_flow import FlowResultType
import pytest

from ..flow_helpers import PASSWORD

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto

    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the integration and its Bluetooth stack log, debug included."""
    caplog.set_level(logging.DEBUG)
    for name in (
        "custom_components",
        "homeassistant",
        "bleak",
        "bleak_retry_connector",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def assert_password_nowhere(
    dialog: SetupDialog, entry: ConfigEntry, log: pytest.LogCaptureFixture
) -> None:
    """Not in the entry, in any step the dialog showed, or in the log."""
    assert PASSWORD not in json.dumps(dict(entry.data))
    assert PASSWORD not in json.dumps(dict(entry.options))
    shown = [*dialog.shown, *dialog.watcher.progress]
    assert {result.get("step_id") for result in shown} >= {"settings", "provision"}
    assert all(PASSWORD not in repr(result) for result in shown)
    assert log.records  # debug logging was on
    assert PASSWORD not in log.text
    assert all(PASSWORD not in str(record.args) for record in log.records)


async def test_wifi_password_is_never_stored_shown_or_logged(
    hass: HomeAssistant,
    open_broker: Mosquitto,
    dialog: SetupDialog,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    # A failed attempt first: the retry path keeps the password in memory only.
    dialog.radio.queue(results={"set_mqtt_info": 1})
    await dialog.start()
    assert (await dialog.provision(open_broker.port))["errors"] == {
        "base": "network_step_failed"
    }
    await dialog.provision(open_broker.port, password="")
    result = await dialog.report()
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "confirm" in {shown.get("step_id") for shown in dialog.shown}
    assert_password_nowhere(dialog, result["result"], debug_log)


async def test_wifi_password_is_never_stored_shown_or_logged_in_gateway_mode(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    dialog: SetupDialog,
    debug_log: pytest.LogCaptureFixture,
) -> None:
    await dialog.start()
    await dialog.provision(locked_broker.port)
    result = await dialog.report()
    await dialog.settle()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert "gateway" in {shown.get("step_id") for shown in dialog.shown}
    assert_password_nowhere(dialog, result["result"], debug_log)


async def test_wifi_password_reaches_the_charger_only_in_set_wifi_info(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    await discovered.provision(locked_broker.port)
    await discovered.report()

    charger = discovered.radio.charger
    carrying = [m for m in charger.received if PASSWORD in json.dumps(m)]
    assert carrying == [charger.received[0]]
    assert charger.received[0]["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    # Nor does it travel in the charger's own access point settings.
    assert charger.received[0]["set_wifi_info"]["ap"]["passwd"] == "12345678"
    await discovered.settle()
