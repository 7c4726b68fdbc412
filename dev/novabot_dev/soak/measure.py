"""What a soak measures, and how.

* fresh values: Home Assistant's states (websocket ``get_states``) equal what
  one of the charger's latest reports implies (``expected``), a report sent
  after the fault ended;
* the recorder: the latest row of each entity in the SQLite database, read
  only, equal to the same; polled, as it commits every second;
* the integration's own counters: ``reports_accepted`` from each config
  entry's diagnostics, found by entry id (diagnostics redact the serial);
* memory: ``VmRSS`` of the ``hass`` process; tasks and timers: the soak probe;
* the log: lines at WARNING and above in ``home-assistant.log``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
import re
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from ..hass_api import ApiError
from .expected import KEYS, differences

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ..hass_api import HomeAssistantApi
    from .chargers import ControlledCharger
    from .hass_socket import HassSocket

POLL = 0.25  # seconds between looks
INTEGRATION_LOGGER = "custom_components.novabot"
GATEWAY_BROKER_LOGGER = "amqtt"  # the broker inside the integration's gateway
# Home Assistant's log format: date, time, level, (thread), [logger], message.
LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?P<level>[A-Z]+) "
    r"\((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] (?P<message>.*)$"
)
LATEST_STATE = """
SELECT states.state FROM states
JOIN states_meta ON states.metadata_id = states_meta.metadata_id
WHERE states_meta.entity_id = ?
ORDER BY states.last_updated_ts DESC, states.state_id DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class Sample:
    """The integration's ``reports_accepted`` per charger, read at ``t``."""

    t: float
    generation: int  # which hass process (0, then 1 after the restart)
    accepted: dict[str, int]
    # When each counter was read: from the request until its answer.
    read: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(slots=True)
class Freshness:
    """Whether (and when) what Home Assistant shows caught up with the reports."""

    at: float | None  # monotonic time it did; None: not within the bound
    mismatch: dict[str, dict[str, str]] = field(default_factory=dict)


# Longer than a report takes from the charger to the integration's counter (tens
# of milliseconds), well under the 2 s between two reports, so that most readings
# find nothing in flight.
IN_FLIGHT_S = 0.5
# How often a reading is taken again because a report was in flight.
READ_ATTEMPTS = 4


class Observer:
    """Looks at a running soak instance from outside."""

    def __init__(
        self,
        api: HomeAssistantApi,
        socket: HassSocket,
        chargers: dict[str, ControlledCharger],
        entry_ids: dict[str, str],
        database: Path,
    ) -> None:
        self._api = api
        self._socket = socket
        self._chargers = chargers
        self._entry_ids = entry_ids
        self._database = database
        self.generation = 0
        self.entity_ids: dict[str, dict[str, str]] = {}  # serial -> key -> entity id

    async def find_entities(self) -> None:
        """The compared entities' ids, by their unique ids ``<SN>_<key>``."""
        entries = await self._socket.result({"type": "config/entity_registry/list"})
        by_unique_id = {
            entry["unique_id"]: entry["entity_id"]
            for entry in entries
            if entry["platform"] == "novabot"
        }
        self.entity_ids = {
            serial: {key: by_unique_id[f"{serial}_{key}"] for key in KEYS}
            for serial in self._chargers
        }

    def mowers(self) -> dict[str, str]:
        """Each charger's lawn mower entity id."""
        return {serial: ids["mower"] for serial, ids in self.entity_ids.items()}

    # --- fresh values ---------------------------------------------------------

    async def live_states(self) -> dict[str, dict[str, str]]:
        """What Home Assistant shows now: serial -> key -> state."""
        states = await self._socket.result({"type": "get_states"})
        by_id = {state["entity_id"]: state["state"] for state in states}
        return {
            serial: {key: by_id.get(entity_id, "") for key, entity_id in ids.items()}
            for serial, ids in self.entity_ids.items()
        }

    def _matches(
        self, serial: str, shown: dict[str, str], since: float
    ) -> dict[str, str] | None:
        """``None`` when ``shown`` is what a recent report implies, else the differences."""
        recent = self._chargers[serial].recent_reports(since)
        if not recent:
            return {"reports": "none sent since the fault ended"}
        mismatches = [differences(shown, report.fields) for report in recent]
        return None if any(not m for m in mismatches) else mismatches[0]

    async def until_fresh(
        self, serials: Iterable[str], since: float, timeout: float
    ) -> Freshness:
        """Until Home Assistant shows each charger's fresh values (bounded)."""
        return await self._until(
            self.live_states,
            serials,
            since,
            timeout,
            # Home Assistant still starting, or the connection dropped.
            unreadable=(ApiError, aiohttp.ClientError, OSError, TimeoutError),
            source="api",
            pause=POLL,
        )

    async def _until(
        self,
        read: Callable[[], Awaitable[dict[str, dict[str, str]]]],
        serials: Iterable[str],
        since: float,
        timeout: float,
        *,
        unreadable: tuple[type[Exception], ...],
        source: str,
        pause: float,
    ) -> Freshness:
        """Until what ``read`` returns matches a recent report for each charger."""
        deadline = time.monotonic() + timeout
        mismatch: dict[str, dict[str, str]] = {}
        while time.monotonic() < deadline:
            try:
                states = await read()
            except unreadable as err:
                mismatch = {source: {"error": repr(err)}}
            else:
                mismatch = {
                    serial: found
                    for serial in serials
                    if (found := self._matches(serial, states[serial], since))
                }
                if not mismatch:
                    return Freshness(time.monotonic())
            await asyncio.sleep(pause)
        return Freshness(None, mismatch)

    # --- the recorder ---------------------------------------------------------

    def _recorded(self) -> dict[str, dict[str, str]]:
        """The latest recorded state of every compared entity (blocking)."""
        uri = f"file:{self._database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as connection:
            recorded: dict[str, dict[str, str]] = {}
            for serial, ids in self.entity_ids.items():
                recorded[serial] = {}
                for key, entity_id in ids.items():
                    row = connection.execute(LATEST_STATE, (entity_id,)).fetchone()
                    recorded[serial][key] = row[0] if row else ""
        return recorded

    async def until_recorded(
        self, serials: Iterable[str], since: float, timeout: float
    ) -> Freshness:
        """Until the recorder's latest rows are what a recent report implies."""
        return await self._until(
            lambda: asyncio.to_thread(self._recorded),
            serials,
            since,
            timeout,
            unreadable=(sqlite3.Error,),
            source="database",
            pause=POLL * 2,
        )

    # --- the integration's counters, memory, tasks and timers ----------------

    async def sample(self) -> Sample:
        """``reports_accepted`` of every charger, from its entry's diagnostics."""
        before = time.monotonic()
        accepted: dict[str, int] = {}
        read: dict[str, tuple[float, float]] = {}
        for serial, entry_id in self._entry_ids.items():
            for _ in range(READ_ATTEMPTS):
                asked = time.monotonic()
                diagnostics = await self._diagnostics(entry_id)
                accepted[serial] = int(diagnostics["reports_accepted"])
                read[serial] = (asked, time.monotonic())
                # The report list arrives through a pipe: let it catch up first.
                await asyncio.sleep(0.1)
                if not self._chargers[serial].sent_between(
                    asked - IN_FLIGHT_S, read[serial][1]
                ):
                    break
                await asyncio.sleep(IN_FLIGHT_S)
        return Sample((before + time.monotonic()) / 2, self.generation, accepted, read)

    async def _diagnostics(self, entry_id: str) -> dict[str, Any]:
        api = self._api
        async with api.session.get(
            f"{api.url}/api/diagnostics/config_entry/{entry_id}",
            headers={"Authorization": f"Bearer {api.token}"},
        ) as response:
            response.raise_for_status()
            data: dict[str, Any] = (await response.json())["data"]
            return data

    async def census(self) -> dict[str, Any]:
        """The integration's (and its gateway's amqtt) tasks and timers, now."""
        result: dict[str, Any] = await self._socket.result(
            {"type": "soak_probe/census"}
        )
        return result


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(slots=True)
class LogSummary:
    """Lines at WARNING and above: the integration's, and others' errors."""

    error_lines: int = 0
    warning_lines: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    other_error_lines: int = 0
    other_errors: Counter[str] = field(default_factory=Counter)
    # What amqtt, run by the integration's gateway, logs at WARNING and above.
    gateway_broker_lines: int = 0
    gateway_broker: Counter[str] = field(default_factory=Counter)


def summarise_logs(paths: Iterable[Path]) -> LogSummary:
    """Count the lines of Home Assistant's logs (oldest first) by level and logger."""
    summary = LogSummary()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if not (match := LOG_LINE.match(line)):
                continue  # a traceback's continuation, or not a log line
            level, logger = match["level"], match["logger"]
            text = f"[{logger}] {match['message']}"
            ours = _within(logger, INTEGRATION_LOGGER)
            if level in ("WARNING", "ERROR", "CRITICAL") and _within(
                logger, GATEWAY_BROKER_LOGGER
            ):
                summary.gateway_broker_lines += 1
                # One line per packet id: the same warning, counted once.
                summary.gateway_broker[re.sub(r"\d+", "N", text)] += 1
            if level in ("ERROR", "CRITICAL"):
                if ours:
                    summary.error_lines += 1
                    summary.errors[text] += 1
                else:
                    summary.other_error_lines += 1
                    summary.other_errors[text] += 1
            elif level == "WARNING" and ours:
                summary.warning_lines += 1
                summary.warnings[text] += 1
    return summary


def _within(logger: str, parent: str) -> bool:
    return logger == parent or logger.startswith(f"{parent}.")
