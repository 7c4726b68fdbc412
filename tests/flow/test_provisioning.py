"""The Bluetooth session: its progress, its failures and retries, what real chargers do.

The charger behind the fake radio is the firmware model of
``tests/virtual_charger.py``, traps included (docs/charger-protocol.md).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from bleak.exc import BleakError
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.flow.bluetooth_session import async_provision
from custom_components.novabot.flow.settings_form import settings_from_input
from custom_components.novabot.protocol import (
    Command,
    ProvisioningResult,
    ProvisioningSession,
)

from ..flow_helpers import (
    ADDRESS,
    PASSWORD,
    PROVISIONING_ACTIONS,
    SESSION,
    SSID,
    charger_service_info,
    pairing,
    settings_input,
    suggested_values,
)
from ..virtual_charger import FirmwareTimings, LinkLoss
from . import NEW_PASSWORD, STRINGS, rendered, without_password

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto

    from ..flow_helpers import FakeRadio
    from . import GatewayStandIn, SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")


@pytest.fixture
def fast_timeouts(radio: FakeRadio) -> Iterator[None]:
    """A command the charger leaves unanswered fails after 0.2 s, not a minute.

    Installed over the radio's own unpaced sessions.
    """
    with patch(
        f"{SESSION}.ProvisioningSession",
        partial(
            ProvisioningSession,
            write_interval=0,
            reply_pause=0,
            timeouts=dict.fromkeys(Command, 0.2),
        ),
    ):
        yield


async def test_the_session_goes_through_whatever_hears_the_charger_now(
    hass: HomeAssistant, radio: FakeRadio
) -> None:
    """Not what heard it at discovery: the best adapter or proxy may have changed."""
    radio.hear(charger_service_info())  # heard again, by another proxy say
    steps: list[str] = []

    result = await async_provision(
        hass, ADDRESS, settings_from_input(settings_input(1883), None), steps.append
    )

    assert radio.connect_calls[0][1] is radio.heard[ADDRESS].device
    assert steps == PROVISIONING_ACTIONS
    assert result == ProvisioningResult(radio=None, radio_kept=False)


async def test_progress_shows_each_command_in_order_then_the_claim(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    # Steps that take a moment, as on the real charger, so each one is on screen.
    discovered.radio.connect_delay = 0.05
    discovered.radio.queue(timings=FirmwareTimings(wifi_join=0.05, rtk_setup=0.05))

    await discovered.provision(open_broker.port)
    result = await discovered.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert discovered.watcher.actions() == [*PROVISIONING_ACTIONS, "claim"]
    assert discovered.watcher.actions("provision") == PROVISIONING_ACTIONS
    assert set(discovered.watcher.actions()) <= set(STRINGS["config"]["progress"])


def fail_with(**misbehaviour: Any) -> Callable[[FakeRadio], None]:
    """The next charger misbehaves this way."""

    def arrange(radio: FakeRadio) -> None:
        radio.queue(**misbehaviour)

    return arrange


def notifications_fail(radio: FakeRadio) -> None:
    """The charger's command characteristic cannot be subscribed to.

    A stale service cache through a proxy does that, say.
    """
    charger = radio.queue()

    async def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise BleakError("characteristic 00002222 not found")

    charger.start_notify = refuse  # type: ignore[method-assign]


def connect_fails(error: BaseException) -> Callable[[FakeRadio], None]:
    """``establish_connection`` raises."""

    def arrange(radio: FakeRadio) -> None:
        radio.connect_error = error

    return arrange


def device_gone(radio: FakeRadio) -> None:
    """The charger left Bluetooth range (or provisioning mode) after discovery."""
    radio.forget(ADDRESS)


PROVISIONING_FAILURES = [
    pytest.param(
        fail_with(results={"set_wifi_info": 1}), "wifi_join_failed", id="wifi-result"
    ),
    pytest.param(
        fail_with(results={"set_mqtt_info": 3}), "network_step_failed", id="mqtt-result"
    ),
    pytest.param(
        fail_with(results={"set_rtk_info": 1}), "antenna_step_failed", id="rtk-result"
    ),
    pytest.param(
        fail_with(results={"set_cfg_info": 1}), "provisioning_failed", id="cfg-result"
    ),
    pytest.param(
        fail_with(silent={"set_wifi_info"}),
        "not_in_provisioning_mode",
        id="first-unanswered",
    ),
    pytest.param(fail_with(silent={"set_rtk_info"}), "no_reply", id="later-unanswered"),
    pytest.param(
        fail_with(lose_link={"set_rtk_info": LinkLoss.BEFORE_REPLY}),
        "link_lost",
        id="link-lost-waiting",
    ),
    pytest.param(
        fail_with(lose_link={"set_wifi_info": LinkLoss.AFTER_REPLY}),
        "link_lost",
        id="link-lost-between",
    ),
    pytest.param(fail_with(failing_write=3), "link_lost", id="write-fails"),
    pytest.param(device_gone, "device_not_found", id="device-gone"),
    pytest.param(
        connect_fails(BleakError("no slot")), "cannot_connect", id="bleak-error"
    ),
    pytest.param(notifications_fail, "cannot_connect", id="notifications-refused"),
    pytest.param(connect_fails(TimeoutError()), "cannot_connect", id="connect-timeout"),
]


@pytest.mark.parametrize(("arrange", "error"), PROVISIONING_FAILURES)
@pytest.mark.usefixtures("fast_timeouts")
async def test_provisioning_failure_returns_to_the_settings_form_with_the_input_kept(
    open_broker: Mosquitto,
    discovered: SetupDialog,
    *,
    arrange: Callable[[FakeRadio], None],
    error: str,
) -> None:
    arrange(discovered.radio)

    result = await discovered.provision(open_broker.port)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"base": error}
    placeholders = result["description_placeholders"] or {}
    assert STRINGS["config"]["error"][error].format(**placeholders) in rendered(result)
    # The input is kept, except the password, which is never shown again.
    assert suggested_values(result["data_schema"]) == without_password(
        settings_input(open_broker.port)
    )
    # A charger that was reached is let go.
    for charger in discovered.radio.chargers:
        assert not charger.is_connected
        assert charger.committed is None


@pytest.mark.parametrize(
    ("typed_again", "sent"),
    [
        pytest.param("", PASSWORD, id="empty-keeps-the-one-typed-before"),
        pytest.param(NEW_PASSWORD, NEW_PASSWORD, id="a-new-one"),
    ],
)
async def test_a_retry_sends_the_password_typed_last(
    open_broker: Mosquitto, discovered: SetupDialog, *, typed_again: str, sent: str
) -> None:
    discovered.radio.queue(results={"set_wifi_info": 1})
    result = await discovered.provision(open_broker.port)
    assert result["errors"] == {"base": "wifi_join_failed"}

    result = await discovered.provision(open_broker.port, password=typed_again)

    assert result["step_id"] == "claim"
    first, second = discovered.radio.chargers
    assert first.received[0]["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    assert second.committed is not None
    assert second.committed["set_wifi_info"]["sta"]["passwd"] == sent
    await discovered.close()


async def test_retry_in_gateway_mode_admits_the_charger_again_before_letting_go(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    discovered.radio.queue(results={"set_rtk_info": 1})
    result = await discovered.provision(locked_broker.port)
    assert result["errors"] == {"base": "antenna_step_failed"}

    result = await discovered.provision(locked_broker.port, password="")

    assert result["step_id"] == "claim"
    # The second lease is taken before the first is given back: the gateway
    # never stops between two attempts.
    assert gateway.events == ["use 1", "use 2", "release 1"]
    await discovered.close()
    assert gateway.in_use == 0


# --- What real chargers do (docs/charger-protocol.md) --------------------------------


async def test_a_failed_wifi_join_names_the_network_and_commits_nothing(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    charger = discovered.radio.queue(results={"set_wifi_info": 1})

    result = await discovered.provision(open_broker.port)

    assert result["errors"] == {"base": "wifi_join_failed"}
    assert result["description_placeholders"] == {"ssid": SSID}
    assert rendered(result).count(SSID) == 2
    assert charger.commands == ["set_wifi_info"]
    assert charger.committed is None


def test_the_wifi_step_says_it_can_take_up_to_a_minute() -> None:
    assert "up to a minute" in STRINGS["config"]["progress"]["set_wifi_info"]


async def test_a_pairing_the_charger_fails_to_store_is_an_antenna_failure(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    """Any result but 0 and 1 (a scan that timed out): the radio module failed."""
    charger = discovered.radio.queue(results={"set_lora_info": 2})

    result = await discovered.provision(open_broker.port, radio=pairing(4242, 15))

    assert result["step_id"] == "settings"
    assert result["errors"] == {"base": "antenna_step_failed"}
    assert charger.commands == ["set_wifi_info", "set_rtk_info", "set_lora_info"]
    assert charger.committed is None
