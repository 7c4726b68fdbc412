"""The config flow: discovery, settings, broker check, provisioning, claim, reconfigure.

Only the radio edge is faked (``FakeRadio`` in ``flow_helpers``: what Home
Assistant's Bluetooth hears and the ``VirtualCharger`` it connects to). Brokers
are real Mosquitto processes on 127.0.0.1; Home Assistant's own MQTT client is
the usual ``mqtt_mock``, and the charger's reports arrive through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from functools import partial
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock, patch

from bleak.exc import BleakError
from homeassistant.components import mqtt, network
from homeassistant.config_entries import (
    SOURCE_BLUETOOTH,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.const import CONF_PROTOCOL
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.novabot.config_flow import NovabotConfigFlow
from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    DOMAIN,
)
from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    GatewayPortInUseError,
    GatewayStartError,
)
from custom_components.novabot.protocol import (
    CHARGER_LOGINS,
    Admission,
    Command,
    ProbeOutcome,
    ProbeResult,
    ProvisioningSession,
    probe_broker,
    probe_charger_logins,
)
from custom_components.novabot.protocol.broker import connect_packet

from .flow_helpers import (
    ADDRESS,
    OTHER_ADDRESS,
    OTHER_SERIAL_NUMBER,
    PASSWORD,
    PROVISIONING_ACTIONS,
    SERIAL_NUMBER,
    SSID,
    THIRD_SERIAL_NUMBER,
    FakeRadio,
    FlowWatcher,
    charger_service_info,
    report_payload,
    select_options,
    status_topic,
    suggested_values,
    wait_for,
)
from .virtual_charger import FirmwareTimings, LinkLoss, LoraReply

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto, MosquittoFactory

FLOW = "custom_components.novabot.config_flow"
CHOICE = "custom_components.novabot.broker_choice"
SESSION = "custom_components.novabot.bluetooth_session"
INTEGRATION = "custom_components.novabot"
LOOPBACK = "127.0.0.1"
STRINGS = json.loads(
    (
        Path(__file__).parent.parent / "custom_components/novabot/strings.json"
    ).read_text()
)
NEW_PASSWORD = "n3w-Garden-passphrase"
SHORT_PASSWORD = "short"
FAST_TIMEOUTS = dict.fromkeys(Command, 0.2)

# The mosquitto_factory fixture (real brokers on 127.0.0.1, stopped after each
# test). tests.mosquitto is imported only inside functions: a module imported
# before pytest registers it as a plugin gets no assertion rewriting.


# --- Fixtures --------------------------------------------------------------------


@pytest.fixture
def radio() -> Iterator[FakeRadio]:
    """Home Assistant's Bluetooth, hearing one charger in provisioning mode.

    Sessions write without pacing (``chunk_delay=0``) unless a test says otherwise.
    """
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


class GatewayStandIn:
    """``async_use_gateway``, recorded; an anonymous Mosquitto plays its listener."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.error: Exception | None = None
        self.calls: list[tuple[str, int, str]] = []
        self.events: list[str] = []  # "use <n>" / "release <n>", in order
        self.releases = 0

    async def __call__(
        self, hass: HomeAssistant, serial_number: str, *, port: int, bind_address: str
    ) -> Callable[[], Any]:
        self.calls.append((serial_number, port, bind_address))
        if self.error is not None:
            raise self.error
        lease = len(self.calls)
        self.events.append(f"use {lease}")

        async def release() -> None:
            self.releases += 1
            self.events.append(f"release {lease}")

        return release

    @property
    def in_use(self) -> int:
        """Leases handed out and not given back."""
        return sum(e.startswith("use") for e in self.events) - self.releases


@pytest.fixture
def gateway(mosquitto_factory: MosquittoFactory) -> Iterator[GatewayStandIn]:
    """The gateway, for the flow and for the entries it creates, on a free port."""
    listener = mosquitto_factory()
    stand_in = GatewayStandIn(listener.port)
    with (
        patch(f"{CHOICE}.async_use_gateway", stand_in),
        patch(f"{INTEGRATION}.async_use_gateway", stand_in),
        patch(f"{FLOW}.DEFAULT_GATEWAY_PORT", listener.port),
    ):
        yield stand_in


@pytest.fixture
def watcher(hass: HomeAssistant) -> Iterator[FlowWatcher]:
    """Follow the flows of the integration as the frontend would."""
    watcher = FlowWatcher(hass, DOMAIN)
    yield watcher
    watcher.close()


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


# --- Helpers ---------------------------------------------------------------------


def unused_port() -> int:
    """A loopback port nobody listens on."""
    from tests.mosquitto import free_port

    return free_port()


def settings_input(port: int, **overrides: Any) -> dict[str, Any]:
    """What the user types in the settings form; the broker is always on 127.0.0.1."""
    return {
        "serial_number": SERIAL_NUMBER,
        "ssid": SSID,
        "password": PASSWORD,
        "mqtt_host": LOOPBACK,
        "mqtt_port": port,
        **overrides,
    }


async def start_bluetooth_flow(hass: HomeAssistant, address: str = ADDRESS) -> Any:
    """Home Assistant heard a charger advertise."""
    return await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_BLUETOOTH},
        data=charger_service_info(address),
    )


async def submit(
    hass: HomeAssistant, watcher: FlowWatcher, flow_id: str, user_input: dict[str, Any]
) -> Any:
    """Submit a form; note the step it leads to."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    watcher.record(result)
    return result


async def provision(
    hass: HomeAssistant, watcher: FlowWatcher, flow_id: str, user_input: dict[str, Any]
) -> Any:
    """Submit the settings and let the Bluetooth session run to its end."""
    result = await submit(hass, watcher, flow_id, user_input)
    if result["type"] is FlowResultType.FORM and result["step_id"] == "gateway":
        result = await submit(hass, watcher, flow_id, {})
    if result["type"] is not FlowResultType.SHOW_PROGRESS:
        return result  # failed before the session had to wait for anything
    assert result["step_id"] == "provision"
    return await watcher.next_step(flow_id)


async def claim(
    hass: HomeAssistant,
    watcher: FlowWatcher,
    flow_id: str,
    payload: bytes | None = None,
    serial_number: str = SERIAL_NUMBER,
) -> Any:
    """The charger's first report arrives during the claim window."""
    async_fire_mqtt_message(
        hass, status_topic(serial_number), payload or report_payload(serial_number)
    )
    return await watcher.next_step(flow_id)


def rendered(result: Any) -> str:
    """The English text the user sees for a step, filled in as the frontend does.

    Fails (KeyError) when a placeholder the translation uses is not provided.
    """
    config = STRINGS["config"]
    placeholders = result.get("description_placeholders") or {}
    kind = result["type"]
    if kind is FlowResultType.ABORT:
        texts = [config["abort"][result["reason"]]]
    elif kind is FlowResultType.SHOW_PROGRESS:
        texts = [config["progress"][result["progress_action"]]]
    else:
        step = config["step"][result["step_id"]]
        texts = [step.get("title", ""), step.get("description", "")]
        texts += [
            config["error"][error] for error in (result.get("errors") or {}).values()
        ]
    return "\n".join(text.format(**placeholders) for text in texts)


def entity_state(hass: HomeAssistant, platform: str, key: str) -> str:
    """The state of one of the charger's entities."""
    entity_id = er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{SERIAL_NUMBER}_{key}"
    )
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def configured_entry(
    hass: HomeAssistant,
    serial_number: str = SERIAL_NUMBER,
    address: str | None = ADDRESS,
    **data: Any,
) -> MockConfigEntry:
    """A charger that is already set up (not loaded)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=f"Novabot charger {serial_number}",
        unique_id=serial_number,
        data={
            "serial_number": serial_number,
            "charger_channel": 15,
            "mqtt_host": LOOPBACK,
            "mqtt_port": 1883,
            "gateway": False,
            **({"address": address} if address else {}),
            **data,
        },
    )
    entry.add_to_hass(hass)
    return entry


# --- Bluetooth discovery -----------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_bluetooth_discovery_shows_the_settings_form(hass: HomeAssistant) -> None:
    result = await start_bluetooth_flow(hass)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {}
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "Novabot charger"}
    assert flow["context"]["unique_id"] == ADDRESS


@pytest.mark.usefixtures("mqtt_mock")
async def test_bluetooth_discovery_provisions_the_charger_and_creates_the_entry(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]

    result = await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "claim"
    assert result["progress_action"] == "claim"
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "port": str(open_broker.port),
        "seconds": "120",
    }
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Novabot charger {SERIAL_NUMBER}"
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        "charger_channel": 15,
        "mqtt_host": LOOPBACK,
        "mqtt_port": open_broker.port,
        "gateway": False,
        "address": ADDRESS,
    }
    entry = result["result"]
    assert entry.unique_id == SERIAL_NUMBER
    assert entry.state is ConfigEntryState.LOADED
    # The charger was told the broker itself (direct mode) and committed.
    charger = radio.charger
    assert charger.commands == PROVISIONING_ACTIONS[1:]
    assert charger.committed == {
        "set_wifi_info": {
            "sta": {"ssid": SSID, "passwd": PASSWORD, "encrypt": 0},
            "ap": {"ssid": SERIAL_NUMBER, "passwd": "12345678", "encrypt": 0},
        },
        "set_rtk_info": 0,
        "set_lora_info": {"addr": 718, "channel": 16, "hc": 20, "lc": 14},
        "set_mqtt_info": {"addr": LOOPBACK, "port": open_broker.port},
        "set_cfg_info": 1,
    }
    # The report the claim window heard seeds the entities: no wait for the next.
    assert entity_state(hass, "sensor", "gps_satellites") == "17"
    assert entity_state(hass, "sensor", "mower_status") == "0"
    assert entity_state(hass, "binary_sensor", "gps_fix") == "on"
    assert entity_state(hass, "binary_sensor", "rtk_fix") == "on"
    assert entity_state(hass, "binary_sensor", "mower_connected") == "on"


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_discovery_of_a_mower_aborts_not_a_charger(hass: HomeAssistant) -> None:
    """Mowers advertise the chargers' company id, under another name."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_BLUETOOTH},
        data=charger_service_info(name="NOVABOT"),
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_a_charger"


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_second_discovery_of_the_same_charger_aborts_already_in_progress(
    hass: HomeAssistant,
) -> None:
    first = await start_bluetooth_flow(hass)
    assert first["type"] is FlowResultType.FORM

    second = await start_bluetooth_flow(hass)

    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_discovery_of_a_configured_charger_aborts_already_configured(
    hass: HomeAssistant,
) -> None:
    configured_entry(hass)

    result = await start_bluetooth_flow(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mqtt_mock")
async def test_settings_for_a_configured_serial_number_abort_already_configured(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    # Configured through MQTT discovery: no Bluetooth address is known for it.
    configured_entry(hass, address=None)
    result = await start_bluetooth_flow(hass)

    result = await submit(hass, watcher, result["flow_id"], settings_input(1883))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert radio.connect_calls == []


@pytest.mark.parametrize("source", [SOURCE_USER, SOURCE_BLUETOOTH])
@pytest.mark.usefixtures("radio")
async def test_flow_without_mqtt_aborts_mqtt_not_configured(
    hass: HomeAssistant, source: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": source},
        data=charger_service_info() if source == SOURCE_BLUETOOTH else None,
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# --- User step: a menu, Bluetooth or the broker --------------------------------------


@pytest.fixture
def short_listen() -> Iterator[None]:
    """Listening for reporting chargers takes a few hundredths of a second."""
    with patch(f"{FLOW}.LISTEN_TIME", 0.1):
        yield


async def start_user_flow(hass: HomeAssistant, address: str = ADDRESS) -> Any:
    """The user adds the integration, chooses Bluetooth and picks a charger."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "pick_charger"}
    )
    assert result["step_id"] == "pick_charger"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"address": address}
    )


async def listen_while_reporting(
    hass: HomeAssistant,
    watcher: FlowWatcher,
    result: Any,
    reports: list[tuple[str, bytes]],
) -> Any:
    """Chargers report (every few seconds in real life) while the flow listens."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "find_reporting"
    flow_id = result["flow_id"]
    while (step := watcher.current(flow_id)) is not None and step[
        "type"
    ] is FlowResultType.SHOW_PROGRESS:
        for topic, payload in reports:
            async_fire_mqtt_message(hass, topic, payload)
        await asyncio.sleep(0.01)
    return await watcher.next_step(flow_id)


@pytest.mark.usefixtures("mqtt_mock")
async def test_user_step_offers_bluetooth_or_the_broker_when_a_charger_is_heard(
    hass: HomeAssistant, radio: FakeRadio
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["pick_charger", "find_reporting"]
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.usefixtures("mqtt_mock")
async def test_picking_a_charger_lists_those_heard_that_are_not_configured(
    hass: HomeAssistant, radio: FakeRadio
) -> None:
    configured_entry(hass, OTHER_SERIAL_NUMBER, address="22:22:22:22:22:22")
    radio.hear(
        # Known by its manufacturer data only, with no name.
        charger_service_info(OTHER_ADDRESS, name=""),
        # Known by its name only.
        charger_service_info(
            "33:33:33:33:33:33", name="charger_pile", manufacturer_data={}
        ),
        # Already configured.
        charger_service_info("22:22:22:22:22:22"),
        # Not a charger.
        charger_service_info(
            "44:44:44:44:44:44", name="Thermometer", manufacturer_data={76: b"\x02"}
        ),
        # A mower: the same company id, another name.
        charger_service_info("55:55:55:55:55:55", name="NOVABOT"),
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "pick_charger"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_charger"
    assert select_options(result["data_schema"], "address") == [
        {"value": ADDRESS, "label": f"CHARGER_PILE ({ADDRESS})"},
        {"value": OTHER_ADDRESS, "label": f"Charger ({OTHER_ADDRESS})"},
        {"value": "33:33:33:33:33:33", "label": "charger_pile (33:33:33:33:33:33)"},
    ]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"address": OTHER_ADDRESS}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["unique_id"] == OTHER_ADDRESS


@pytest.mark.usefixtures("mqtt_mock")
async def test_charger_picked_in_the_user_step_is_provisioned_and_added(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    result = await start_user_flow(hass)
    flow_id = result["flow_id"]

    await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"]["address"] == ADDRESS
    assert radio.charger.committed is not None


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(report_payload(), id="plain"),
        pytest.param(report_payload(encrypted=True), id="encrypted"),
        pytest.param(report_payload(shape="message"), id="type-message"),
    ],
)
@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_a_charger_that_reports_is_added_without_bluetooth(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher, payload: bytes
) -> None:
    radio.forget(ADDRESS)  # no Bluetooth charger: the flow listens at once
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["progress_action"] == "find_reporting"
    assert set(result["description_placeholders"]) == {"seconds"}

    result = await listen_while_reporting(
        hass, watcher, result, [(status_topic(), payload)]
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "adopt"
    assert select_options(result["data_schema"], "serial_number") == [
        {"value": SERIAL_NUMBER, "label": SERIAL_NUMBER}
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"serial_number": SERIAL_NUMBER}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Novabot charger {SERIAL_NUMBER}"
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        "charger_channel": None,
        "mqtt_host": "mock-broker",  # the MQTT entry's broker
        "mqtt_port": 1883,
        "gateway": False,
    }
    # The report heard while listening seeds the entities.
    assert entity_state(hass, "sensor", "gps_satellites") == "17"


@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_the_broker_can_be_chosen_from_the_menu_and_lists_every_new_charger(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    configured_entry(hass, THIRD_SERIAL_NUMBER)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "find_reporting"}
    )

    result = await listen_while_reporting(
        hass,
        watcher,
        result,
        [
            (status_topic(OTHER_SERIAL_NUMBER), report_payload(OTHER_SERIAL_NUMBER)),
            (status_topic(), report_payload(encrypted=True)),
            (status_topic(THIRD_SERIAL_NUMBER), report_payload(THIRD_SERIAL_NUMBER)),
        ],
    )

    assert select_options(result["data_schema"], "serial_number") == [
        {"value": SERIAL_NUMBER, "label": SERIAL_NUMBER},
        {"value": OTHER_SERIAL_NUMBER, "label": OTHER_SERIAL_NUMBER},
    ]
    hass.config_entries.flow.async_abort(result["flow_id"])


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
@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_nothing_but_a_report_that_decodes_proves_a_charger(
    hass: HomeAssistant,
    radio: FakeRadio,
    watcher: FlowWatcher,
    topic: str,
    payload: bytes,
) -> None:
    radio.forget(ADDRESS)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    result = await listen_while_reporting(hass, watcher, result, [(topic, payload)])

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_chargers_found"


@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_without_any_charger_the_abort_explains_both_ways(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    configured_entry(hass)  # the one heard over Bluetooth is configured already
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    result = await listen_while_reporting(
        hass, watcher, result, [(status_topic(), report_payload())]
    )

    assert result["reason"] == "no_chargers_found"
    text = rendered(result)
    assert "Bluetooth" in text
    assert "MQTT broker" in text


@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_choosing_the_broker_when_none_reports_points_back_to_bluetooth(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "find_reporting"}
    )

    result = await listen_while_reporting(hass, watcher, result, [])

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_reporting_chargers"


@pytest.mark.usefixtures("mqtt_mock", "short_listen")
async def test_a_charger_configured_while_listening_is_not_added_twice(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    radio.forget(ADDRESS)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await listen_while_reporting(
        hass, watcher, result, [(status_topic(), report_payload())]
    )
    configured_entry(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"serial_number": SERIAL_NUMBER}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.usefixtures("mqtt_mock")
async def test_removing_the_flow_while_listening_stops_listening(
    hass: HomeAssistant, radio: FakeRadio
) -> None:
    radio.forget(ADDRESS)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    flow = hass.config_entries.flow._progress[result["flow_id"]]
    assert isinstance(flow, NovabotConfigFlow)
    listening = flow._task
    assert listening is not None

    hass.config_entries.flow.async_abort(result["flow_id"])
    await asyncio.wait([listening], timeout=5)

    assert listening.cancelled()


# --- Settings form -------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_serial_number_is_trimmed_and_upper_cased(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]

    await provision(
        hass,
        watcher,
        flow_id,
        settings_input(open_broker.port, serial_number=" lfic1230700123 "),
    )
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"]["serial_number"] == SERIAL_NUMBER
    # The charger's own access point is named after the normalised number.
    assert radio.charger.settings["set_wifi_info"]["ap"]["ssid"] == SERIAL_NUMBER


INVALID_SETTINGS = [
    ("serial_number", "LFIN1230700123", "serial_number_prefix"),
    ("serial_number", "LFIC-1230700123", "serial_number_characters"),
    ("ssid", "", "ssid_empty"),
    ("ssid", "x" * 33, "ssid_too_long"),
    ("ssid", "é" * 17, "ssid_too_long"),  # 17 characters, 34 bytes
    ("password", "short", "password_length"),
    ("password", "x" * 64, "password_length"),  # 64 characters, not hex
    ("password", "pässwörd-garden", "password_characters"),
    ("mqtt_host", "", "mqtt_host_empty"),
    ("mqtt_host", "mqtt://127.0.0.1", "mqtt_host_scheme"),
    ("mqtt_host", "my broker", "mqtt_host_spaces"),
    ("mqtt_host", "broker." + "a" * 23, "mqtt_host_too_long"),  # 30 bytes
]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        pytest.param(*case, id=case[2] + "-" + str(n))
        for n, case in enumerate(INVALID_SETTINGS)
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_invalid_setting_is_reported_on_its_field_before_anything_is_contacted(
    hass: HomeAssistant,
    radio: FakeRadio,
    watcher: FlowWatcher,
    *,
    field: str,
    value: str,
    error: str,
) -> None:
    result = await start_bluetooth_flow(hass)
    user_input = settings_input(1883, **{field: value})

    with patch(f"{CHOICE}.probe_charger_logins", wraps=probe_charger_logins) as probe:
        result = await submit(hass, watcher, result["flow_id"], user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {field: error}
    assert error in STRINGS["config"]["error"]
    probe.assert_not_called()
    assert radio.connect_calls == []
    # What was typed is shown again, except the password.
    kept = {k: v for k, v in user_input.items() if k != "password"}
    assert suggested_values(result["data_schema"]) == kept


@pytest.mark.usefixtures("mqtt_mock")
async def test_every_invalid_setting_is_reported_at_once(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    result = await start_bluetooth_flow(hass)

    result = await submit(
        hass,
        watcher,
        result["flow_id"],
        settings_input(
            1883,
            serial_number="mower",
            ssid="",
            password=SHORT_PASSWORD,
            mqtt_host="a b",
        ),
    )

    assert result["errors"] == {
        "serial_number": "serial_number_prefix",
        "ssid": "ssid_empty",
        "password": "password_length",
        "mqtt_host": "mqtt_host_spaces",
    }
    assert radio.connect_calls == []


@pytest.mark.parametrize("port", [0, 65536])
@pytest.mark.usefixtures("mqtt_mock")
async def test_port_out_of_range_is_refused_by_the_form(
    hass: HomeAssistant, radio: FakeRadio, port: int
) -> None:
    result = await start_bluetooth_flow(hass)

    with (
        patch(f"{CHOICE}.probe_charger_logins", wraps=probe_charger_logins) as probe,
        pytest.raises(InvalidData) as raised,
    ):
        await hass.config_entries.flow.async_configure(
            result["flow_id"], settings_input(port)
        )

    assert "mqtt_port" in raised.value.schema_errors
    probe.assert_not_called()
    assert radio.connect_calls == []


@pytest.mark.parametrize(
    "mqtt_config_entry_data",
    [{mqtt.CONF_BROKER: "core-mosquitto", "port": 1884, CONF_PROTOCOL: "5"}],
)
@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_settings_form_suggests_home_assistants_address_and_the_brokers_port(
    hass: HomeAssistant,
) -> None:
    lan_address = await network.async_get_source_ip(hass)

    result = await start_bluetooth_flow(hass)

    # The MQTT entry's broker name may be a container name the charger cannot
    # resolve; Home Assistant's LAN address is what the charger can reach.
    assert suggested_values(result["data_schema"]) == {
        "mqtt_host": lan_address,
        "mqtt_port": 1884,
    }
    assert lan_address != "core-mosquitto"


@pytest.mark.parametrize(
    "mqtt_config_entry_data",
    [
        pytest.param(
            {
                mqtt.CONF_BROKER: "broker.lan",
                "port": 8883,
                mqtt.CONF_CERTIFICATE: "auto",
                CONF_PROTOCOL: "5",
            },
            id="tls",
        ),
        pytest.param(
            {
                mqtt.CONF_BROKER: "broker.lan",
                "port": 8080,
                mqtt.CONF_TRANSPORT: "websockets",
                CONF_PROTOCOL: "5",
            },
            id="websockets",
        ),
    ],
)
@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_settings_form_suggests_port_1883_when_the_mqtt_entry_is_not_plain_tcp(
    hass: HomeAssistant,
) -> None:
    result = await start_bluetooth_flow(hass)

    assert suggested_values(result["data_schema"])["mqtt_port"] == 1883


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_settings_form_without_a_lan_address_leaves_the_broker_address_empty(
    hass: HomeAssistant,
) -> None:
    with patch(
        f"{FLOW}.network.async_get_source_ip",
        side_effect=HomeAssistantError("no IPv4 address"),
    ):
        result = await start_bluetooth_flow(hass)

    assert suggested_values(result["data_schema"]) == {"mqtt_port": 1883}


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_settings_form_still_renders_after_the_mqtt_entry_is_removed(
    hass: HomeAssistant, watcher: FlowWatcher
) -> None:
    result = await start_bluetooth_flow(hass)
    mqtt_entry = hass.config_entries.async_entries(mqtt.DOMAIN)[0]
    assert await hass.config_entries.async_remove(mqtt_entry.entry_id)

    result = await submit(
        hass, watcher, result["flow_id"], settings_input(1884, ssid="")
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"ssid": "ssid_empty"}
    assert suggested_values(result["data_schema"])["mqtt_port"] == 1884


# --- Broker check --------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_broker_requiring_a_login_sends_the_charger_through_the_gateway(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]

    result = await submit(hass, watcher, flow_id, settings_input(locked_broker.port))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "gateway"
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "port": str(locked_broker.port),
        "gateway_port": str(gateway.port),
        "firmware": "v0.3.6, v0.4.0",
    }
    sentence = STRINGS["config"]["step"]["gateway"]["description"]
    assert sentence.format(**result["description_placeholders"]) == (
        f"Your broker at {LOOPBACK}:{locked_broker.port} would refuse chargers with "
        "firmware v0.3.6, v0.4.0. (Firmware v0.3.6 connects without a login; v0.4.0 "
        "and later log in with a fixed login, the same for every charger.) Home "
        f"Assistant lets the charger in on port {gateway.port} and relays its "
        "messages to your broker, which stays unchanged."
    )
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, DEFAULT_BIND_ADDRESS)]
    assert radio.connect_calls == []  # nothing sent before the user agrees

    result = await submit(hass, watcher, flow_id, {})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    result = await watcher.next_step(flow_id)
    assert result["step_id"] == "claim"
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "port": str(gateway.port),
        "seconds": "120",
    }
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        "serial_number": SERIAL_NUMBER,
        "charger_channel": 15,
        "mqtt_host": LOOPBACK,
        "mqtt_port": gateway.port,
        "gateway": True,
        "address": ADDRESS,
    }
    # The charger goes to Home Assistant's host, on the gateway's port.
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": gateway.port,
    }
    # The entry holds its own lease; the flow gave its lease back.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert gateway.events == ["use 1", "use 2", "release 1"]


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_new_charger_joins_the_gateway_the_others_use(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
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
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]

    await provision(hass, watcher, flow_id, settings_input(locked_broker.port))
    result = await claim(hass, watcher, flow_id)

    assert gateway.calls[0] == (SERIAL_NUMBER, gateway.port, LOOPBACK)
    assert result["data"]["mqtt_port"] == gateway.port
    assert result["result"].options == {CONF_GATEWAY_BIND_ADDRESS: LOOPBACK}


@pytest.mark.usefixtures("mqtt_mock")
async def test_gateway_that_does_not_answer_is_reported_on_the_broker_address(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    closed_port = unused_port()
    result = await start_bluetooth_flow(hass)

    with patch(f"{FLOW}.DEFAULT_GATEWAY_PORT", closed_port):
        result = await submit(
            hass, watcher, result["flow_id"], settings_input(locked_broker.port)
        )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "gateway_port": str(closed_port),
    }
    assert f"{LOOPBACK}:{closed_port}" in rendered(result)
    assert radio.connect_calls == []
    # The gateway is given back when the flow goes away.
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)
    assert gateway.in_use == 0


@pytest.mark.usefixtures("mqtt_mock")
async def test_gateway_port_in_use_is_reported_on_the_broker_address(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    gateway.error = GatewayPortInUseError(gateway.port)
    result = await start_bluetooth_flow(hass)

    result = await submit(
        hass, watcher, result["flow_id"], settings_input(locked_broker.port)
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert result["description_placeholders"] == {
        "host": LOOPBACK,
        "gateway_port": str(gateway.port),
    }
    assert radio.connect_calls == []


@pytest.mark.parametrize(
    ("broker", "error", "placeholders"),
    [
        pytest.param("closed", "broker_unreachable", {}, id="unreachable"),
        pytest.param("not_mqtt", "broker_not_mqtt", {}, id="not-mqtt"),
        pytest.param(
            "refused_2", "broker_refused", {"return_code": "2"}, id="refused-other-code"
        ),
    ],
)
@pytest.mark.usefixtures("mqtt_mock", "socket_enabled")
async def test_broker_problem_is_reported_on_the_broker_address_and_nothing_is_sent(
    hass: HomeAssistant,
    radio: FakeRadio,
    watcher: FlowWatcher,
    not_mqtt_server: int,
    *,
    broker: str,
    error: str,
    placeholders: dict[str, str],
) -> None:
    probe: Any = probe_charger_logins
    if broker == "closed":
        port = unused_port()
    elif broker == "not_mqtt":
        port = not_mqtt_server
    else:
        port = 1883
        refused = ProbeResult(ProbeOutcome.REFUSED, return_code=2)
        probe = AsyncMock(
            return_value=Admission(dict.fromkeys(CHARGER_LOGINS, refused))
        )
    result = await start_bluetooth_flow(hass)

    with patch(f"{CHOICE}.probe_charger_logins", probe):
        result = await submit(hass, watcher, result["flow_id"], settings_input(port))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"mqtt_host": error}
    assert result["description_placeholders"] == placeholders
    assert STRINGS["config"]["error"][error].format(**placeholders) in rendered(result)
    assert radio.connect_calls == []


@pytest.mark.usefixtures("mqtt_mock")
async def test_gateway_that_cannot_start_is_reported_on_the_broker_address(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    gateway.error = GatewayStartError(
        DEFAULT_BIND_ADDRESS, gateway.port, OSError(errno.EACCES, "Permission denied")
    )
    result = await start_bluetooth_flow(hass)

    result = await submit(
        hass, watcher, result["flow_id"], settings_input(locked_broker.port)
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert radio.connect_calls == []


# --- Provisioning ---------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_progress_shows_each_command_in_order_then_the_claim(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    # Steps that take a moment, as on the real charger, so each one is on screen.
    radio.connect_delay = 0.05
    radio.queue(timings=FirmwareTimings(wifi_join=0.05, rtk_setup=0.05, lora_scan=0.05))
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]

    result = await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert watcher.actions() == [*PROVISIONING_ACTIONS, "claim"]
    assert watcher.actions("provision") == PROVISIONING_ACTIONS
    for action in watcher.actions():
        assert action in STRINGS["config"]["progress"]


def fail_with(**misbehaviour: Any) -> Callable[[FakeRadio], None]:
    """The next charger misbehaves this way."""

    def arrange(radio: FakeRadio) -> None:
        radio.queue(**misbehaviour)

    return arrange


def notifications_fail(radio: FakeRadio) -> None:
    """The charger's command characteristic cannot be subscribed to (a stale
    service cache through a proxy, say)."""
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
        fail_with(results={"set_lora_info": 2}), "antenna_step_failed", id="lora-result"
    ),
    pytest.param(
        fail_with(results={"set_cfg_info": 1}), "provisioning_failed", id="cfg-result"
    ),
    pytest.param(
        fail_with(silent={"set_wifi_info"}),
        "not_in_provisioning_mode",
        id="first-unanswered",
    ),
    pytest.param(
        fail_with(silent={"set_lora_info"}), "no_reply", id="later-unanswered"
    ),
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
@pytest.mark.usefixtures("mqtt_mock")
async def test_provisioning_failure_returns_to_the_settings_form_with_the_input_kept(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
    *,
    arrange: Callable[[FakeRadio], None],
    error: str,
) -> None:
    result = await start_bluetooth_flow(hass)
    arrange(radio)
    user_input = settings_input(open_broker.port)

    with patch(
        f"{SESSION}.ProvisioningSession",
        partial(
            ProvisioningSession, write_interval=0, reply_pause=0, timeouts=FAST_TIMEOUTS
        ),
    ):
        result = await provision(hass, watcher, result["flow_id"], user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"base": error}
    placeholders = result["description_placeholders"] or {}
    assert STRINGS["config"]["error"][error].format(**placeholders) in rendered(result)
    # The input is kept, except the password, which is never shown again.
    kept = {k: v for k, v in user_input.items() if k != "password"}
    assert suggested_values(result["data_schema"]) == kept
    # A charger that was reached is let go.
    for charger in radio.chargers:
        assert not charger.is_connected
        assert charger.committed is None


@pytest.mark.usefixtures("mqtt_mock")
async def test_retry_with_an_empty_password_reuses_the_one_typed_before(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    radio.queue(results={"set_wifi_info": 1})
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    result = await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    assert result["errors"] == {"base": "wifi_join_failed"}

    await provision(
        hass, watcher, flow_id, settings_input(open_broker.port, password="")
    )
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    first, second = radio.chargers
    assert first.received[0]["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    assert second.committed is not None
    assert second.committed["set_wifi_info"]["sta"]["passwd"] == PASSWORD


@pytest.mark.usefixtures("mqtt_mock")
async def test_retry_with_a_new_password_sends_the_new_one(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    radio.queue(results={"set_wifi_info": 1})
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(open_broker.port))

    await provision(
        hass, watcher, flow_id, settings_input(open_broker.port, password=NEW_PASSWORD)
    )

    assert radio.charger.committed is not None
    assert radio.charger.committed["set_wifi_info"]["sta"]["passwd"] == NEW_PASSWORD
    hass.config_entries.flow.async_abort(flow_id)


@pytest.mark.usefixtures("mqtt_mock")
async def test_retry_in_gateway_mode_admits_the_charger_again_before_letting_go(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    radio.queue(results={"set_rtk_info": 1})
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    result = await provision(hass, watcher, flow_id, settings_input(locked_broker.port))
    assert result["errors"] == {"base": "antenna_step_failed"}

    result = await provision(
        hass, watcher, flow_id, settings_input(locked_broker.port, password="")
    )

    assert result["step_id"] == "claim"
    # The second lease is taken before the first is given back: the gateway
    # never stops between two attempts.
    assert gateway.events == ["use 1", "use 2", "release 1"]
    hass.config_entries.flow.async_abort(flow_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert gateway.in_use == 0


# --- What real chargers do (docs/charger-protocol.md) ----------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_failed_wifi_join_names_the_network_and_commits_nothing(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    charger = radio.queue(results={"set_wifi_info": 1})
    result = await start_bluetooth_flow(hass)

    result = await provision(
        hass, watcher, result["flow_id"], settings_input(open_broker.port)
    )

    assert result["errors"] == {"base": "wifi_join_failed"}
    assert result["description_placeholders"] == {"ssid": SSID}
    assert rendered(result).count(SSID) == 2
    assert charger.commands == ["set_wifi_info"]
    assert charger.committed is None


def test_the_wifi_step_says_it_can_take_up_to_a_minute() -> None:
    assert "up to a minute" in STRINGS["config"]["progress"]["set_wifi_info"]


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_broker_with_a_password_file_sends_the_charger_through_the_gateway(
    hass: HomeAssistant,
    radio: FakeRadio,
    mosquitto_factory: MosquittoFactory,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    """Anonymous clients are welcome, the v0.4.0 login is not: direct mode would
    lock the charger out after its next update."""
    broker = mosquitto_factory(allow_anonymous=True, users={"homeassistant": "pw"})
    result = await start_bluetooth_flow(hass)

    result = await submit(hass, watcher, result["flow_id"], settings_input(broker.port))

    assert result["step_id"] == "gateway"
    assert result["description_placeholders"]["firmware"] == "v0.4.0"
    assert "would refuse chargers with firmware v0.4.0." in rendered(result)
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_broker_that_knows_only_the_fixed_login_names_firmware_v036(
    hass: HomeAssistant,
    radio: FakeRadio,
    mosquitto_factory: MosquittoFactory,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    broker = mosquitto_factory(allow_anonymous=False, users={"li9hep19": "jzd4wac6"})
    result = await start_bluetooth_flow(hass)

    result = await submit(hass, watcher, result["flow_id"], settings_input(broker.port))

    assert result["step_id"] == "gateway"
    assert result["description_placeholders"]["firmware"] == "v0.3.6"
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_gateway_that_refuses_the_fixed_login_is_not_used(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    mosquitto_factory: MosquittoFactory,
    watcher: FlowWatcher,
) -> None:
    """The gateway must admit both ways chargers log in, or the flow says so."""
    anonymous_only = mosquitto_factory(
        allow_anonymous=True, users={"homeassistant": "pw"}
    )
    stand_in = GatewayStandIn(anonymous_only.port)
    with (
        patch(f"{CHOICE}.async_use_gateway", stand_in),
        patch(f"{FLOW}.DEFAULT_GATEWAY_PORT", anonymous_only.port),
    ):
        result = await start_bluetooth_flow(hass)
        result = await submit(
            hass, watcher, result["flow_id"], settings_input(locked_broker.port)
        )

    assert result["errors"] == {"mqtt_host": "gateway_unreachable"}
    assert radio.connect_calls == []
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_charger_that_names_no_channel_is_stored_without_one(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    radio.queue(assigned_channel=None)
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(open_broker.port))

    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["charger_channel"] is None


@pytest.mark.parametrize(
    ("shape", "channel"),
    [
        (LoraReply.INTEGER, 15),
        (LoraReply.NO_RESULT, 15),
        (LoraReply.OBJECT, 17),
        (LoraReply.OTHER_CHANNEL, 20),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_the_channel_the_charger_stored_is_kept_whatever_its_reply_shape(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
    *,
    shape: LoraReply,
    channel: int,
) -> None:
    radio.queue(lora_reply=shape, assigned_channel=channel)
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(open_broker.port))

    result = await claim(hass, watcher, flow_id)

    assert result["data"]["charger_channel"] == channel


# --- Claim window -----------------------------------------------------------------------


@pytest.fixture
def short_claim() -> Iterator[None]:
    """A claim window of a few hundredths of a second."""
    with patch(f"{FLOW}.CLAIM_TIMEOUT", 0.05):
        yield


async def provision_to_claim_timeout(
    hass: HomeAssistant, watcher: FlowWatcher, port: int
) -> Any:
    """Provision a charger that then stays silent; the claim window times out."""
    result = await start_bluetooth_flow(hass)
    result = await provision(hass, watcher, result["flow_id"], settings_input(port))
    assert result["step_id"] == "claim"
    return await watcher.next_step(result["flow_id"])


@pytest.mark.usefixtures("mqtt_mock", "radio", "short_claim")
async def test_claim_timeout_offers_to_wait_again_and_a_late_report_completes(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher
) -> None:
    result = await provision_to_claim_timeout(hass, watcher, open_broker.port)

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout"
    assert result["menu_options"] == ["claim", "finish", "settings"]
    text = rendered(result)
    assert f"{LOOPBACK}:{open_broker.port}" in text

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "claim"}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "claim"
    result = await claim(hass, watcher, result["flow_id"])

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entity_state(hass, "sensor", "gps_satellites") == "17"


@pytest.mark.usefixtures("mqtt_mock", "radio", "short_claim")
async def test_finishing_without_a_report_creates_the_entry_with_unavailable_entities(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher
) -> None:
    result = await provision_to_claim_timeout(hass, watcher, open_broker.port)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "finish"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["serial_number"] == SERIAL_NUMBER
    assert result["data"]["charger_channel"] == 15
    assert entity_state(hass, "sensor", "gps_satellites") == "unavailable"
    assert entity_state(hass, "binary_sensor", "gps_fix") == "unavailable"


@pytest.mark.usefixtures("mqtt_mock", "short_claim")
async def test_provisioning_again_after_a_claim_timeout_shows_the_settings_form(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    result = await provision_to_claim_timeout(hass, watcher, open_broker.port)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"next_step_id": "settings"}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {}
    assert suggested_values(result["data_schema"]) == {
        k: v for k, v in settings_input(open_broker.port).items() if k != "password"
    }
    # The charger is power-cycled and provisioned again; this time it reports.
    await provision(
        hass, watcher, flow_id, settings_input(open_broker.port, password="")
    )
    result = await claim(hass, watcher, flow_id)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(radio.chargers) == 2
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_wifi_info"]["sta"]["passwd"] == PASSWORD


@pytest.mark.usefixtures("mqtt_mock", "radio", "short_claim")
async def test_claim_timeout_names_another_charger_that_reported_instead(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher
) -> None:
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=OTHER_ADDRESS)
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    result = await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    assert result["step_id"] == "claim"

    # A configured charger reporting is business as usual; an unknown one is
    # likely the charger on the user's bench, with a mistyped serial number.
    async_fire_mqtt_message(
        hass, status_topic(OTHER_SERIAL_NUMBER), report_payload(OTHER_SERIAL_NUMBER)
    )
    async_fire_mqtt_message(
        hass, status_topic(THIRD_SERIAL_NUMBER), report_payload(THIRD_SERIAL_NUMBER)
    )
    result = await watcher.next_step(flow_id)

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout_other"
    assert result["menu_options"] == ["claim", "finish", "settings"]
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["other_serial_numbers"] == THIRD_SERIAL_NUMBER
    assert placeholders["serial_number"] == SERIAL_NUMBER
    assert f"charger {THIRD_SERIAL_NUMBER} did" in rendered(result)


@pytest.mark.usefixtures("mqtt_mock", "radio", "short_claim")
async def test_claim_ignores_configured_chargers_and_unreadable_reports(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher
) -> None:
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=OTHER_ADDRESS)
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(open_broker.port))

    async_fire_mqtt_message(
        hass, status_topic(OTHER_SERIAL_NUMBER), report_payload(OTHER_SERIAL_NUMBER)
    )
    async_fire_mqtt_message(hass, status_topic(), b"not a report")
    async_fire_mqtt_message(
        hass, status_topic(), report_payload(OTHER_SERIAL_NUMBER, encrypted=True)
    )
    async_fire_mqtt_message(hass, "Dart/Receive_mqtt/", report_payload())
    result = await watcher.next_step(flow_id)

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "claim_timeout"
    rendered(result)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(report_payload(encrypted=True), id="encrypted"),
        pytest.param(report_payload(shape="message"), id="type-message"),
    ],
)
@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_claim_accepts_both_report_shapes_and_encrypted_reports(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher, payload: bytes
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(open_broker.port))

    result = await claim(hass, watcher, flow_id, payload)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entity_state(hass, "sensor", "gps_satellites") == "17"


# --- Reconfigure ----------------------------------------------------------------------


async def loaded_entry(hass: HomeAssistant, **data: Any) -> MockConfigEntry:
    """A configured charger whose entry is set up."""
    options = data.pop("options", {})
    entry = configured_entry(hass, **data)
    if options:
        hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_moves_a_charger_to_a_new_wifi_and_broker(
    hass: HomeAssistant,
    radio: FakeRadio,
    mosquitto_factory: MosquittoFactory,
    watcher: FlowWatcher,
) -> None:
    new_broker = mosquitto_factory()
    entry = await loaded_entry(hass, mqtt_host="192.0.2.10", mqtt_port=1883)
    coordinator = entry.runtime_data
    # Another configured charger is in provisioning mode too: not offered here.
    configured_entry(hass, OTHER_SERIAL_NUMBER, address=OTHER_ADDRESS)
    radio.hear(charger_service_info(OTHER_ADDRESS))
    # The charger was power-cycled; this time it picks channel 13.
    radio.queue(assigned_channel=13)

    result = await entry.start_reconfigure_flow(hass)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_charger"
    assert [o["value"] for o in select_options(result["data_schema"], "address")] == [
        ADDRESS
    ]
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"address": ADDRESS}
    )
    assert result["step_id"] == "settings"
    assert suggested_values(result["data_schema"]) == {
        "serial_number": SERIAL_NUMBER,
        "mqtt_host": "192.0.2.10",
        "mqtt_port": 1883,
    }

    await provision(
        hass,
        watcher,
        flow_id,
        settings_input(new_broker.port, ssid="Garden 2", password=NEW_PASSWORD),
    )
    result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert dict(entry.data) == {
        "serial_number": SERIAL_NUMBER,
        "charger_channel": 13,
        "mqtt_host": LOOPBACK,
        "mqtt_port": new_broker.port,
        "gateway": False,
        "address": ADDRESS,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is not coordinator  # reloaded
    assert entity_state(hass, "sensor", "gps_satellites") == "17"
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_wifi_info"]["sta"] == {
        "ssid": "Garden 2",
        "passwd": NEW_PASSWORD,
        "encrypt": 0,
    }
    assert radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": new_broker.port,
    }


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_with_another_chargers_serial_number_aborts_wrong_charger(
    hass: HomeAssistant, radio: FakeRadio, watcher: FlowWatcher
) -> None:
    entry = await loaded_entry(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"address": ADDRESS}
    )

    result = await submit(
        hass,
        watcher,
        result["flow_id"],
        settings_input(1883, serial_number=OTHER_SERIAL_NUMBER),
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_charger"
    assert result["description_placeholders"] == {"serial_number": OTHER_SERIAL_NUMBER}
    assert OTHER_SERIAL_NUMBER in rendered(result)
    assert radio.connect_calls == []
    assert entry.data["serial_number"] == SERIAL_NUMBER


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_without_a_charger_in_range_aborts_no_devices_found(
    hass: HomeAssistant, radio: FakeRadio
) -> None:
    entry = await loaded_entry(hass)
    radio.forget(ADDRESS)

    result = await entry.start_reconfigure_flow(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices_found"


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_in_gateway_mode_uses_the_entrys_gateway_options(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    entry = await loaded_entry(
        hass,
        gateway=True,
        mqtt_port=gateway.port,
        options={CONF_GATEWAY_PORT: gateway.port, CONF_GATEWAY_BIND_ADDRESS: LOOPBACK},
    )
    assert gateway.calls == [(SERIAL_NUMBER, gateway.port, LOOPBACK)]
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"address": ADDRESS}
    )
    flow_id = result["flow_id"]

    # The default port is not where this Home Assistant's gateway listens.
    with patch(f"{FLOW}.DEFAULT_GATEWAY_PORT", unused_port()):
        await provision(hass, watcher, flow_id, settings_input(locked_broker.port))
        result = await claim(hass, watcher, flow_id)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert gateway.calls[1] == (SERIAL_NUMBER, gateway.port, LOOPBACK)
    assert entry.data["gateway"] is True
    assert entry.data["mqtt_port"] == gateway.port
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_mqtt_info"] == {
        "addr": LOOPBACK,
        "port": gateway.port,
    }
    await hass.async_block_till_done(wait_background_tasks=True)
    assert gateway.in_use == 1  # the reloaded entry's


# --- Security ---------------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_wifi_password_is_never_stored_or_logged(
    hass: HomeAssistant,
    radio: FakeRadio,
    open_broker: Mosquitto,
    watcher: FlowWatcher,
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
    radio.queue(results={"set_mqtt_info": 1})
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    results = [
        await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    ]
    results.append(
        await provision(
            hass, watcher, flow_id, settings_input(open_broker.port, password="")
        )
    )
    results.append(await claim(hass, watcher, flow_id))
    await hass.async_block_till_done()

    assert results[-1]["type"] is FlowResultType.CREATE_ENTRY
    entry = results[-1]["result"]
    assert PASSWORD not in json.dumps(dict(entry.data))
    assert PASSWORD not in json.dumps(dict(entry.options))
    assert all(PASSWORD not in repr(result) for result in results)
    assert caplog.records  # debug logging was on
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in str(record.args) for record in caplog.records)


@pytest.mark.usefixtures("mqtt_mock")
async def test_wifi_password_reaches_the_charger_only_in_set_wifi_info(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    await provision(hass, watcher, flow_id, settings_input(locked_broker.port))
    await claim(hass, watcher, flow_id)

    charger = radio.charger
    carrying = [m for m in charger.received if PASSWORD in json.dumps(m)]
    assert carrying == [charger.received[0]]
    assert charger.received[0]["set_wifi_info"]["sta"]["passwd"] == PASSWORD
    # Nor does it travel in the charger's own access point settings.
    assert charger.received[0]["set_wifi_info"]["ap"]["passwd"] == "12345678"
    await hass.async_block_till_done(wait_background_tasks=True)


# --- Flow removed ---------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_removing_the_flow_mid_session_stops_everything_and_releases_the_gateway(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    gateway: GatewayStandIn,
    watcher: FlowWatcher,
) -> None:
    # The RTK receiver takes its time, as it may on the real charger.
    charger = radio.queue(timings=FirmwareTimings(rtk_setup=30))
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    result = await submit(hass, watcher, flow_id, settings_input(locked_broker.port))
    result = await submit(hass, watcher, flow_id, {})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    await wait_for(lambda: charger.commands == ["set_wifi_info", "set_rtk_info"])
    flow = hass.config_entries.flow._progress[flow_id]
    assert isinstance(flow, NovabotConfigFlow)
    session = flow._task
    assert session is not None
    assert gateway.in_use == 1

    hass.config_entries.flow.async_abort(flow_id)
    # block_till_done skips tasks being cancelled: wait for the session itself.
    await asyncio.wait([session], timeout=5)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert session.cancelled()
    assert not charger.is_connected  # the session let go of the link
    assert charger.disconnect_calls == 1
    assert charger.committed is None
    assert gateway.in_use == 0
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


@pytest.mark.usefixtures("mqtt_mock", "radio")
async def test_removing_the_flow_during_the_claim_stops_waiting(
    hass: HomeAssistant, open_broker: Mosquitto, watcher: FlowWatcher
) -> None:
    result = await start_bluetooth_flow(hass)
    flow_id = result["flow_id"]
    result = await provision(hass, watcher, flow_id, settings_input(open_broker.port))
    assert result["step_id"] == "claim"
    flow = hass.config_entries.flow._progress[flow_id]
    assert isinstance(flow, NovabotConfigFlow)
    waiting = flow._task
    assert waiting is not None

    hass.config_entries.flow.async_abort(flow_id)
    await asyncio.wait([waiting], timeout=5)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert waiting.cancelled()
    # A report now creates nothing.
    async_fire_mqtt_message(hass, status_topic(), report_payload())
    await hass.async_block_till_done()
    assert hass.config_entries.async_entries(DOMAIN) == []


# --- The real gateway ----------------------------------------------------------------------


def remaining_length(length: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length."""
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


async def publish_as_charger(host: str, port: int, topic: str, payload: bytes) -> None:
    """Connect anonymously like the charger, publish one report (QoS 0), leave."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(connect_packet("ESP32_0123AB"))
        assert await reader.readexactly(4) == b"\x20\x02\x00\x00"
        body = len(topic).to_bytes(2, "big") + topic.encode() + payload
        writer.write(b"\x30" + remaining_length(len(body)) + body)
        writer.write(b"\xe0\x00")  # DISCONNECT
        await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@pytest.mark.usefixtures("mqtt_mock")
async def test_gateway_mode_end_to_end_with_the_real_gateway(
    hass: HomeAssistant,
    radio: FakeRadio,
    locked_broker: Mosquitto,
    watcher: FlowWatcher,
) -> None:
    port = unused_port()
    with (
        patch(f"{FLOW}.DEFAULT_GATEWAY_PORT", port),
        patch(f"{FLOW}.DEFAULT_BIND_ADDRESS", LOOPBACK),
        patch(f"{INTEGRATION}.gateway.DEFAULT_BIND_ADDRESS", LOOPBACK),
    ):
        result = await start_bluetooth_flow(hass)
        flow_id = result["flow_id"]
        result = await submit(
            hass, watcher, flow_id, settings_input(locked_broker.port)
        )
        assert result["step_id"] == "gateway"
        assert result["description_placeholders"]["gateway_port"] == str(port)
        result = await provision(
            hass, watcher, flow_id, settings_input(locked_broker.port)
        )
        assert result["step_id"] == "claim"
        committed = radio.charger.committed
        assert committed is not None
        told = committed["set_mqtt_info"]
        assert told == {"addr": LOOPBACK, "port": port}

        # The charger reboots, connects where it was told and reports; the
        # gateway relays the report through Home Assistant's MQTT.
        await publish_as_charger(
            told["addr"], told["port"], status_topic(), report_payload()
        )
        result = await watcher.next_step(flow_id)

        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"]["gateway"] is True
        assert result["data"]["mqtt_port"] == port
        assert entity_state(hass, "sensor", "gps_satellites") == "17"
        await hass.async_block_till_done(wait_background_tasks=True)
        # The entry keeps the gateway running after the flow let go of it.
        assert (await probe_broker(LOOPBACK, port)).outcome is ProbeOutcome.ACCEPTED


# --- Options ----------------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_configured_charger_has_options(hass: HomeAssistant) -> None:
    entry = configured_entry(hass)

    result = await hass.config_entries.options.async_init(entry.entry_id)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    hass.config_entries.options.async_abort(result["flow_id"])
