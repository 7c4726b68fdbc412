"""The WiFi password goes to the charger only: never stored, logged or shown."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from homeassistant.data_entry_flow import FlowResultType
import pytest

from ..flow_helpers import PASSWORD

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto

    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


async def test_wifi_password_is_never_stored_or_logged(
    hass: HomeAssistant,
    open_broker: Mosquitto,
    dialog: SetupDialog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in (
        "custom_components",
        "homeassistant",
        "bleak",
        "bleak_retry_connector",
    ):
        caplog.set_level(logging.DEBUG, logger=name)
    # A failed attempt first: the retry path keeps the password in memory only.
    dialog.radio.queue(results={"set_mqtt_info": 1})
    results = [await dialog.start(), await dialog.provision(open_broker.port)]
    results.append(await dialog.provision(open_broker.port, password=""))
    results.append(await dialog.report())
    await hass.async_block_till_done()

    assert results[-1]["type"] is FlowResultType.CREATE_ENTRY
    entry = results[-1]["result"]
    assert PASSWORD not in json.dumps(dict(entry.data))
    assert PASSWORD not in json.dumps(dict(entry.options))
    assert all(PASSWORD not in repr(result) for result in results)
    assert caplog.records  # debug logging was on
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in str(record.args) for record in caplog.records)


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
