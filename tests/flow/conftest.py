"""Fixtures of the config flow tests: the radio, brokers, the gateway, the dialog.

The dialog comes as it starts (``dialog``), or at the step a test begins from
(``discovered``, ``listening``, ``claiming``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
import pytest

from custom_components.novabot.gateway import GatewaySettings
from custom_components.novabot.protocol import probe_charger_logins

from ..flow_helpers import ADDRESS, FakeRadio, FlowWatcher, charger_service_info
from . import CHOICE, INTEGRATION, GatewayStandIn, SetupDialog

if TYPE_CHECKING:
    from collections.abc import Iterator
    from unittest.mock import MagicMock

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto, MosquittoFactory

FLOW = "custom_components.novabot.config_flow"


@pytest.fixture
def radio() -> Iterator[FakeRadio]:
    """Home Assistant's Bluetooth, hearing one charger in provisioning mode."""
    radio = FakeRadio()
    radio.hear(charger_service_info())
    with radio.installed():
        yield radio


@pytest.fixture
def open_broker(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A broker that admits anonymous clients, as a self-run Mosquitto may."""
    return mosquitto_factory()


@pytest.fixture
def locked_broker(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A broker that wants a login, as the Mosquitto add-on does."""
    return mosquitto_factory(allow_anonymous=False, users={"homeassistant": "secret"})


@pytest.fixture
def gateway_leases(mosquitto_factory: MosquittoFactory) -> Iterator[GatewayStandIn]:
    """The gateway, for the flow and for the entries it creates, on a free port.

    Where it listens is what the gateway-mode entries' options say (the
    defaults without any): a test that needs the stand-in's port there puts it
    there, or asks for ``gateway``.
    """
    stand_in = GatewayStandIn(mosquitto_factory().port)
    with (
        patch(f"{CHOICE}.async_use_gateway", stand_in),
        patch(f"{INTEGRATION}.async_use_gateway", stand_in),
    ):
        yield stand_in


@pytest.fixture
def gateway(gateway_leases: GatewayStandIn) -> Iterator[GatewayStandIn]:
    """The gateway on a free port, which the shared gateway settings name.

    The flow tells chargers that port, and a new gateway-mode entry takes the
    same settings as its options.
    """
    settings = GatewaySettings(port=gateway_leases.port)
    with (
        patch(f"{CHOICE}.shared_gateway_settings", return_value=settings),
        patch(f"{FLOW}.shared_gateway_settings", return_value=settings),
    ):
        yield gateway_leases


@pytest.fixture
def probe() -> Iterator[MagicMock]:
    """The broker probe, watched: a form it refuses must not reach the broker."""
    with patch(f"{CHOICE}.probe_charger_logins", wraps=probe_charger_logins) as watched:
        yield watched


@pytest.fixture
def dialog(hass: HomeAssistant, watcher: FlowWatcher, radio: FakeRadio) -> SetupDialog:
    """A setup dialog to drive, with one charger heard over Bluetooth."""
    return SetupDialog(hass, watcher, radio)


@pytest.fixture
async def discovered(dialog: SetupDialog) -> SetupDialog:
    """A charger in provisioning mode was heard: the settings form is on screen."""
    result = await dialog.start()
    assert result["step_id"] == "settings"
    return dialog


@pytest.fixture
def short_listen() -> Iterator[None]:
    """Listening for reporting chargers takes a tenth of a second."""
    with patch(f"{FLOW}.LISTEN_TIME", 0.1):
        yield


@pytest.fixture
def short_claim() -> Iterator[None]:
    """A claim window of a few hundredths of a second."""
    with patch(f"{FLOW}.CLAIM_TIMEOUT", 0.05):
        yield


@pytest.fixture
async def listening(dialog: SetupDialog) -> SetupDialog:
    """The user adds a charger, none is heard over Bluetooth: the flow listens."""
    dialog.radio.forget(ADDRESS)
    result = await dialog.start(SOURCE_USER)
    assert result["progress_action"] == "find_reporting"
    assert set(result["description_placeholders"]) == {"seconds"}
    return dialog


@pytest.fixture
async def claiming(open_broker: Mosquitto, discovered: SetupDialog) -> SetupDialog:
    """A charger provisioned in direct mode: the claim window is open."""
    result = await discovered.provision(open_broker.port)
    assert result["step_id"] == "claim"
    return discovered
