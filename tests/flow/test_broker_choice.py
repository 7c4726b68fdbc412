"""Direct or gateway: the broker is probed as chargers log in, and the dialog says why.

``BrokerChooser`` is tested alone first, against real brokers; then the dialog
around it: the gateway step, the gateway a new charger joins, every way the
broker or the gateway can fail, and the real gateway relaying a charger's
first report.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock, patch

from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.const import CONF_GATEWAY_BIND_ADDRESS
from custom_components.novabot.flow.broker_choice import (
    BrokerChoice,
    BrokerChoiceError,
    BrokerChooser,
)
from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    GatewayPortInUseError,
    GatewayStartError,
)
from custom_components.novabot.protocol import (
    CHARGER_LOGINS,
    Admission,
    ProbeOutcome,
    ProbeResult,
    ProvisioningSettings,
    probe_broker,
    probe_charger_logins,
)

from ..common import state
from ..flow_helpers import (
    ADDRESS,
    OTHER_ADDRESS,
    OTHER_SERIAL_NUMBER,
    SERIAL_NUMBER,
    report_payload,
    settings_input,
    status_topic,
)
from ..gateway.clients import RawClient, publish_packet
from ..gateway.common import CONNACK_ACCEPTED
from . import (
    CHOICE,
    INTEGRATION,
    LOOPBACK,
    STRINGS,
    GatewayStandIn,
    SetupDialog,
    configured_entry,
    rendered,
    unused_port,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto, MosquittoFactory


pytestmark = pytest.mark.usefixtures("mqtt_mock")

# How brokers are set up, and what they make of the two ways chargers log in.
OPEN: dict[str, Any] = {}  # anonymous clients welcome, no password file: both admitted
PASSWORD_FILE = {"allow_anonymous": True, "users": {"homeassistant": "pw"}}
FIXED_LOGIN_ONLY = {"allow_anonymous": False, "users": {"li9hep19": "jzd4wac6"}}
ADDON = {"allow_anonymous": False, "users": {"homeassistant": "secret"}}


def settings(port: int) -> ProvisioningSettings:
    """The checked settings of a charger told to report to 127.0.0.1:``port``."""
    return ProvisioningSettings.create(**settings_input(port))


# --- BrokerChooser, without a flow --------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "firmware_refused"),
    [
        pytest.param(PASSWORD_FILE, "v0.4.0", id="password-file"),
        pytest.param(FIXED_LOGIN_ONLY, "v0.3.6", id="fixed-login-only"),
        pytest.param(ADDON, "v0.3.6, v0.4.0", id="addon"),
    ],
)
async def test_a_broker_that_would_refuse_either_login_means_the_gateway(
    hass: HomeAssistant,
    mosquitto_factory: MosquittoFactory,
    gateway: GatewayStandIn,
    *,
    broker: dict[str, Any],
    firmware_refused: str,
) -> None:
    """A charger can be updated from one firmware to the other at any time."""
    chooser = BrokerChooser(hass, gateway.port, LOOPBACK)

    choice = await chooser.async_choose(settings(mosquitto_factory(**broker).port))

    assert choice.gateway is True
    assert choice.charger_port == gateway.port
    assert choice.refused_firmware == firmware_refused
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, LOOPBACK)]
    await chooser.async_release()
    assert gateway.in_use == 0


async def test_a_broker_that_admits_both_logins_is_used_directly(
    hass: HomeAssistant, mosquitto_factory: MosquittoFactory, gateway: GatewayStandIn
) -> None:
    broker = mosquitto_factory(**OPEN)

    choice = await BrokerChooser(hass, gateway.port, LOOPBACK).async_choose(
        settings(broker.port)
    )

    assert choice == BrokerChoice(gateway=False, charger_port=broker.port)
    assert gateway.calls == []


async def test_a_broker_chosen_directly_after_the_gateway_gives_the_gateway_back(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    open_broker: Mosquitto,
    gateway: GatewayStandIn,
) -> None:
    """The user corrected the broker address: the first try's lease is not needed."""
    chooser = BrokerChooser(hass, gateway.port, LOOPBACK)
    await chooser.async_choose(settings(locked_broker.port))
    assert gateway.in_use == 1

    choice = await chooser.async_choose(settings(open_broker.port))

    assert choice.gateway is False
    assert gateway.in_use == 0


async def test_nothing_listening_is_no_broker(
    hass: HomeAssistant, gateway: GatewayStandIn
) -> None:
    chooser = BrokerChooser(hass, gateway.port, LOOPBACK)

    with pytest.raises(BrokerChoiceError) as raised:
        await chooser.async_choose(settings(unused_port()))

    assert raised.value.error == "broker_unreachable"
    assert raised.value.placeholders == {}


# --- The dialog: direct or the gateway ----------------------------------------------


async def test_a_broker_that_wants_a_login_sends_the_charger_through_the_gateway(
    locked_broker: Mosquitto, gateway: GatewayStandIn, discovered: SetupDialog
) -> None:
    result = await discovered.enter_settings(locked_broker.port)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "gateway"
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "port": str(locked_broker.port),
        "gateway_port": str(gateway.port),
        "firmware": "v0.3.6, v0.4.0",
    }
    assert rendered(result).endswith(
        f"Your broker at {LOOPBACK}:{locked_broker.port} would refuse chargers with "
        "firmware v0.3.6, v0.4.0. (Firmware v0.3.6 connects without a login; v0.4.0 "
        "and later log in with a fixed login, the same for every charger.) Home "
        f"Assistant lets the charger in on port {gateway.port} and relays its "
        "messages to your broker, which stays unchanged."
    )
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, DEFAULT_BIND_ADDRESS)]
    assert discovered.radio.connect_calls == []  # nothing sent before the user agrees

    assert (await discovered.submit({}))["type"] is FlowResultType.SHOW_PROGRESS
    result = await discovered.next_step()
    assert result["step_id"] == "claim"
    # The charger reports to the gateway: that is where the claim listens.
    assert result["description_placeholders"]["port"] == str(gateway.port)
    result = await discovered.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        "charger_channel": 15,
        "mqtt_host": LOOPBACK,
        "mqtt_port": gateway.port,
        "gateway": True,
        "address": ADDRESS,
    }
    assert result["options"] == {}  # the gateway listens where it always does
    # The charger goes to Home Assistant's host, on the gateway's port.
    assert discovered.radio.charger.committed is not None
    assert discovered.radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": gateway.port,
    }
    # The entry holds its own lease; the flow gave its lease back.
    await discovered.settle()
    assert gateway.events == ["use 1", "use 2", "release 1"]


async def test_a_new_charger_joins_the_gateway_the_others_use(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    dialog: SetupDialog,
) -> None:
    """One gateway serves every charger: a new one must not move it."""
    other = configured_entry(
        hass,
        OTHER_SERIAL_NUMBER,
        address=OTHER_ADDRESS,
        gateway=True,
        mqtt_port=gateway.port,
    )
    hass.config_entries.async_update_entry(
        other, options={CONF_GATEWAY_BIND_ADDRESS: LOOPBACK}
    )
    await dialog.start()

    await dialog.provision(locked_broker.port)
    result = await dialog.report()

    assert gateway.calls[0] == (SERIAL_NUMBER, gateway.port, LOOPBACK)
    assert result["data"]["mqtt_port"] == gateway.port
    assert result["result"].options == {CONF_GATEWAY_BIND_ADDRESS: LOOPBACK}


# --- The dialog: what can go wrong -----------------------------------------------------


@pytest.fixture
async def not_mqtt_server(socket_enabled: None) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 that answers like a web server, not a broker."""

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(OSError):
            await reader.read(64)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    server = await asyncio.start_server(answer, LOOPBACK, 0)
    port: int = server.sockets[0].getsockname()[1]
    yield port
    server.close()
    await server.wait_closed()


# A broker that turns both logins away for a reason other than the login.
REFUSED_2 = ProbeResult(ProbeOutcome.REFUSED, return_code=2)


@pytest.mark.parametrize(
    ("broker", "probe", "error", "placeholders"),
    [
        pytest.param(
            "closed", probe_charger_logins, "broker_unreachable", {}, id="unreachable"
        ),
        pytest.param(
            "not_mqtt", probe_charger_logins, "broker_not_mqtt", {}, id="not-mqtt"
        ),
        pytest.param(
            "closed",
            AsyncMock(return_value=Admission(dict.fromkeys(CHARGER_LOGINS, REFUSED_2))),
            "broker_refused",
            {"return_code": "2"},
            id="refused-other-code",
        ),
    ],
)
async def test_broker_problem_is_reported_on_the_broker_address_and_nothing_is_sent(
    dialog: SetupDialog,
    not_mqtt_server: int,
    *,
    broker: str,
    probe: Callable[..., Any],
    error: str,
    placeholders: dict[str, str],
) -> None:
    port = not_mqtt_server if broker == "not_mqtt" else unused_port()
    await dialog.start()

    with patch(f"{CHOICE}.probe_charger_logins", probe):
        result = await dialog.enter_settings(port)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"mqtt_host": error}
    assert result["description_placeholders"] == placeholders
    assert STRINGS["config"]["error"][error].format(**placeholders) in rendered(result)
    assert dialog.radio.connect_calls == []


def gateway_silent(gateway: GatewayStandIn) -> int:
    """It starts, but nothing answers on its port (another address, say)."""
    return unused_port()


def gateway_port_in_use(gateway: GatewayStandIn) -> int:
    """Another program listens on the gateway's port."""
    gateway.error = GatewayPortInUseError(gateway.port)
    return gateway.port


def gateway_cannot_listen(gateway: GatewayStandIn) -> int:
    """The gateway may not listen there at all."""
    gateway.error = GatewayStartError(
        DEFAULT_BIND_ADDRESS, gateway.port, OSError(errno.EACCES, "Permission denied")
    )
    return gateway.port


@pytest.mark.parametrize(
    "arrange", [gateway_silent, gateway_port_in_use, gateway_cannot_listen]
)
async def test_a_gateway_that_cannot_be_used_is_reported_on_the_broker_address(
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    dialog: SetupDialog,
    arrange: Callable[[GatewayStandIn], int],
) -> None:
    port = arrange(gateway)
    await dialog.start()

    with patch(f"{CHOICE}.DEFAULT_GATEWAY_PORT", port):
        result = await dialog.enter_settings(locked_broker.port)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "gateway_port": str(port),
    }
    assert f"{LOOPBACK}:{port}" in rendered(result)
    assert dialog.radio.connect_calls == []
    # The gateway is given back when the dialog is closed.
    await dialog.close()
    assert gateway.in_use == 0


async def test_a_gateway_that_refuses_the_fixed_login_is_not_used(
    locked_broker: Mosquitto, mosquitto_factory: MosquittoFactory, dialog: SetupDialog
) -> None:
    """The gateway must admit both ways chargers log in, or the dialog says so."""
    stand_in = GatewayStandIn(mosquitto_factory(**PASSWORD_FILE).port)
    await dialog.start()

    with (
        patch(f"{CHOICE}.async_use_gateway", stand_in),
        patch(f"{CHOICE}.DEFAULT_GATEWAY_PORT", stand_in.port),
    ):
        result = await dialog.enter_settings(locked_broker.port)

    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert dialog.radio.connect_calls == []
    await dialog.close()


# --- The real gateway ----------------------------------------------------------------


async def publish_as_charger(port: int, topic: str, payload: bytes) -> None:
    """Connect anonymously like the charger, publish one report (QoS 0), leave."""
    client = await RawClient.open(port)
    try:
        assert await client.connect("ESP32_0123AB") == CONNACK_ACCEPTED
        await client.send(publish_packet(topic, payload) + b"\xe0\x00")  # DISCONNECT
    finally:
        await client.close()


async def test_gateway_mode_end_to_end_with_the_real_gateway(
    hass: HomeAssistant, locked_broker: Mosquitto, dialog: SetupDialog
) -> None:
    port = unused_port()
    with (
        patch(f"{CHOICE}.DEFAULT_GATEWAY_PORT", port),
        patch(f"{CHOICE}.DEFAULT_BIND_ADDRESS", LOOPBACK),
        patch(f"{INTEGRATION}.gateway.DEFAULT_BIND_ADDRESS", LOOPBACK),
    ):
        await dialog.start()
        result = await dialog.enter_settings(locked_broker.port)
        assert result["step_id"] == "gateway"
        assert result["description_placeholders"]["gateway_port"] == str(port)
        result = await dialog.provision(locked_broker.port)
        assert result["step_id"] == "claim"
        assert dialog.radio.charger.committed is not None
        told = dialog.radio.charger.committed["set_mqtt_info"]
        assert told == {"addr": LOOPBACK, "port": port}

        # The charger reboots, connects where it was told and reports; the
        # gateway relays the report through Home Assistant's MQTT.
        await publish_as_charger(told["port"], status_topic(), report_payload())
        result = await dialog.next_step()

        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["gateway"] is True
        assert result["data"]["mqtt_port"] == port
        assert state(hass, "gps_satellites").state == "17"
        await dialog.settle()
        # The entry keeps the gateway running after the flow let go of it.
        assert (await probe_broker(LOOPBACK, port)).outcome is ProbeOutcome.ACCEPTED
