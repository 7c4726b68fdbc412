"""The instance a soak runs: scripts/develop's parts, in temporary directories.

Two chargers in gateway mode, both entries with the same gateway options
(a free port on 127.0.0.1), the recorder on SQLite committing every second,
and the soak probe (``dev/custom_components/soak_probe``) that counts the
integration's tasks and timers. Every port is a free one on 127.0.0.1, so a
soak runs beside scripts/develop and the browser test.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import time
from typing import TYPE_CHECKING, Any

from .. import first_run
from ..instance import RESTART_EXIT_CODE, DevelopmentInstance
from ..layout import HOST, Layout
from ..mosquitto import free_port
from ..processes import say
from .chargers import ControlledChargers

if TYPE_CHECKING:
    from pathlib import Path

HASS = "home-assistant"
RESTART_TIMEOUT = 120.0  # seconds for Home Assistant to stop after asking


@dataclass(frozen=True, slots=True)
class ChargerSpec:
    """One simulated charger: its serial number and its firmware's ways."""

    serial_number: str
    encrypt: bool
    login: str  # scripts/simulate-charger --login

    @property
    def firmware(self) -> str:
        """The firmware it behaves like."""
        return "v0.4.0" if self.encrypt else "v0.3.6"


# v0.3.6 connects without a login; what v0.4.0 sends is disputed: here its
# serial number (the gateway admits any login).
CHARGERS = (
    ChargerSpec("LFIC1230700123", encrypt=False, login="none"),
    ChargerSpec("LFIC1230700456", encrypt=True, login="serial"),
)


def soak_layout(directory: Path) -> Layout:
    """Directories under ``directory``, free ports on 127.0.0.1."""
    directory.chmod(0o755)  # Mosquitto's user reads its files below it
    return Layout(
        config=directory / "config",
        state=directory / "state",
        http_port=free_port(),
        mqtt_port=free_port(),
        mosquitto=directory / "mosquitto",
    )


def configuration_yaml() -> str:
    """The recorder committing every second, diagnostics, the probe, logging."""
    return """\
# Written by scripts/soak.
homeassistant:
  name: Novabot soak
  unit_system: metric
  time_zone: UTC
  country: NL
  currency: EUR
  language: en
  auth_providers:
    - type: homeassistant

recorder:
  commit_interval: 1

diagnostics:

soak_probe:

logger:
  default: warning
  logs:
    custom_components.novabot: info
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
"""


def write_config(layout: Layout, gateway_port: int) -> dict[str, str]:
    """Home Assistant's files for the soak; ``{serial number: config entry id}``."""
    credentials = first_run.load_credentials(layout)
    # The gateway's port and address are shared by every gateway-mode entry.
    options: dict[str, Any] = {
        "gateway_port": gateway_port,
        "gateway_bind_address": HOST,
    }
    chargers = [
        first_run.charger_entry(
            layout, spec.serial_number, gateway_port, options, address=None
        )
        for spec in CHARGERS
    ]
    entries = [first_run.mqtt_entry(layout, credentials["mqtt_password"]), *chargers]
    first_run.write_files(layout, configuration_yaml(), first_run.entries_file(entries))
    return {entry["unique_id"]: entry["entry_id"] for entry in chargers}


class SoakInstance(DevelopmentInstance):
    """A development instance whose chargers take faults; restarts on demand."""

    def __init__(self, layout: Layout, seed: int) -> None:
        super().__init__(layout, console=False)
        self.chargers = self.controlled = ControlledChargers(
            self.processes, layout, CHARGERS, seed
        )

    @property
    def hass_pid(self) -> int:
        """The running Home Assistant's process id."""
        return self.processes.running[HASS].pid

    @property
    def log_path(self) -> Path:
        """Home Assistant's log (the one before a restart is ``.1``)."""
        return self.layout.config / "home-assistant.log"

    async def restart_mosquitto(self, down_seconds: float) -> None:
        """Stop the broker, keep it down a while, start it on the same port."""
        await self.processes.stop("mosquitto")
        await asyncio.sleep(down_seconds)
        await self._start_mosquitto()

    async def restart_home_assistant(self) -> float:
        """Ask Home Assistant to restart, as Settings > System > Restart does.

        Like scripts/develop, start it again once it exited for the restart;
        returns the moment the new process started.
        """
        process = self.processes.running[HASS]
        async with self.api.session.post(
            f"{self.layout.url}/api/services/homeassistant/restart",
            headers={"Authorization": f"Bearer {self.api.token}"},
        ) as response:
            say(f"asked Home Assistant to restart: HTTP {response.status}")
        code = await asyncio.wait_for(process.wait(), RESTART_TIMEOUT)
        if code != RESTART_EXIT_CODE:
            raise RuntimeError(f"Home Assistant exited with {code}, not a restart")
        self.processes.forget(HASS)
        await self._start_home_assistant()
        started = time.monotonic()
        await self.until_ready(started)
        return started
