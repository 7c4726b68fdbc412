"""Helpers for the config flow tests: the radio edge, flow watching, charger reports.

``FakeRadio`` is Home Assistant's Bluetooth as far as the config flow can see
it: the advertisements it has heard, the device behind an address, and
``establish_connection``, which hands out :class:`VirtualCharger` instances (the
simulated firmware) wired to the disconnect callback the flow passes. Nothing
above the radio is mocked: the flow runs the real ``ProvisioningSession``.

``FlowWatcher`` records what the frontend would see of a flow that moves on by
itself (progress steps advance when their task finishes), and waits for a
progress step to be done without sleeping for fixed times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
import time
from typing import TYPE_CHECKING, Any, Self
from unittest.mock import patch

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import (
    EVENT_DATA_ENTRY_FLOW_PROGRESSED,
    FlowResultType,
    section,
)
import probatio

from custom_components.novabot.protocol import ProvisioningSession

from .charger_firmware import ChargerFirmware
from .common import report
from .virtual_charger import VirtualCharger

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlowResult

SERIAL_NUMBER = "LFIC1230700123"
OTHER_SERIAL_NUMBER = "LFIC1230700999"
THIRD_SERIAL_NUMBER = "LFIC1230700555"
ADDRESS = "AA:BB:CC:DD:EE:FF"
OTHER_ADDRESS = "11:22:33:44:55:66"
LOOPBACK = "127.0.0.1"  # where the tests' brokers listen
SSID = "Garden"
PASSWORD = "s3cret-Garden-Passphrase"  # distinctive: searched for in logs and data
ADVERTISED_NAME = "CHARGER_PILE"
MANUFACTURER_ID = 21862

# Where the flow asks Home Assistant's Bluetooth, and connects through it.
BLUETOOTH = "custom_components.novabot.flow.bluetooth_chargers"
SESSION = "custom_components.novabot.flow.bluetooth_session"

# The progress of a session that leaves the radio pairing alone (the default).
PROVISIONING_ACTIONS = [
    "connect",
    "set_wifi_info",
    "set_rtk_info",
    "set_mqtt_info",
    "set_cfg_info",
]
# The progress of a session asked to pair the radio.
PAIRING_ACTIONS = [
    "connect",
    "set_wifi_info",
    "set_rtk_info",
    "set_lora_info",
    "set_mqtt_info",
    "set_cfg_info",
]


def settings_input(
    port: int, *, radio: Mapping[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """What the user types in the settings form; the broker is always on 127.0.0.1.

    ``radio`` is the "Pair the radio" section, empty unless given: the frontend
    sends a section's object even while it is collapsed.
    """
    return {
        "serial_number": SERIAL_NUMBER,
        "ssid": SSID,
        "password": PASSWORD,
        "mqtt_host": LOOPBACK,
        "mqtt_port": port,
        "radio": dict(radio or {}),
        **overrides,
    }


def pairing(address: Any, channel: Any) -> dict[str, Any]:
    """The "Pair the radio" section filled in (``None`` leaves a field empty)."""
    fields = {"lora_address": address, "lora_channel": channel}
    return {key: value for key, value in fields.items() if value is not None}


def paired_firmware(address: int, channel: int) -> ChargerFirmware:
    """A charger whose radio holds this pairing, and its mower paired to it."""
    return ChargerFirmware(SERIAL_NUMBER, lora_address=address, lora_channel=channel)


def status_topic(serial_number: str = SERIAL_NUMBER) -> str:
    """The topic a charger reports on."""
    return f"Dart/Receive_mqtt/{serial_number}"


def report_payload(
    serial_number: str = SERIAL_NUMBER,
    *,
    encrypted: bool = False,
    shape: str = "up_status_info",
    **fields: int,
) -> bytes:
    """An ``up_status_info`` report as the charger ``serial_number`` publishes it."""
    return report(
        "up_status_info" if shape == "up_status_info" else "type",
        encrypt_for=serial_number if encrypted else None,
        **fields,
    )


def charger_service_info(
    address: str = ADDRESS,
    *,
    name: str = ADVERTISED_NAME,
    manufacturer_data: Mapping[int, bytes] | None = None,
    connectable: bool = True,
) -> BluetoothServiceInfoBleak:
    """An advertisement of a charger in provisioning mode.

    By default: local name ``CHARGER_PILE`` and manufacturer data under id 21862,
    whose payload is the 6-byte Bluetooth MAC followed by ``ESP``.
    """
    if manufacturer_data is None:
        mac = bytes.fromhex(address.replace(":", ""))
        manufacturer_data = {MANUFACTURER_ID: mac + b"ESP"}
    manufacturer = dict(manufacturer_data)
    advertisement = AdvertisementData(
        local_name=name or None,
        manufacturer_data=manufacturer,
        service_data={},
        service_uuids=[],
        tx_power=None,
        rssi=-60,
        platform_data=(),
    )
    return BluetoothServiceInfoBleak(
        name=name,
        address=address,
        rssi=-60,
        manufacturer_data=manufacturer,
        service_data={},
        service_uuids=[],
        source="local",
        device=BLEDevice(address, name or None, None),
        advertisement=advertisement,
        connectable=connectable,
        time=time.monotonic(),
        tx_power=None,
    )


class FakeRadio:
    """What Home Assistant's Bluetooth hears, and the chargers it connects to.

    ``queue(**options)`` prepares the charger the next connection reaches (the
    options are VirtualCharger's misbehaviours); without one, a well-behaved
    charger answers. ``connect_error`` makes ``establish_connection`` raise,
    ``connect_delay`` makes it take that long (as a real connection does).
    """

    def __init__(self) -> None:
        self.heard: dict[str, BluetoothServiceInfoBleak] = {}
        self.connect_error: BaseException | None = None
        self.connect_delay = 0.0
        self.connect_calls: list[tuple[Any, ...]] = []
        self.chargers: list[VirtualCharger] = []  # every one connected, in order
        self._queued: list[VirtualCharger] = []

    @contextmanager
    def installed(self) -> Iterator[Self]:
        """Stand in for Home Assistant's Bluetooth in the config flow.

        Sessions write without pacing (``write_interval=0``, ``reply_pause=0``):
        the protocol tests pin the pacing, in virtual time.
        """
        with (
            patch(
                f"{BLUETOOTH}.bluetooth.async_discovered_service_info",
                self.async_discovered_service_info,
            ),
            patch(
                f"{SESSION}.bluetooth.async_ble_device_from_address",
                self.async_ble_device_from_address,
            ),
            patch(f"{SESSION}.establish_connection", self.establish_connection),
            patch(
                f"{SESSION}.ProvisioningSession",
                partial(ProvisioningSession, write_interval=0, reply_pause=0),
            ),
        ):
            yield self

    def hear(self, *infos: BluetoothServiceInfoBleak) -> None:
        """Advertisements Home Assistant has received."""
        for info in infos:
            self.heard[info.address] = info

    def forget(self, address: str = ADDRESS) -> None:
        """The device went away (out of range, or left provisioning mode)."""
        self.heard.pop(address, None)

    def queue(self, **options: Any) -> VirtualCharger:
        """The charger the next connection reaches."""
        charger = VirtualCharger(**options)
        self._queued.append(charger)
        return charger

    @property
    def charger(self) -> VirtualCharger:
        """The charger of the last connection."""
        return self.chargers[-1]

    # --- the functions the flow calls ------------------------------------------

    def async_discovered_service_info(
        self, hass: HomeAssistant, connectable: bool = True
    ) -> list[BluetoothServiceInfoBleak]:
        """``bluetooth.async_discovered_service_info``."""
        return [
            info for info in self.heard.values() if info.connectable or not connectable
        ]

    def async_ble_device_from_address(
        self, hass: HomeAssistant, address: str, connectable: bool = True
    ) -> BLEDevice | None:
        """``bluetooth.async_ble_device_from_address``."""
        info = self.heard.get(address)
        return info.device if info else None

    async def establish_connection(
        self,
        client_class: type[Any],
        device: BLEDevice,
        name: str,
        disconnected_callback: Callable[[Any], None] | None = None,
        **kwargs: Any,
    ) -> VirtualCharger:
        """``bleak_retry_connector.establish_connection``: a connected charger."""
        self.connect_calls.append((client_class, device, name, kwargs))
        if self.connect_delay:
            await asyncio.sleep(self.connect_delay)
        if self.connect_error is not None:
            raise self.connect_error
        charger = self._queued.pop(0) if self._queued else VirtualCharger()
        charger.address = device.address
        charger.set_disconnected_callback(disconnected_callback)
        self.chargers.append(charger)
        return charger


class FlowWatcher:
    """Follows one handler's flows as the frontend would.

    Every change Home Assistant announces (``data_entry_flow_progressed``) is
    recorded as ``(step_id, progress_action)`` of the flow's current step, and
    the progress step itself in ``progress`` (its texts' placeholders too).
    """

    def __init__(self, hass: HomeAssistant, handler: str) -> None:
        self.hass = hass
        self.handler = handler
        self.seen: list[tuple[str, str | None]] = []
        self.progress: list[ConfigFlowResult] = []
        self._unsubscribe = hass.bus.async_listen(
            EVENT_DATA_ENTRY_FLOW_PROGRESSED, self._progressed
        )

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()

    @callback
    def _progressed(self, event: Event[Any]) -> None:
        if event.data["handler"] != self.handler:
            return
        step = self.current(event.data["flow_id"])
        if step is not None:
            self.record(step)

    def record(self, result: ConfigFlowResult) -> None:
        """Note a step shown to the user (also used for results returned directly)."""
        entry = (str(result.get("step_id")), result.get("progress_action"))
        if result["type"] is FlowResultType.SHOW_PROGRESS and (
            not self.seen or self.seen[-1] != entry
        ):
            self.seen.append(entry)
            self.progress.append(result)

    def shown(self, progress_action: str) -> ConfigFlowResult:
        """The first progress step seen with this action."""
        return next(
            result
            for result in self.progress
            if result.get("progress_action") == progress_action
        )

    def actions(self, step_id: str | None = None) -> list[str]:
        """The progress actions seen, in order (of one step, if given)."""
        return [
            action
            for step, action in self.seen
            if action is not None and (step_id is None or step == step_id)
        ]

    def current(self, flow_id: str) -> ConfigFlowResult | None:
        """The step a flow in progress shows, ``None`` once it has ended."""
        flow = self.hass.config_entries.flow._progress.get(flow_id)
        return None if flow is None else flow.cur_step

    async def until_progress_done(self, flow_id: str, timeout: float = 10.0) -> None:
        """Wait until a progress step has finished its task (or the flow ended)."""
        async with asyncio.timeout(timeout):
            while True:
                step = self.current(flow_id)
                if step is None or step["type"] is FlowResultType.SHOW_PROGRESS_DONE:
                    return
                await asyncio.sleep(0.001)

    async def next_step(self, flow_id: str, timeout: float = 10.0) -> ConfigFlowResult:
        """Wait for the progress to finish, then ask for the next step."""
        await self.until_progress_done(flow_id, timeout)
        result = await self.hass.config_entries.flow.async_configure(flow_id)
        self.record(result)
        return result


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the event loop run until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


async def until_received(
    charger: VirtualCharger, command: str, timeout: float = 5.0
) -> None:
    """Until the virtual charger has received ``command`` (and works on it)."""
    # The model records what it receives; it has nothing to wait on.
    await wait_for(lambda: command in charger.commands, timeout)


def suggested_values(schema: probatio.Schema | None) -> dict[str, Any]:
    """The values a form suggests (what it shows filled in).

    A section's are nested under its name, as the form sends them back.
    """
    assert schema is not None
    values: dict[str, Any] = {}
    for key, value in schema.schema.items():
        if isinstance(value, section):
            values[str(key)] = suggested_values(value.schema)
        elif (
            isinstance(key, probatio.Marker)
            and isinstance(key.description, Mapping)
            and "suggested_value" in key.description
        ):
            values[str(key)] = key.description["suggested_value"]
    return values


def form_section(schema: probatio.Schema | None, name: str) -> section:
    """The section ``name`` of a form."""
    assert schema is not None
    for key, value in schema.schema.items():
        if str(key) == name and isinstance(value, section):
            return value
    raise KeyError(name)


def sections(schema: probatio.Schema | None) -> list[str]:
    """The names of a form's sections, in order."""
    assert schema is not None
    return [
        str(key) for key, value in schema.schema.items() if isinstance(value, section)
    ]


def select_options(schema: probatio.Schema | None, field: str) -> list[dict[str, str]]:
    """The options of a select field."""
    assert schema is not None
    for key, selector in schema.schema.items():
        if str(key) == field:
            options: list[dict[str, str]] = selector.config["options"]
            return options
    raise KeyError(field)
