"""Simulated chargers: each reports where it was told to, as a real one would.

A charger set up earlier (a Novabot entry in Home Assistant's storage) is
powered on with the instance. A charger provisioned while the instance runs
reboots and connects where the setup dialog told it to: the virtual Bluetooth
proxy announces that with its ``virtual_bluetooth_proxy_charger_provisioned``
event, followed here over the websocket API. Each runs
``scripts/simulate-charger`` with a mower answering, so every entity has a
value.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from typing import TYPE_CHECKING, Any

from .layout import ROOT
from .processes import say

if TYPE_CHECKING:
    from .hass_api import HomeAssistantApi
    from .layout import Layout
    from .processes import Processes

SIMULATOR = ROOT / "scripts" / "simulate-charger"
EVENT_CHARGER_PROVISIONED = "virtual_bluetooth_proxy_charger_provisioned"


def listening(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host``:``port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
        return True
    return False


class SimulatedChargers:
    """The chargers of one instance, each a ``scripts/simulate-charger`` process."""

    def __init__(
        self,
        processes: Processes,
        layout: Layout,
        *,
        encrypt: bool = False,
    ) -> None:
        self._processes = processes
        self._layout = layout
        self._encrypt = encrypt
        self.serial_numbers: list[str] = []  # every charger started, in order

    async def power_on(self, configured: list[dict[str, Any]], deadline: float) -> None:
        """Start the chargers set up before, once their broker or gateway listens."""
        for data in configured:
            host, port = data["mqtt_host"], data["mqtt_port"]
            while not listening(host, port):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing listens on {host}:{port}")
                await asyncio.sleep(0.2)
            await self.start(data["serial_number"], host, port)

    async def follow_provisioning(self, api: HomeAssistantApi) -> None:
        """Start each charger the setup dialog provisions, until the connection ends."""
        async for told in api.events(EVENT_CHARGER_PROVISIONED):
            say(
                f"charger {told['serial_number']} provisioned through "
                f"{told['proxy']}; it reboots and reports to "
                f"{told['mqtt_host']}:{told['mqtt_port']}"
            )
            await self.start(
                told["serial_number"], told["mqtt_host"], told["mqtt_port"]
            )

    async def start(self, serial_number: str, host: str, port: int) -> None:
        """Power on a charger that reports to ``host``:``port`` (once per serial)."""
        if serial_number in self.serial_numbers:
            return
        self.serial_numbers.append(serial_number)
        say(f"starting the simulated charger {serial_number} -> {host}:{port}")
        await self._processes.start(
            f"simulator {serial_number}",
            self.command(serial_number, host, port),
            self._layout.simulator_log(serial_number),
        )

    def command(self, serial_number: str, host: str, port: int) -> list[str]:
        """The simulator's command line for one charger."""
        command = [
            sys.executable,
            str(SIMULATOR),
            "--host", host,
            "--port", str(port),
            "--serial-number", serial_number,
            # Stock firmware uses its serial number: unique per charger.
            "--client-id", serial_number,
            "--mower",
        ]  # fmt: skip
        if self._encrypt:
            command.append("--encrypt")
        return command
