"""Closing the dialog stops what it runs and gives back what it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.const import DOMAIN

from ..flow_helpers import wait_for
from ..virtual_charger import FirmwareTimings
from . import publish

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto

    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.fixture(params=["listening", "claiming"])
def waiting(request: pytest.FixtureRequest) -> SetupDialog:
    """A dialog waiting on the broker: for chargers that report, or this one."""
    dialog: SetupDialog = request.getfixturevalue(request.param)
    return dialog


async def test_closing_the_dialog_stops_listening_on_the_broker(
    hass: HomeAssistant, waiting: SetupDialog
) -> None:
    dialog = waiting
    task = dialog.handler._task
    assert task is not None

    await dialog.close(wait_for=task)

    assert task.cancelled()
    # A report now starts nothing, creates nothing.
    publish(hass)
    await hass.async_block_till_done()
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_closing_the_dialog_mid_session_lets_the_charger_go(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    # The RTK receiver takes its time, as it may on the real charger.
    charger = discovered.radio.queue(timings=FirmwareTimings(rtk_setup=30))
    await discovered.enter_settings(locked_broker.port)
    result = await discovered.submit({})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await wait_for(lambda: charger.commands == ["set_wifi_info", "set_rtk_info"])
    run = discovered.handler._run
    assert run is not None
    assert gateway.in_use == 1

    await discovered.close(wait_for=run.task)

    assert run.task.cancelled()
    assert not charger.is_connected  # the session let go of the link
    assert charger.disconnect_calls == 1
    assert charger.committed is None
    assert gateway.in_use == 0  # and the dialog its gateway lease
