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

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
)
from custom_components.novabot.flow.broker_choice import (
    BrokerChoice,
    BrokerChoiceError,
    BrokerChooser,
)
from custom_components.novabot.flow.settings_form import settings_from_input
from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    GatewayPortInUseError,
    GatewaySettings,
    GatewayStartError,
)
from custom_components.novabot.protocol import (
    ANONYMOUS_LOGIN,
    Admission,
    ProbeOutcome,
    ProbeResult,
    arbitrary_login,
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
    MOWER_NOTICE,
    STRINGS,
    GatewayStandIn,
    SetupDialog,
    configured_entry,
    rendered,
    unused_port,
)
from .conftest import FLOW

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from homeassistant.core import HomeAssistant

    from custom_components.novabot.protocol import ProvisioningSettings
    from tests.mosquitto import Mosquitto, MosquittoFactory


pytestmark = pytest.mark.usefixtures("mqtt_mock")

# How real Mosquitto brokers are set up, and what they make of the ways chargers
# log in: without a login (v0.3.6), and with a login nobody knows (v0.4.0's is
# disputed, so the probe makes one up).
OPEN: dict[str, Any] = {}  # anonymous clients welcome, no password file: any login
PASSWORD_FILE = {"allow_anonymous": True, "users": {"homeassistant": "pw"}}
ADDON = {"allow_anonymous": False, "users": {"homeassistant": "secret"}}
# One charger's cloud account, once mistaken for every v0.4.0 charger's login.
CLOUD_LOGIN_ONLY = {"allow_anonymous": False, "users": {"li9hep19": "jzd4wac6"}}


def settings(port: int) -> ProvisioningSettings:
    """The checked settings of a charger told to report to 127.0.0.1:``port``."""
    return settings_from_input(settings_input(port), None)


@contextlib.contextmanager
def shared_gateway_settings(
    port: int, bind_address: str = DEFAULT_BIND_ADDRESS
) -> Iterator[None]:
    """The gateway settings every charger shares say ``port`` (and the address)."""
    shared = GatewaySettings(port=port, bind_address=bind_address)
    with (
        patch(f"{CHOICE}.shared_gateway_settings", return_value=shared),
        patch(f"{FLOW}.shared_gateway_settings", return_value=shared),
        patch(f"{INTEGRATION}.gateway.shared_gateway_settings", return_value=shared),
    ):
        yield


# --- BrokerChooser, without a flow --------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "gateway_needed", "firmware_refused"),
    [
        pytest.param(OPEN, False, "", id="allow-anonymous-without-password-file"),
        pytest.param(
            PASSWORD_FILE, True, "v0.4.0", id="allow-anonymous-with-password-file"
        ),
        pytest.param(ADDON, True, "v0.3.6, v0.4.0", id="addon-like"),
        pytest.param(CLOUD_LOGIN_ONLY, True, "v0.3.6, v0.4.0", id="li9hep19-only"),
    ],
)
async def test_direct_mode_only_for_a_broker_that_admits_any_login(
    hass: HomeAssistant,
    mosquitto_factory: MosquittoFactory,
    gateway: GatewayStandIn,
    *,
    broker: dict[str, Any],
    gateway_needed: bool,
    firmware_refused: str,
) -> None:
    """A charger can be updated from one firmware to the other at any time."""
    port = mosquitto_factory(**broker).port

    choice = await BrokerChooser(hass).async_choose(settings(port))

    assert choice.gateway is gateway_needed
    assert choice.charger_port == (gateway.port if gateway_needed else port)
    assert choice.refused_firmware == firmware_refused
    assert gateway.calls == []  # the probe opens nothing


async def test_every_probe_makes_up_a_login_of_its_own() -> None:
    """No broker can know it: only one admitting any login lets it in."""
    first, second = arbitrary_login(), arbitrary_login()

    assert first.firmware == second.firmware == "v0.4.0"
    assert first.username != second.username
    assert first.password != second.password
    assert "li9hep19" not in (first.username, second.username)


async def test_the_gateway_is_opened_for_the_charger_and_checked_like_a_broker(
    hass: HomeAssistant, locked_broker: Mosquitto, gateway: GatewayStandIn
) -> None:
    chooser = BrokerChooser(hass)
    choice = await chooser.async_choose(settings(locked_broker.port))

    await chooser.async_open_gateway(settings(locked_broker.port), choice)

    # A flow's lease: not kept (nor retried) when the port will not open.
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, False)]
    await chooser.async_release()
    assert gateway.in_use == 0


async def test_a_broker_chosen_directly_after_the_gateway_gives_the_gateway_back(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    open_broker: Mosquitto,
    gateway: GatewayStandIn,
) -> None:
    """The user corrected the broker address: the first try's lease is not needed."""
    chooser = BrokerChooser(hass)
    first_try = settings(locked_broker.port)
    await chooser.async_open_gateway(first_try, await chooser.async_choose(first_try))
    assert gateway.in_use == 1

    choice = await chooser.async_choose(settings(open_broker.port))

    assert choice == BrokerChoice(gateway=False, charger_port=open_broker.port)
    assert gateway.in_use == 0


async def test_nothing_listening_is_no_broker(
    hass: HomeAssistant, gateway: GatewayStandIn
) -> None:
    chooser = BrokerChooser(hass)

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
    text = rendered(result)
    assert (
        f"Your broker at {LOOPBACK}:{locked_broker.port} would refuse chargers "
        "with firmware v0.3.6, v0.4.0." in text
    )
    assert f"lets the charger in on port {gateway.port}" in text
    assert MOWER_NOTICE in text
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
        "charger_address": None,
        "charger_channel": None,
        "mqtt_host": LOOPBACK,
        "mqtt_port": gateway.port,
        "gateway": True,
        "address": ADDRESS,
    }
    # The entry holds the settings every gateway-mode charger shares.
    assert result["options"] == {
        CONF_GATEWAY_PORT: gateway.port,
        CONF_GATEWAY_BIND_ADDRESS: DEFAULT_BIND_ADDRESS,
    }
    # The charger goes to Home Assistant's host, on the gateway's port.
    assert discovered.radio.charger.committed is not None
    assert discovered.radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": gateway.port,
    }
    # The entry holds its own lease; the flow gave its lease back.
    await discovered.settle()
    assert gateway.calls == [
        (SERIAL_NUMBER, gateway.port, False),
        (SERIAL_NUMBER, gateway.port, True),
    ]
    assert gateway.events == ["use 1", "use 2", "release 1"]


@pytest.mark.parametrize(
    ("broker", "firmware"),
    [
        pytest.param(PASSWORD_FILE, "v0.4.0", id="allow-anonymous-with-password-file"),
        pytest.param(CLOUD_LOGIN_ONLY, "v0.3.6, v0.4.0", id="li9hep19-only"),
    ],
)
async def test_the_gateway_step_names_the_firmware_the_broker_would_refuse(
    mosquitto_factory: MosquittoFactory,
    gateway: GatewayStandIn,
    discovered: SetupDialog,
    *,
    broker: dict[str, Any],
    firmware: str,
) -> None:
    result = await discovered.enter_settings(mosquitto_factory(**broker).port)

    assert result["step_id"] == "gateway"
    assert result["description_placeholders"]["firmware"] == firmware
    assert f"would refuse chargers with firmware {firmware}." in rendered(result)
    await discovered.close()


async def test_a_new_charger_joins_the_gateway_the_others_use(
    hass: HomeAssistant,
    locked_broker: Mosquitto,
    gateway_leases: GatewayStandIn,
    dialog: SetupDialog,
) -> None:
    """One gateway serves every charger: a new one is told where it listens."""
    gateway = gateway_leases
    shared = {CONF_GATEWAY_PORT: gateway.port, CONF_GATEWAY_BIND_ADDRESS: LOOPBACK}
    other = configured_entry(
        hass,
        OTHER_SERIAL_NUMBER,
        address=OTHER_ADDRESS,
        gateway=True,
        mqtt_port=gateway.port,
    )
    hass.config_entries.async_update_entry(other, options=shared)
    await dialog.start()

    await dialog.provision(locked_broker.port)
    result = await dialog.report()

    assert gateway.calls[0] == (SERIAL_NUMBER, gateway.port, False)
    assert result["data"]["mqtt_port"] == gateway.port
    assert result["result"].options == shared


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


# A broker that turns every login away for a reason other than the login.
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
            AsyncMock(
                return_value=Admission(
                    {ANONYMOUS_LOGIN: REFUSED_2, arbitrary_login(): REFUSED_2}
                )
            ),
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
async def test_a_gateway_that_cannot_be_used_returns_to_the_settings_with_the_reason(
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    dialog: SetupDialog,
    arrange: Callable[[GatewayStandIn], int],
) -> None:
    port = arrange(gateway)
    await dialog.start()
    with shared_gateway_settings(port):
        assert (await dialog.enter_settings(locked_broker.port))["step_id"] == "gateway"

        result = await dialog.submit({})

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


async def test_a_gateway_that_refuses_a_made_up_login_is_not_used(
    locked_broker: Mosquitto, mosquitto_factory: MosquittoFactory, dialog: SetupDialog
) -> None:
    """The gateway must admit any login, or the dialog says so."""
    stand_in = GatewayStandIn(mosquitto_factory(**PASSWORD_FILE).port)
    await dialog.start()

    with (
        patch(f"{CHOICE}.async_use_gateway", stand_in),
        shared_gateway_settings(stand_in.port),
    ):
        await dialog.enter_settings(locked_broker.port)
        result = await dialog.submit({})

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
    with shared_gateway_settings(port, LOOPBACK):
        await dialog.start()
        result = await dialog.enter_settings(locked_broker.port)
        assert result["step_id"] == "gateway"
        assert result["description_placeholders"]["gateway_port"] == str(port)
        # Not open until the user agrees.
        assert (await probe_broker(LOOPBACK, port)).outcome is ProbeOutcome.UNREACHABLE
        assert (await dialog.submit({}))["step_id"] == "provision"
        result = await dialog.next_step()
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
