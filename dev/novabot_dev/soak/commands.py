"""Mower commands through Home Assistant's own API, and what came of each.

A command is a ``lawn_mower`` service call over the websocket API (the way the
frontend and automations call them). Its caller either gets a result
(acknowledged), an error with a message (failed with a message, the reason
counted), an error without one, or nothing within ``COMMAND_TIMEOUT``: lost.
A connection that drops while a call waits counts as lost too: nobody told
the caller what became of its command.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING

from ..processes import say

if TYPE_CHECKING:
    import random

    from .hass_socket import HassSocket

COMMAND_TIMEOUT = 30.0  # seconds; the charger answers within ~4
SERVICES = ("start_mowing", "pause", "dock")
PAIR_CHANCE = 0.25  # how often two commands leave at once
GAP = (2.0, 10.0)  # seconds between commands (uniform)


@dataclass(slots=True)
class CommandTally:
    """What came of the commands sent."""

    sent: int = 0
    acknowledged: int = 0
    failed_with_message: int = 0
    failed_without_message: int = 0
    lost: int = 0
    # Acknowledged to the caller, yet no mower command reached the charger
    # then (Home Assistant skips a service call on an unavailable entity).
    acknowledged_not_delivered: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    lost_details: list[str] = field(default_factory=list)
    slowest_s: float = 0.0


class CommandSender:
    """Sends mower commands at random moments; ``paused`` holds new ones back."""

    def __init__(
        self, socket: HassSocket, mowers: dict[str, str], rng: random.Random
    ) -> None:
        self._socket = socket
        self.mowers = mowers  # serial number -> the lawn_mower's entity id
        self._rng = rng
        self.tally = CommandTally()
        self.paused = False
        self._in_flight: set[asyncio.Task[None]] = set()
        # Each acknowledged call: charger, when it was made, when it returned.
        self.acknowledged: list[tuple[str, float, float]] = []

    async def run(self, deadline: float) -> None:
        """Until ``deadline`` (monotonic): a command, or two at once, now and then."""
        serials = sorted(self.mowers)
        while (wait := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(wait, self._rng.uniform(*GAP)))
            if self.paused or time.monotonic() >= deadline:
                continue
            count = 2 if self._rng.random() < PAIR_CHANCE else 1
            for _ in range(count):
                self.launch(self._rng.choice(serials), self._rng.choice(SERVICES))

    def launch(self, serial_number: str, service: str) -> asyncio.Task[None]:
        """Send one command in the background."""
        task = asyncio.create_task(self.send(serial_number, service))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def send(self, serial_number: str, service: str) -> None:
        """Call ``lawn_mower.<service>`` on the charger's mower; count the outcome."""
        tally = self.tally
        tally.sent += 1
        started = time.monotonic()
        what = f"{service} on {serial_number}"
        try:
            reply = await self._socket.request(
                {
                    "type": "call_service",
                    "domain": "lawn_mower",
                    "service": service,
                    "target": {"entity_id": self.mowers[serial_number]},
                    "return_response": False,
                },
                COMMAND_TIMEOUT,
            )
        except TimeoutError:
            tally.lost += 1
            tally.lost_details.append(f"{what}: no answer in {COMMAND_TIMEOUT:g} s")
            say(f"command LOST: {what} (no answer)")
            return
        except (ConnectionError, OSError) as err:
            tally.lost += 1
            tally.lost_details.append(f"{what}: {err}")
            say(f"command LOST: {what} ({err})")
            return
        tally.slowest_s = max(tally.slowest_s, time.monotonic() - started)
        if reply.get("success"):
            tally.acknowledged += 1
            self.acknowledged.append((serial_number, started, time.monotonic()))
        elif message := (reply.get("error") or {}).get("message"):
            tally.failed_with_message += 1
            tally.messages[message] += 1
        else:
            tally.failed_without_message += 1
            tally.messages[f"(no message) {reply.get('error')}"] += 1

    async def drain(self, timeout: float = COMMAND_TIMEOUT + 5) -> None:
        """Until every command sent has its outcome (each is bounded anyway)."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    def check_deliveries(self, replies: dict[str, list[float]]) -> None:
        """Count acknowledged calls without a mower's acknowledgement on the charger.

        ``replies``: per charger, when it sent a mower command's reply with
        result 0. Each such reply vouches for one call made before it and
        returning after it.
        """
        unclaimed = {serial: sorted(times) for serial, times in replies.items()}
        for serial, started, finished in sorted(self.acknowledged, key=lambda c: c[2]):
            times = unclaimed.get(serial, [])
            match = next((t for t in times if started <= t <= finished), None)
            if match is None:
                self.tally.acknowledged_not_delivered += 1
            else:
                times.remove(match)
