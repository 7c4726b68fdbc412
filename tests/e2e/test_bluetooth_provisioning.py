"""End to end over Bluetooth: Home Assistant's real Bluetooth, MQTT and Mosquitto.

The charger in provisioning mode is heard by virtual Bluetooth proxies that
plug into Home Assistant's Bluetooth manager as ESPHome proxies do
(``dev/custom_components/virtual_bluetooth_proxy``). Nothing of the novabot
integration is patched: its manifest's matchers start the discovery flow, and
the flow connects through ``establish_connection`` and Home Assistant's
``HaBleakClientWrapper``, at the real pace (100 ms between writes, 1 s after
each reply: about six seconds). Only the gateway's port is chosen for the test
(``flow_gateway``): a free one on 127.0.0.1.

Once the charger has committed its settings and dropped the link, the proxy
fires ``virtual_bluetooth_proxy_charger_provisioned``; the test then starts
``scripts/simulate-charger`` where the charger was told to report, as the
rebooted charger would connect there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_BLUETOOTH, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.novabot.const import DOMAIN
from custom_components.virtual_bluetooth_proxy import EVENT_CHARGER_PROVISIONED

from ..common import SERIAL
from ..flow_helpers import settings_input, until_received, wait_for
from ..virtual_charger import FirmwareTimings, VirtualCharger
from .conftest import ADDON, ANONYMOUS, HOST, has_values

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from custom_components.virtual_bluetooth_proxy import VirtualProxy

    from ..flow_helpers import FlowWatcher
    from ..mosquitto import Mosquitto
    from ..virtual_proxy import ProxyFactory
    from .conftest import SimulatorFactory

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("mqtt_entry", "flow_gateway")]

ADDRESS = "AA:BB:CC:DD:EE:01"
# Provisioning takes ~6 s of pacing; the claim waits for the simulator to start.
PROVISIONING_TIMEOUT = 30.0


@pytest.fixture
async def proxy(virtual_proxy_factory: ProxyFactory) -> VirtualProxy:
    """One proxy in the garden; it re-advertises only when a test asks it to."""
    return await virtual_proxy_factory(
        "Garden proxy", rssi=-60, advertise_interval=None
    )


async def discovered_flow(hass: HomeAssistant) -> str:
    """The one flow Home Assistant started for a charger it heard: its id."""
    # Discovery flows start as background tasks. (Waiting for every background
    # task would also wait ~5 s for MQTT's birth message.)
    await wait_for(
        lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    )
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_BLUETOOTH
    assert flows[0]["context"]["unique_id"] == ADDRESS
    assert flows[0]["step_id"] == "settings"
    return flows[0]["flow_id"]


@pytest.mark.parametrize("mode", [ADDON], ids=lambda mode: mode.name)
async def test_a_charger_heard_by_a_proxy_is_provisioned_and_claimed_via_the_gateway(
    hass: HomeAssistant,
    *,
    broker: Mosquitto,
    gateway_port: int,
    proxy: VirtualProxy,
    watcher: FlowWatcher,
    simulator: SimulatorFactory,
) -> None:
    """Heard, provisioned over the proxy, rebooted, reporting, claimed: an entry."""
    provisioned = async_capture_events(hass, EVENT_CHARGER_PROVISIONED)
    charger = proxy.add_charger(ADDRESS, VirtualCharger())
    flow_id = await discovered_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, settings_input(broker.port)
    )
    # The broker requires logins, like the add-on: the charger needs the gateway.
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "gateway"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["step_id"] == "provision"
    result = await watcher.next_step(flow_id, timeout=PROVISIONING_TIMEOUT)
    assert result["step_id"] == "claim"

    await wait_for(lambda: bool(provisioned), timeout=5)
    told = provisioned[0].data
    assert told["serial_number"] == SERIAL
    assert (told["mqtt_host"], told["mqtt_port"]) == (HOST, gateway_port)
    await simulator(told["mqtt_port"], "--host", told["mqtt_host"])
    result = await watcher.next_step(flow_id, timeout=PROVISIONING_TIMEOUT)

    assert charger.committed is not None
    assert proxy.connection_log == [ADDRESS]
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The radio was left alone: its pairing is learnt once the charger reports.
    assert result["data"] == {
        "serial_number": SERIAL,
        "charger_address": None,
        "charger_channel": None,
        "mqtt_host": HOST,
        "mqtt_port": gateway_port,
        "gateway": True,
        "address": ADDRESS,
    }
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(lambda: has_values(hass), timeout=10)
    await wait_for(lambda: entry.data["charger_channel"] is not None, timeout=10)
    assert isinstance(entry.data["charger_address"], int)


@pytest.mark.parametrize("mode", [ANONYMOUS], ids=lambda mode: mode.name)
async def test_a_charger_out_of_range_mid_session_leaves_nothing_committed(
    hass: HomeAssistant,
    *,
    broker: Mosquitto,
    proxy: VirtualProxy,
    watcher: FlowWatcher,
) -> None:
    """The link drops while the charger sets up its receiver: the form says so."""
    provisioned = async_capture_events(hass, EVENT_CHARGER_PROVISIONED)
    charger = proxy.add_charger(
        ADDRESS, VirtualCharger(timings=FirmwareTimings(rtk_setup=60.0))
    )
    flow_id = await discovered_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, settings_input(broker.port)
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["step_id"] == "provision"
    await until_received(charger, "set_rtk_info", timeout=10)

    proxy.out_of_range(ADDRESS)
    result = await watcher.next_step(flow_id)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"base": "link_lost"}
    assert charger.committed is None
    assert proxy.connections == []
    assert hass.config_entries.async_entries(DOMAIN) == []
    await hass.async_block_till_done()
    assert provisioned == []
    hass.config_entries.flow.async_abort(flow_id)


@pytest.mark.parametrize("mode", [ANONYMOUS], ids=lambda mode: mode.name)
async def test_of_two_proxies_hearing_the_charger_the_stronger_one_carries_the_session(
    hass: HomeAssistant,
    *,
    broker: Mosquitto,
    virtual_proxy_factory: ProxyFactory,
    watcher: FlowWatcher,
) -> None:
    """The weaker proxy hears it first; the session still goes through the nearer."""
    far = await virtual_proxy_factory("Shed proxy", rssi=-85, advertise_interval=None)
    near = await virtual_proxy_factory("Porch proxy", rssi=-55, advertise_interval=None)
    charger = far.add_charger(ADDRESS, VirtualCharger())
    near.add_charger(ADDRESS, charger)
    flow_id = await discovered_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, settings_input(broker.port)
    )
    assert result["step_id"] == "confirm"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["step_id"] == "provision"
    result = await watcher.next_step(flow_id, timeout=PROVISIONING_TIMEOUT)

    assert result["step_id"] == "claim"  # provisioned: waiting for its report
    assert charger.committed is not None
    assert near.connection_log == [ADDRESS]
    assert far.connection_log == []
    hass.config_entries.flow.async_abort(flow_id)
