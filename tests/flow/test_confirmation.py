"""Before anything is sent: what saving does to the mower, and why the gateway.

When it saves, the charger passes its WiFi, its broker and its radio pairing
on to its mower; what a stock mower makes of them is not documented. So the
dialog says so after the settings and before the Bluetooth session: the
``confirm`` step in direct mode, the ``gateway`` step (which also says why the
gateway) otherwise. The gateway's port opens only when the owner goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.data_entry_flow import FlowResultType
import pytest

from ..flow_helpers import SERIAL_NUMBER
from . import MOWER_NOTICE, rendered

if TYPE_CHECKING:
    from tests.mosquitto import Mosquitto

    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.mark.parametrize(
    ("broker", "step_id"),
    [("open_broker", "confirm"), ("locked_broker", "gateway")],
)
@pytest.mark.usefixtures("gateway")
async def test_what_saving_does_is_said_before_anything_is_sent_over_bluetooth(
    request: pytest.FixtureRequest,
    discovered: SetupDialog,
    *,
    broker: str,
    step_id: str,
) -> None:
    port = request.getfixturevalue(broker).port

    result = await discovered.enter_settings(port)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step_id
    assert result["data_schema"] is None  # nothing to fill in: read, then go on
    assert MOWER_NOTICE in rendered(result)
    assert discovered.radio.connect_calls == []

    result = await discovered.submit({})

    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "provision"
    assert (await discovered.next_step())["step_id"] == "claim"
    assert discovered.radio.charger.committed is not None
    await discovered.close()


async def test_the_gateways_port_opens_only_once_the_gateway_step_is_confirmed(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    result = await discovered.enter_settings(locked_broker.port)
    assert result["step_id"] == "gateway"
    assert gateway.calls == []  # the probe chose the gateway, and opened nothing

    await discovered.submit({})

    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, False)]
    assert gateway.in_use == 1
    await discovered.close()
    assert gateway.in_use == 0


async def test_closing_the_dialog_at_the_gateway_step_opens_and_sends_nothing(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    await discovered.enter_settings(locked_broker.port)

    await discovered.close()

    assert gateway.calls == []
    assert discovered.radio.connect_calls == []


async def test_closing_the_dialog_at_the_confirm_step_sends_nothing(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    assert (await discovered.enter_settings(open_broker.port))["step_id"] == "confirm"

    await discovered.close()

    assert discovered.radio.connect_calls == []
