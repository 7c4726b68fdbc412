"""Fixtures of the end-to-end tests.

Every test gets a real Mosquitto on a free loopback port in one of two set-ups:

* ``addon``: like the Home Assistant Mosquitto add-on, logins required. Home
  Assistant logs in as a user; the charger (anonymous) goes through the gateway,
  which listens on a free port of 127.0.0.1.
* ``anonymous``: anonymous clients allowed; the charger talks to the broker
  directly.

Home Assistant's MQTT integration connects through its real client (not
``mqtt_mock``); the charger is ``scripts/simulate-charger``, run as a process.
Every process a test starts is stopped when the test ends, pass or fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
import itertools
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from novabot_dev.chargers import SIMULATOR
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_STALE_TIMEOUT,
    DOMAIN,
)
from custom_components.novabot.gateway import GatewaySettings

from ..common import ENABLED_KEYS, SERIAL, entry_data, setup_entry, states
from ..flow_helpers import FakeRadio, charger_service_info, wait_for
from ..mosquitto import free_port, stop_process

if TYPE_CHECKING:
    from pathlib import Path

    from homeassistant.core import HomeAssistant

    from ..mosquitto import Mosquitto, MosquittoFactory

# Where the config flow chooses the gateway a new charger joins.
BROKER_CHOICE = "custom_components.novabot.flow.broker_choice"
INTEGRATION = "custom_components.novabot"
HOST = "127.0.0.1"
MQTT_USER = "homeassistant"
MQTT_PASSWORD = "e2e-Secret-1"
STALE_TIMEOUT = 10  # seconds; the smallest the options flow allows
SIMULATOR_CLIENT_ID = "ESP32_1a2b3c"  # the simulator's default


def has_values(hass: HomeAssistant) -> bool:
    """Every entity enabled by default is there and shows a value.

    The mower's entities come with the first report of a mower that answers.
    """
    try:
        shown = states(hass, ENABLED_KEYS)
    except AssertionError:  # not added yet
        return False
    return all(
        value not in (STATE_UNKNOWN, STATE_UNAVAILABLE) for value in shown.values()
    )


@dataclass(frozen=True, slots=True)
class Mode:
    """A broker set-up and how the charger reaches it.

    With a password file, Home Assistant logs in, and the broker refuses the
    chargers' fixed login (firmware v0.4.0) it does not know: gateway mode.
    """

    name: str
    allow_anonymous: bool
    password_file: bool

    @property
    def gateway(self) -> bool:
        """A broker that would refuse either way chargers log in means the gateway."""
        return self.password_file or not self.allow_anonymous


ADDON = Mode("addon", allow_anonymous=False, password_file=True)
ANONYMOUS = Mode("anonymous", allow_anonymous=True, password_file=False)
# A self-run Mosquitto that admits anonymous clients, with a password file.
PASSWORD_FILE = Mode("password_file", allow_anonymous=True, password_file=True)


@pytest.fixture(params=[ADDON, ANONYMOUS], ids=lambda mode: mode.name)
def mode(request: pytest.FixtureRequest) -> Mode:
    """Both set-ups, one after the other."""
    mode: Mode = request.param
    return mode


@pytest.fixture
def broker(mode: Mode, mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """Mosquitto on a free port of 127.0.0.1, stopped after the test."""
    return mosquitto_factory(
        allow_anonymous=mode.allow_anonymous,
        users={MQTT_USER: MQTT_PASSWORD} if mode.password_file else None,
    )


@pytest.fixture
def gateway_port(socket_enabled: None) -> int:
    """A free port for the gateway (the default 1885 may be taken here)."""
    return free_port()


@pytest.fixture
def charger_port(mode: Mode, broker: Mosquitto, gateway_port: int) -> int:
    """Where the charger connects: the gateway, or the broker itself."""
    return gateway_port if mode.gateway else broker.port


@pytest.fixture(autouse=True)
def fast_mqtt_reconnect() -> Iterator[None]:
    """Home Assistant's MQTT client retries every 10 s; tests wait less."""
    with patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.2):
        yield


@pytest.fixture
async def mqtt_entry(
    hass: HomeAssistant, mode: Mode, broker: Mosquitto, mock_hass_config: None
) -> AsyncIterator[MockConfigEntry]:
    """Home Assistant's MQTT integration, connected to ``broker`` for real.

    MQTT reads configuration.yaml at set-up; ``mock_hass_config`` makes it empty.

    At the end every Novabot entry is unloaded, then MQTT itself, so that no
    timer, task or connection outlives the test.
    """
    data: dict[str, Any] = {"broker": HOST, "port": broker.port, "protocol": "5"}
    if mode.password_file:
        data |= {"username": MQTT_USER, "password": MQTT_PASSWORD}
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN, title=HOST, data=data, version=2, minor_version=1
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_for(lambda: mqtt.is_connected(hass), timeout=10)
        yield entry
    finally:
        for domain in (DOMAIN, mqtt.DOMAIN):
            for loaded in hass.config_entries.async_entries(domain):
                if loaded.state is ConfigEntryState.LOADED:
                    await hass.config_entries.async_unload(loaded.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
async def charger_entry(
    hass: HomeAssistant, mode: Mode, mqtt_entry: MockConfigEntry, charger_port: int
) -> MockConfigEntry:
    """The Novabot entry, as the config flow would create it for ``mode``.

    The stale timeout is lowered to 10 s; the gateway listens on 127.0.0.1 only.
    """
    options: dict[str, Any] = {CONF_STALE_TIMEOUT: STALE_TIMEOUT}
    if mode.gateway:
        options |= {CONF_GATEWAY_PORT: charger_port, CONF_GATEWAY_BIND_ADDRESS: HOST}
    return await setup_entry(
        hass,
        data=entry_data(gateway=mode.gateway, mqtt_host=HOST, mqtt_port=charger_port),
        options=options,
    )


@pytest.fixture
def flow_gateway(gateway_port: int) -> Iterator[int]:
    """The gateway a config flow opens: the free ``gateway_port``, on 127.0.0.1.

    Like the entry the flow creates, it listens on 127.0.0.1 only. This is the
    configuration a user sets in the options; the flow itself is not touched.
    """
    settings = GatewaySettings(port=gateway_port, bind_address=HOST)
    with (
        patch(f"{BROKER_CHOICE}.shared_gateway_settings", return_value=settings),
        patch(
            f"{INTEGRATION}.config_flow.shared_gateway_settings", return_value=settings
        ),
        patch(f"{INTEGRATION}.gateway.shared_gateway_settings", return_value=settings),
    ):
        yield gateway_port


@pytest.fixture
def radio(flow_gateway: int) -> Iterator[FakeRadio]:
    """Bluetooth hearing one charger in provisioning mode (a virtual one)."""
    radio = FakeRadio()
    radio.hear(charger_service_info())
    with radio.installed():
        yield radio


class Simulator:
    """``scripts/simulate-charger`` as a child process; its output goes to a file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (blocking: call it in the executor)."""
        # The simulator writes to its own copy of the log's descriptor.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own script
                [sys.executable, str(SIMULATOR), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def pause(self) -> None:
        """Freeze the charger (SIGSTOP): its connection stays open, it says nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen charger go on (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to end by itself (blocking); its exit code."""
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """Stop the process however it is doing (blocking); never raises."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process)

    def output(self) -> str:
        """What the simulator printed so far."""
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )


type SimulatorFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
def simulator(hass: HomeAssistant, tmp_path: Path) -> Iterator[SimulatorFactory]:
    """Start simulated chargers: ``await simulator(port, "--encrypt", ...)``.

    Reports every 0.2 s. All are stopped after the test; what they printed is
    shown when the test fails (pytest's captured output).
    """
    started: list[Simulator] = []

    async def start(port: int, *args: str) -> Simulator:
        options = {
            "--host": HOST,
            "--port": str(port),
            "--serial-number": SERIAL,
            "--interval": "0.2",
        }
        charger = Simulator(
            [*itertools.chain.from_iterable(options.items()), *args],
            tmp_path / f"simulator-{len(started)}.log",
        )
        started.append(charger)
        await hass.async_add_executor_job(charger.start)
        return charger

    try:
        yield start
    finally:
        for charger in started:
            charger.stop()
            print(f"--- {charger.log_path.name}\n{charger.output()}")  # noqa: T201
