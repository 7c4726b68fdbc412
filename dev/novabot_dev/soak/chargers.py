"""The soak's chargers: scripts/simulate-charger processes under control.

Each takes its faults as JSON lines on stdin and tells on stdout what it did:
every report it sent (with its fields), every command and reply, each
fault's beginning and end. Their times are ``time.monotonic()``, the same
clock as the soak's on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import json
from typing import TYPE_CHECKING, Any

from ..chargers import SimulatedChargers
from ..processes import say

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ..layout import Layout
    from ..processes import Processes
    from .instance import ChargerSpec

REPORT_INTERVAL = 2.0  # seconds, as stock chargers report
MOWER_COMMANDS = (
    "start_run",
    "pause_run",
    "resume_run",
    "stop_run",
    "stop_time_run",
    "go_pile",
)


@dataclass(frozen=True, slots=True)
class Report:
    """A report the charger sent: when, its fields, and whether in a flood."""

    t: float
    fields: dict[str, int]
    flood: bool


class ControlledCharger:
    """One simulated charger process: its reports and events, and its faults."""

    def __init__(self, spec: ChargerSpec, process: asyncio.subprocess.Process) -> None:
        self.spec = spec
        self.process = process
        self.reports: list[Report] = []
        self.events: list[dict[str, Any]] = []
        self._news = asyncio.Condition()
        self._reading = asyncio.create_task(self._read())

    @property
    def serial_number(self) -> str:
        """The charger's serial number."""
        return self.spec.serial_number

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "report":
                self.reports.append(
                    Report(event["t"], event["fields"], bool(event.get("flood")))
                )
            else:
                self.events.append(event)
            async with self._news:
                self._news.notify_all()

    async def control(self, **control: Any) -> None:
        """Tell the charger a fault (``do`` = its kind, with its parameters)."""
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(control) + "\n").encode())
        await self.process.stdin.drain()

    async def until_event(
        self, matches: Callable[[dict[str, Any]], bool], since: float, timeout: float
    ) -> dict[str, Any]:
        """The first event after ``since`` that ``matches``; TimeoutError past ``timeout``."""

        def found() -> dict[str, Any] | None:
            return next(
                (e for e in self.events if e["t"] >= since and matches(e)), None
            )

        async with asyncio.timeout(timeout), self._news:
            while (event := found()) is None:
                await self._news.wait()
            return event

    def fault_ended(self, fault: str) -> Callable[[dict[str, Any]], bool]:
        """Matches the end of ``fault`` (the charger's own event)."""
        return lambda e: (
            e["event"] == "fault" and e["fault"] == fault and e["phase"] == "end"
        )

    def recent_reports(self, since: float, count: int = 3) -> list[Report]:
        """The last ``count`` reports sent at or after ``since``, newest first."""
        recent: list[Report] = []
        for report in reversed(self.reports):
            if report.t < since or len(recent) >= count:
                break
            recent.append(report)
        return recent

    def acknowledged_replies(self) -> list[float]:
        """When the charger replied that its mower acknowledged a command."""
        return [
            float(event["t"])
            for event in self.events
            if event["event"] == "reply"
            and event.get("name") in MOWER_COMMANDS
            and event.get("result") == 0
        ]

    def sent_between(self, start: float, end: float) -> int:
        """How many reports left in ``(start, end]``."""
        return sum(1 for report in self.reports if start < report.t <= end)

    async def close(self) -> None:
        """Stop reading (the process itself is stopped with the instance)."""
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


class ControlledChargers(SimulatedChargers):
    """The soak's chargers, started like scripts/develop's, with a control channel."""

    def __init__(
        self,
        processes: Processes,
        layout: Layout,
        specs: Sequence[ChargerSpec],
        seed: int,
    ) -> None:
        super().__init__(processes, layout)
        self._specs = {spec.serial_number: spec for spec in specs}
        self._seed = seed
        self.running: dict[str, ControlledCharger] = {}

    def command(self, serial_number: str, host: str, port: int) -> list[str]:
        """scripts/develop's command line, with the spec's firmware and the control channel."""
        spec = self._specs[serial_number]
        command = [
            *super().command(serial_number, host, port),
            "--control",
            "--interval", str(REPORT_INTERVAL),
            "--login", spec.login,
            # Each charger's satellites drift its own repeatable way.
            "--seed", str(self._seed + len(self.running)),
        ]  # fmt: skip
        if spec.encrypt:
            command.append("--encrypt")
        return command

    async def start(self, serial_number: str, host: str, port: int) -> None:
        """Power on a charger (once per serial number), its pipes to the soak."""
        if serial_number in self.serial_numbers:
            return
        self.serial_numbers.append(serial_number)
        spec = self._specs[serial_number]
        say(
            f"starting the simulated charger {serial_number} ({spec.firmware}, "
            f"login {spec.login}) -> {host}:{port}"
        )
        process = await self._processes.start(
            f"simulator {serial_number}",
            self.command(serial_number, host, port),
            self._layout.simulator_log(serial_number),
            pipes=True,
        )
        self.running[serial_number] = ControlledCharger(spec, process)

    async def close(self) -> None:
        """Stop reading every charger's events."""
        for charger in self.running.values():
            await charger.close()
