"""The virtual Bluetooth proxy, inside Home Assistant's real Bluetooth stack.

Nothing of Home Assistant's Bluetooth or of the novabot integration is
patched: the proxy is a remote scanner and bleak backend like an ESPHome
proxy's, so advertisements go through Home Assistant's matchers and
connections through ``HaBleakClientWrapper`` and ``establish_connection``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bleak.exc import BleakError
import bleak_retry_connector
from bleak_retry_connector import BleakConnectionError
from habluetooth import HaBleakClientWrapper
from homeassistant.components import bluetooth
from homeassistant.config_entries import SOURCE_BLUETOOTH
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.novabot.protocol import (
    COMMAND_CHARACTERISTIC,
    SERVICE_UUID,
    LinkLostError,
    ProvisioningResult,
    ProvisioningSession,
    ProvisioningSettings,
    RadioPairing,
)
from custom_components.virtual_bluetooth_proxy import (
    DOMAIN,
    EVENT_CHARGER_PROVISIONED,
    VirtualProxy,
    async_get_proxies,
    async_stop_proxies,
)
from custom_components.virtual_bluetooth_proxy.chargers import TIMINGS

from .flow_helpers import until_received
from .virtual_charger import (
    INSTANT,
    STEPS,
    ChargerState,
    FirmwareTimings,
    LoraReply,
    VirtualCharger,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from bleak import BleakClient
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .virtual_proxy import ProxyFactory

    type Listen = Callable[[str], list[BluetoothServiceInfoBleak]]

ADDRESS = "AA:BB:CC:DD:EE:01"
SERIAL_NUMBER = "LFIC1230700123"
PASSWORD = "s3cret-Garden-Passphrase"
SETTINGS = ProvisioningSettings.create(
    serial_number=SERIAL_NUMBER,
    ssid="Garden",
    password=PASSWORD,
    mqtt_host="192.168.1.10",
    mqtt_port=1883,
)
# The same, with the radio paired on purpose: every command goes through the proxy.
PAIRED = ProvisioningSettings.create(
    serial_number=SERIAL_NUMBER,
    ssid="Garden",
    password=PASSWORD,
    mqtt_host="192.168.1.10",
    mqtt_port=1883,
    lora_address=3251,
    lora_channel=17,
)
DATA_CHARACTERISTIC = "00003333-0000-1000-8000-00805f9b34fb"


class Central:
    """What the novabot integration does to connect: the same calls, in order.

    ``bluetooth.async_ble_device_from_address``, then
    ``establish_connection(BleakClientWithServiceCache, ...)`` looked up at
    call time (Home Assistant's bluetooth integration swaps that class for its
    wrapper when it starts), with a disconnected callback that tells the
    session.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.session: ProvisioningSession | None = None
        self.lost: list[BleakClient] = []

    async def connect(self, address: str = ADDRESS, **options: Any) -> BleakClient:
        device = bluetooth.async_ble_device_from_address(
            self.hass, address, connectable=True
        )
        assert device is not None
        return await bleak_retry_connector.establish_connection(
            bleak_retry_connector.BleakClientWithServiceCache,
            device,
            device.name or address,
            self._link_lost,
            **options,
        )

    async def provision(
        self, address: str = ADDRESS, settings: ProvisioningSettings = SETTINGS
    ) -> ProvisioningResult:
        client = await self.connect(address)
        self.session = ProvisioningSession(client, write_interval=0, reply_pause=0)
        return await self.session.run(settings)

    def _link_lost(self, client: BleakClient) -> None:
        self.lost.append(client)
        if self.session:
            self.session.connection_lost()


@pytest.fixture
def advertisements(
    hass: HomeAssistant,
) -> Iterator[Callable[[str], list[BluetoothServiceInfoBleak]]]:
    """``advertisements(address)``: a list of what Home Assistant receives from it."""
    unsubscribes: list[Callable[[], None]] = []

    def listen(address: str) -> list[BluetoothServiceInfoBleak]:
        heard: list[BluetoothServiceInfoBleak] = []
        unsubscribes.append(
            bluetooth.async_register_advertisement_callback(hass, heard.append, address)
        )
        return heard

    yield listen
    for unsubscribe in unsubscribes:
        unsubscribe()


# --- what Home Assistant hears ----------------------------------------------------


async def test_home_assistant_hears_the_charger_as_the_protocol_describes_it(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    virtual_proxy.add_charger(ADDRESS.lower())

    info = bluetooth.async_last_service_info(hass, ADDRESS, connectable=True)
    assert info is not None
    assert info.name == "CHARGER_PILE"
    assert info.manufacturer_data == {21862: bytes.fromhex("AABBCCDDEE01") + b"ESP"}
    assert info.connectable
    assert info.rssi == -60
    assert info.source == virtual_proxy.source
    scanner = bluetooth.async_scanner_by_source(hass, virtual_proxy.source)
    assert scanner is virtual_proxy.scanner
    assert scanner.connectable


async def test_the_advertisement_starts_the_novabot_discovery_flow(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, virtual_proxy: VirtualProxy
) -> None:
    virtual_proxy.add_charger(ADDRESS)
    # Discovery flows start as background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)

    flows = hass.config_entries.flow.async_progress_by_handler("novabot")
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_BLUETOOTH
    assert flows[0]["context"]["unique_id"] == ADDRESS
    assert flows[0]["step_id"] == "settings"

    # Heard again (the proxy re-advertises): Home Assistant starts no second flow.
    virtual_proxy.advertise()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(hass.config_entries.flow.async_progress_by_handler("novabot")) == 1

    hass.config_entries.flow.async_abort(flows[0]["flow_id"])


# --- connections -------------------------------------------------------------------


async def test_a_connection_goes_through_home_assistants_wrapper_to_the_charger(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    charger = virtual_proxy.add_charger(ADDRESS, VirtualCharger())
    central = Central(hass)

    client = await central.connect()

    assert isinstance(client, HaBleakClientWrapper)
    assert client.is_connected
    assert virtual_proxy.connections == [ADDRESS]
    assert client.mtu_size == 23
    service = client.services.get_service(SERVICE_UUID)
    assert service is not None
    command = service.get_characteristic(COMMAND_CHARACTERISTIC)
    data = service.get_characteristic(DATA_CHARACTERISTIC)
    assert command is not None
    assert data is not None
    assert sorted(command.properties) == ["notify", "write-without-response"]
    assert sorted(data.properties) == ["read", "write-without-response"]
    assert command.max_write_without_response_size == 20

    await client.disconnect()

    assert not charger.is_connected
    assert virtual_proxy.connections == []
    assert virtual_proxy.connection_log == [ADDRESS]
    assert charger.disconnect_calls == 1
    assert central.lost == [client]  # bleak hands the callback the wrapper


async def test_the_backend_refuses_what_the_charger_would(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    virtual_proxy.add_charger(ADDRESS, VirtualCharger())
    client = await Central(hass).connect()

    with pytest.raises(BleakError, match="MTU"):
        await client.write_gatt_char(COMMAND_CHARACTERISTIC, bytes(21), response=False)
    with pytest.raises(BleakError, match="Write Not Permitted"):
        await client.write_gatt_char(COMMAND_CHARACTERISTIC, b"{}", response=True)
    with pytest.raises(BleakError, match="Read Not Permitted"):
        await client.read_gatt_char(COMMAND_CHARACTERISTIC)
    with pytest.raises(BleakError, match="does not notify"):
        await client.start_notify(DATA_CHARACTERISTIC, lambda _char, _data: None)

    await client.disconnect()


async def test_a_provisioning_session_provisions_the_charger_through_the_proxy(
    hass: HomeAssistant, virtual_proxy: VirtualProxy, advertisements: Listen
) -> None:
    charger = virtual_proxy.add_charger(
        ADDRESS, VirtualCharger(lora_reply=LoraReply.OBJECT)
    )
    provisioned = async_capture_events(hass, EVENT_CHARGER_PROVISIONED)
    heard = advertisements(ADDRESS)

    result = await Central(hass).provision(settings=PAIRED)

    assert result == ProvisioningResult(radio=RadioPairing(3251, 17))
    assert charger.commands == list(STEPS)
    assert charger.state is ChargerState.REBOOTED
    assert charger.committed is not None
    assert charger.committed["set_wifi_info"]["ap"]["ssid"] == SERIAL_NUMBER
    assert charger.committed["set_mqtt_info"] == {"addr": "192.168.1.10", "port": 1883}
    assert virtual_proxy.connections == []
    await hass.async_block_till_done()
    # What scripts/develop needs to start a simulated charger; no WiFi password.
    assert [event.data for event in provisioned] == [
        {
            "address": ADDRESS,
            "proxy": "Virtual proxy",
            "source": virtual_proxy.source,
            "serial_number": SERIAL_NUMBER,
            "ssid": "Garden",
            "mqtt_host": "192.168.1.10",
            "mqtt_port": 1883,
            "lora_channel": 17,
        }
    ]
    # Rebooted out of provisioning mode: it advertises no more.
    virtual_proxy.advertise()
    assert heard == []


async def test_a_charger_out_of_range_mid_session_loses_the_link(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    # The charger spends a minute on its RTK receiver: the link drops meanwhile.
    charger = virtual_proxy.add_charger(
        ADDRESS, VirtualCharger(timings=FirmwareTimings(rtk_setup=60.0))
    )
    provisioned = async_capture_events(hass, EVENT_CHARGER_PROVISIONED)
    central = Central(hass)
    session = asyncio.create_task(central.provision())
    await until_received(charger, "set_rtk_info")

    virtual_proxy.out_of_range(ADDRESS)

    with pytest.raises(LinkLostError) as failure:
        await session
    assert failure.value.step == "set_rtk_info"
    assert charger.committed is None
    assert not charger.is_connected
    assert len(central.lost) == 1
    assert virtual_proxy.connections == []
    await hass.async_block_till_done()
    assert provisioned == []


async def test_a_charger_accepts_one_central_at_a_time(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    virtual_proxy.add_charger(ADDRESS, VirtualCharger())
    first = await Central(hass).connect()

    with pytest.raises(BleakConnectionError, match="already connected"):
        await Central(hass).connect(max_attempts=1)

    await first.disconnect()


async def test_a_charger_instance_serves_one_connection(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    # VirtualCharger models one connection; a factory (YAML's way) serves more.
    virtual_proxy.add_charger(ADDRESS, VirtualCharger())
    client = await Central(hass).connect()
    await client.disconnect()

    with pytest.raises(BleakConnectionError, match="factory"):
        await Central(hass).connect(max_attempts=1)


async def test_a_removed_charger_drops_its_link_and_is_no_longer_heard(
    hass: HomeAssistant, virtual_proxy: VirtualProxy, advertisements: Listen
) -> None:
    charger = virtual_proxy.add_charger(ADDRESS, VirtualCharger())
    central = Central(hass)
    client = await central.connect()
    heard = advertisements(ADDRESS)

    virtual_proxy.remove_charger(ADDRESS)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await hass.async_block_till_done()

    assert central.lost == [client]
    assert not charger.is_connected
    assert heard == []
    await client.disconnect()


@pytest.mark.parametrize("heard_first", ["Far proxy", "Near proxy"])
async def test_home_assistant_connects_through_the_proxy_that_hears_best(
    hass: HomeAssistant, virtual_proxy_factory: ProxyFactory, heard_first: str
) -> None:
    far = await virtual_proxy_factory("Far proxy", rssi=-80)
    near = await virtual_proxy_factory("Near proxy", rssi=-50)
    charger = VirtualCharger()
    for proxy in sorted((far, near), key=lambda proxy: proxy.name != heard_first):
        proxy.add_charger(ADDRESS, charger)
    paths = bluetooth.async_scanner_devices_by_address(hass, ADDRESS, connectable=True)
    assert sorted((path.scanner.source, path.advertisement.rssi) for path in paths) == (
        sorted([(far.source, -80), (near.source, -50)])
    )

    central = Central(hass)
    result = await central.provision()

    assert result == ProvisioningResult()
    assert near.connection_log == [ADDRESS]
    assert far.connection_log == []
    assert charger.committed is not None


async def test_the_connection_path_is_chosen_at_connect_time_not_from_the_device(
    hass: HomeAssistant, virtual_proxy_factory: ProxyFactory
) -> None:
    # 10 dB apart, the weaker heard first: Home Assistant keeps reporting the
    # device as seen by the first proxy, yet connects through the better one.
    far = await virtual_proxy_factory("Far proxy", rssi=-70)
    near = await virtual_proxy_factory("Near proxy", rssi=-60)
    charger = far.add_charger(ADDRESS)
    near.add_charger(ADDRESS, charger)
    device = bluetooth.async_ble_device_from_address(hass, ADDRESS, connectable=True)
    assert device is not None
    assert device.details["source"] == far.source

    client = await Central(hass).connect()

    assert near.connections == [ADDRESS]
    assert far.connections == []
    await client.disconnect()


async def test_the_proxy_re_advertises_until_the_charger_stops_or_it_is_stopped(
    hass: HomeAssistant, virtual_proxy: VirtualProxy, advertisements: Listen
) -> None:
    virtual_proxy.add_charger(ADDRESS)
    heard = advertisements(ADDRESS)

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=5))
    await hass.async_block_till_done()
    assert len(heard) == 1
    assert heard[0].source == virtual_proxy.source

    virtual_proxy.stop_advertising(ADDRESS)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=10))
    await hass.async_block_till_done()
    assert len(heard) == 1

    await virtual_proxy.async_stop()
    assert bluetooth.async_scanner_by_source(hass, virtual_proxy.source) is None


async def test_stopping_a_proxy_drops_its_links(
    hass: HomeAssistant, virtual_proxy: VirtualProxy
) -> None:
    charger = virtual_proxy.add_charger(
        ADDRESS, VirtualCharger(timings=FirmwareTimings(wifi_join=60.0))
    )
    central = Central(hass)
    session = asyncio.create_task(central.provision())
    await until_received(charger, "set_wifi_info")

    await async_stop_proxies(hass)

    with pytest.raises(LinkLostError):
        await session
    assert bluetooth.async_scanner_by_source(hass, virtual_proxy.source) is None


# --- YAML -------------------------------------------------------------------------------


async def test_proxies_and_chargers_from_yaml(
    hass: HomeAssistant, virtual_proxy_factory: ProxyFactory
) -> None:
    assert await async_setup_component(
        hass,
        DOMAIN,
        {
            DOMAIN: [
                {
                    "name": "Garden proxy",
                    "rssi": -70,
                    "chargers": [
                        {
                            "address": ADDRESS.lower(),
                            "timings": "instant",
                            "quiet_channels": [18],
                            "seed": 3,
                        },
                        {"address": "AA:BB:CC:DD:EE:02", "rssi": -40},
                    ],
                }
            ]
        },
    )

    for address, rssi in ((ADDRESS, -70), ("AA:BB:CC:DD:EE:02", -40)):
        info = bluetooth.async_last_service_info(hass, address)
        assert info is not None
        assert info.rssi == rssi
    (proxy,) = async_get_proxies(hass)
    assert proxy.name == "Garden proxy"
    assert proxy.charger("AA:BB:CC:DD:EE:02").timings is TIMINGS["demo"]  # default
    first = proxy.charger(ADDRESS)
    assert first.timings is INSTANT

    assert first.link.pairing == VirtualCharger(seed=3).link.pairing

    # A charger described in YAML accepts a new central after a dropped link,
    # and keeps its radio from one power-on to the next.
    central = Central(hass)
    client = await central.connect()
    await client.disconnect()
    assert await central.provision() == ProvisioningResult()
    assert proxy.charger(ADDRESS) is not first
    assert proxy.charger(ADDRESS).committed is not None
    assert proxy.charger(ADDRESS).link is first.link


async def test_yaml_with_an_unknown_timing_preset_is_refused(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    assert not await async_setup_component(
        hass,
        DOMAIN,
        {
            DOMAIN: [
                {
                    "name": "Garden proxy",
                    "chargers": [{"address": ADDRESS, "timings": "fast"}],
                }
            ]
        },
    )
