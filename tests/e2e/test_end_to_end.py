"""End to end: a simulated charger process, real Mosquitto, Home Assistant's real MQTT.

Each test runs twice (see ``conftest.py``): ``addon`` (logins required, the
charger goes through the gateway) and ``anonymous`` (the charger talks to the
broker directly).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_BLUETOOTH, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.novabot.const import DOMAIN
from custom_components.novabot.gateway import async_get_gateway_diagnostics
from custom_components.novabot.protocol import PayloadCodec, probe_charger_logins

from ..common import SERIAL, STATUS_TOPIC, all_unavailable, states
from ..flow_helpers import (
    FakeRadio,
    FlowWatcher,
    charger_service_info,
    settings_input,
    wait_for,
)
from .conftest import (
    ADDON,
    ANONYMOUS,
    HOST,
    PASSWORD_FILE,
    SIMULATOR_CLIENT_ID,
    STALE_TIMEOUT,
    Mode,
    has_values,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from ..mosquitto import Mosquitto
    from .conftest import SimulatorFactory

pytestmark = pytest.mark.e2e


def firmware(hass: HomeAssistant, entry: MockConfigEntry) -> str | None:
    """The firmware version the charger's device shows."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, SERIAL), entry.entry_id
    )
    return device.sw_version if device else None


def gateway_clients(hass: HomeAssistant) -> list[str]:
    """Client ids connected to the gateway."""
    return [
        client["client_id"] for client in async_get_gateway_diagnostics(hass)["clients"]
    ]


def gateway_connections(hass: HomeAssistant) -> int:
    """Connections the gateway has accepted so far."""
    connections: int = async_get_gateway_diagnostics(hass)["counters"]["connections"]
    return connections


class Sniffer:
    """What reached the broker on the charger's status topic, decoded by the test."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def received(self, message: mqtt.ReceiveMessage) -> None:
        payload = message.payload
        self.payloads.append(payload.encode() if isinstance(payload, str) else payload)

    def reports(self) -> list[dict[str, int]]:
        """The ``up_status_info`` bodies, in order (answers to commands left out)."""
        found = []
        codec = PayloadCodec(SERIAL)
        for payload in self.payloads:
            plain = payload if payload.startswith(b"{") else codec.decrypt(payload)
            document: dict[str, Any] = json.loads(plain)
            if "up_status_info" in document:
                found.append(document["up_status_info"])
        return found


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_entities_show_what_the_charger_sends(
    hass: HomeAssistant,
    *,
    mode: Mode,
    charger_entry: MockConfigEntry,
    charger_port: int,
    simulator: SimulatorFactory,
    encrypt: bool,
) -> None:
    """Ten reports reach the broker; the entities show the last one, bit for bit."""
    sniffer = Sniffer()
    unsubscribe = await mqtt.async_subscribe(
        hass, STATUS_TOPIC, sniffer.received, encoding=None
    )
    try:
        charger = await simulator(
            charger_port, "--count", "10", *(["--encrypt"] if encrypt else [])
        )
        assert await hass.async_add_executor_job(charger.wait) == 0
        await wait_for(lambda: len(sniffer.reports()) == 10, timeout=5)
    finally:
        unsubscribe()

    last = sniffer.reports()[-1]
    status = last["charger_status"]
    expected = {
        "gps_satellites": str(status >> 24),
        "gps_fix": "on" if status & 0x1 else "off",
        "rtk_fix": "on" if status & 0x100 else "off",
        "mower_battery": str((last["mower_info"] >> 8) & 0xFF),
        "mower_connected": "on" if last["mower_error"] == 0 else "off",
    }
    await wait_for(lambda: has_values(hass), timeout=5)  # the mower's too
    await wait_for(lambda: states(hass, expected) == expected, timeout=5)
    coordinator = charger_entry.runtime_data
    assert coordinator.encrypted is encrypt
    # The firmware query went down to the charger (through the gateway in addon
    # mode) and its answer came back up.
    assert firmware(hass, charger_entry) == ("v0.4.0" if encrypt else "v0.3.6")
    if mode.gateway:
        counters = async_get_gateway_diagnostics(hass)["counters"]
        assert counters["relayed_up"] >= 10  # the reports and the firmware answer
        assert counters["relayed_down"] >= 1  # the firmware query


async def test_silence_makes_entities_unavailable_until_reports_return(
    hass: HomeAssistant,
    *,
    charger_entry: MockConfigEntry,
    charger_port: int,
    simulator: SimulatorFactory,
) -> None:
    """A frozen charger keeps its connection but says nothing: stale, then back."""
    charger = await simulator(charger_port)
    await wait_for(lambda: has_values(hass), timeout=10)

    charger.pause()
    await wait_for_quiet(hass, charger_entry)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=STALE_TIMEOUT + 1)
    )
    await hass.async_block_till_done()
    assert all_unavailable(hass)

    charger.resume()
    await wait_for(lambda: has_values(hass), timeout=10)
    assert charger_entry.state is ConfigEntryState.LOADED


async def test_broker_restart_recovers_without_a_reload(
    hass: HomeAssistant,
    *,
    mode: Mode,
    broker: Mosquitto,
    charger_entry: MockConfigEntry,
    charger_port: int,
    simulator: SimulatorFactory,
) -> None:
    """Mosquitto dies and comes back on the same port; the entities follow.

    In addon mode the gateway keeps the charger connected meanwhile and relays
    again once Home Assistant's MQTT client has reconnected; in anonymous mode
    the charger reconnects to the broker by itself.
    """
    await simulator(charger_port)
    await wait_for(lambda: has_values(hass), timeout=10)
    coordinator = charger_entry.runtime_data
    connections = gateway_connections(hass) if mode.gateway else 0

    await broker.async_stop()
    await wait_for(lambda: not mqtt.is_connected(hass), timeout=10)
    await wait_for_quiet(hass, charger_entry)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=STALE_TIMEOUT + 1)
    )
    await hass.async_block_till_done()
    assert all_unavailable(hass)
    if mode.gateway:
        assert gateway_clients(hass) == [SIMULATOR_CLIENT_ID]

    await broker.async_start()
    await wait_for(lambda: mqtt.is_connected(hass), timeout=10)
    await wait_for(lambda: has_values(hass), timeout=15)
    assert charger_entry.state is ConfigEntryState.LOADED
    assert charger_entry.runtime_data is coordinator  # recovered, not reloaded
    if mode.gateway:
        # Still the same connection: the charger never noticed the outage.
        # (Its first connection was the half-closed CONNECT stock chargers make.)
        assert gateway_clients(hass) == [SIMULATOR_CLIENT_ID]
        assert gateway_connections(hass) == connections == 2


@pytest.mark.parametrize(
    "mode", [ADDON, ANONYMOUS, PASSWORD_FILE], ids=lambda mode: mode.name
)
@pytest.mark.usefixtures("mqtt_entry")
async def test_config_flow_picks_the_mode_and_claims_the_charger(
    hass: HomeAssistant,
    *,
    mode: Mode,
    broker: Mosquitto,
    charger_port: int,
    radio: FakeRadio,
    simulator: SimulatorFactory,
    watcher: FlowWatcher,
) -> None:
    """The whole first-time story, only the Bluetooth radio simulated.

    The broker admits any login (anonymous), or would refuse one way of
    logging in (addon: both; password_file: a login it does not know), so the flow
    points the charger straight at the broker or opens the gateway; the charger
    is provisioned over (virtual) Bluetooth, comes up on MQTT (as firmware
    v0.4.0 behind a password file), its first report is claimed, and the entry
    it creates shows the reports.
    """
    admission = await probe_charger_logins(HOST, broker.port)
    assert admission.admits_every_charger is not mode.gateway

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_BLUETOOTH}, data=charger_service_info()
    )
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, settings_input(broker.port)
    )
    if mode.gateway:
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "gateway"
        assert result["description_placeholders"]["gateway_port"] == str(charger_port)
        # Which firmware the broker would have refused, in one sentence.
        assert result["description_placeholders"]["firmware"] == (
            "v0.4.0" if mode.allow_anonymous else "v0.3.6, v0.4.0"
        )
    else:
        assert result["step_id"] == "confirm"  # what saving does to the mower
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "provision"
    result = await watcher.next_step(flow_id)
    assert result["step_id"] == "claim"
    # Provisioned, the charger reboots and connects where it was told to.
    assert radio.charger.committed is not None
    assert radio.charger.committed["set_mqtt_info"] == {
        "addr": HOST,
        "port": charger_port,
    }
    await simulator(charger_port, *(["--encrypt"] if mode.password_file else []))
    result = await watcher.next_step(flow_id, timeout=15)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["gateway"] is mode.gateway
    assert result["data"]["mqtt_port"] == charger_port
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(lambda: has_values(hass), timeout=10)


async def wait_for_quiet(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Until no report has arrived for a while (those in flight have landed)."""
    coordinator = entry.runtime_data
    seen = -1
    while seen != coordinator.reports_accepted:
        seen = coordinator.reports_accepted
        await asyncio.sleep(0.5)  # more than two report intervals
        await hass.async_block_till_done()
