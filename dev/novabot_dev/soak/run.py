"""A soak run: the instance up, commands and faults for the given minutes, figures.

The seed decides everything drawn at random: the order of the faults, the
charger each hits, how long each lasts, the calm before each, the moment of
Home Assistant's restart, the commands and their moments, the bad payloads'
bytes and the chargers' satellite drift. A run prints its seed first, so
``scripts/soak --seed N`` plays the same schedule again; only where things
land in time varies with the machine.

The run's time is counted from the moment the instance is ready: first a
warm-up (reports only), then faults one after the other with commands all
along, then a quiet tail without either, after which the end is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
import random
import time
from typing import TYPE_CHECKING, Any

from ..mosquitto import free_port
from ..processes import say
from .commands import SERVICES, CommandSender
from .faults import (
    DURATIONS,
    HA_RESTART,
    RANDOM_FAULTS,
    FaultPlayer,
    FaultRecord,
    PlannedFault,
)
from .hass_socket import HassSocket
from .instance import SoakInstance, soak_layout, write_config
from .measure import Observer, Sample, rss_mb, summarise_logs
from .report import Results

if TYPE_CHECKING:
    from pathlib import Path


GAP = (3.0, 12.0)  # seconds of calm before a fault
FRESH_TIMEOUT = 120.0  # how long recovery is waited for, at most
FRESH_AFTER_RESTART_TIMEOUT = 180.0
RECORDER_TIMEOUT = 20.0  # the recorder commits every second
# Time a fault needs beyond its own length: recovery, the recorder, readings.
FAULT_ALLOWANCE = 30.0
RESTART_ALLOWANCE = 60.0
# What a fault usually takes beyond its own length (recovery, the recorder,
# readings), a restart (True) or another: where the plan puts the restart.
ESTIMATED_OVERHEAD = {False: 5.0, True: 30.0}
PLANNED_RUNS = 3  # the schedule is drawn for three times the run's length
START_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Timing:
    """How a run of ``minutes`` is divided."""

    minutes: float

    @property
    def seconds(self) -> float:
        """The run's length."""
        return self.minutes * 60

    @property
    def warm_up(self) -> float:
        """Reports only, before the first readings: Home Assistant settles."""
        return 20 + 0.02 * self.seconds

    @property
    def quiet_tail(self) -> float:
        """No faults or commands: what is left at the end is what stays."""
        return min(60.0, max(20.0, 0.15 * self.seconds))


def plan_faults(
    rng: random.Random, serials: list[str], timing: Timing
) -> list[PlannedFault]:
    """The schedule: every kind in turn (shuffled), Home Assistant's restart once.

    Drawn before the run, so it does not depend on how fast the machine is:
    more than a quick machine can play, the run takes them in order while they
    fit. The restart goes where the estimated time passes a point drawn
    between 30 % and 60 % of the run.
    """
    restart_at = rng.uniform(0.3, 0.6) * timing.seconds
    planned: list[PlannedFault] = []
    elapsed, bag = timing.warm_up, list[str]()
    while elapsed < PLANNED_RUNS * timing.seconds:
        if not bag:
            bag = list(RANDOM_FAULTS)
            rng.shuffle(bag)
        kind = (
            HA_RESTART
            if restart_at <= elapsed and not _has_restart(planned)
            else bag.pop()
        )
        fault = PlannedFault(
            kind=kind,
            serial_number=rng.choice(serials),
            seconds=round(rng.uniform(*DURATIONS[kind]), 1),
            gap=round(rng.uniform(*GAP), 1),
            service=rng.choice(SERVICES),
        )
        planned.append(fault)
        elapsed += fault.gap + fault.seconds + ESTIMATED_OVERHEAD[kind == HA_RESTART]
    return planned


def _has_restart(planned: list[PlannedFault]) -> bool:
    return any(fault.kind == HA_RESTART for fault in planned)


class SoakRun:
    """One run, from an empty directory to its figures."""

    def __init__(self, directory: Path, minutes: float, seed: int) -> None:
        self.directory = directory
        self.timing = Timing(minutes)
        self.seed = seed
        self.samples: list[Sample] = []
        self.faults: list[FaultRecord] = []
        self.rss: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()

    async def run(self) -> Results:
        """Start everything, soak, measure, stop everything (also on errors)."""
        layout = soak_layout(self.directory)
        gateway_port = free_port()
        entry_ids = write_config(layout, gateway_port)
        started = time.monotonic()
        async with SoakInstance(layout, self.seed) as instance:
            try:
                await asyncio.wait_for(instance.until_ready(started), START_TIMEOUT)
                socket = HassSocket(instance.api)
                try:
                    return await self._soak(instance, socket, entry_ids, gateway_port)
                finally:
                    await socket.close()
            finally:
                for task in self._background:
                    task.cancel()
                await instance.controlled.close()

    async def _soak(
        self,
        instance: SoakInstance,
        socket: HassSocket,
        entry_ids: dict[str, str],
        gateway_port: int,
    ) -> Results:
        chargers = instance.controlled.running
        serials = sorted(chargers)
        observer = Observer(
            instance.api,
            socket,
            chargers,
            entry_ids,
            instance.layout.config / "home-assistant_v2.db",
        )
        await observer.find_entities()
        timing = self.timing
        say(f"ready; warming up for {timing.warm_up:.0f} s")
        fresh = await observer.until_fresh(serials, time.monotonic(), FRESH_TIMEOUT)
        if fresh.at is None:
            raise RuntimeError(f"no fresh values after the start: {fresh.mismatch}")
        await asyncio.sleep(timing.warm_up)

        began = time.monotonic()
        deadline = began + timing.seconds
        quiet_from = deadline - timing.quiet_tail
        self.rss["start"] = rss_mb(instance.hass_pid)
        census_start = await observer.census()
        self.samples.append(await observer.sample())
        commands = CommandSender(
            socket, observer.mowers(), seeded(self.seed, "commands")
        )
        sending = asyncio.create_task(commands.run(quiet_from))
        player = FaultPlayer(
            instance, chargers, commands, gateway_port, seeded(self.seed, "bytes")
        )
        schedule = plan_faults(seeded(self.seed, "faults"), serials, timing)
        try:
            await self._faults(schedule, player, observer, commands, quiet_from)
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
        await commands.drain()
        commands.check_deliveries(
            {
                serial: charger.acknowledged_replies()
                for serial, charger in chargers.items()
            }
        )
        say(f"quiet until the end ({max(0, deadline - time.monotonic()):.0f} s)")
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))

        final = await observer.until_recorded(
            serials, time.monotonic() - 5, RECORDER_TIMEOUT
        )
        self.samples.append(await observer.sample())
        census_end = await observer.census()
        self.rss["end"] = rss_mb(instance.hass_pid)
        logs = [instance.log_path.with_suffix(".log.1"), instance.log_path]
        return Results(
            seed=self.seed,
            minutes=timing.minutes,
            directory=str(self.directory),
            chargers=dict(chargers),
            samples=self.samples,
            faults=self.faults,
            tally=commands.tally,
            logs=summarise_logs(logs if self.restarted else logs[1:]),
            rss_mb=self.rss,
            census_start=census_start,
            census_end=census_end,
            final_recorder_ok=final.at is not None,
            final_mismatch=final.mismatch,
        )

    @property
    def restarted(self) -> bool:
        """Whether Home Assistant's restart was played."""
        return any(fault.plan.kind == HA_RESTART for fault in self.faults)

    async def _faults(
        self,
        schedule: list[PlannedFault],
        player: FaultPlayer,
        observer: Observer,
        commands: CommandSender,
        quiet_from: float,
    ) -> None:
        """Play the schedule, one fault after the other, until the quiet tail."""
        restart = next(plan for plan in schedule if plan.kind == HA_RESTART)
        for planned in schedule:
            left = quiet_from - time.monotonic() - planned.gap
            # The restart comes in every run: earlier than planned if the
            # machine is slower than the plan, or the run short.
            plan = planned
            if not self.restarted and left < RESTART_ALLOWANCE + _needs(planned):
                plan = restart
            elif self.restarted and plan.kind == HA_RESTART:
                continue
            if _needs(plan) > left:
                continue  # a shorter one further on may still fit
            await asyncio.sleep(planned.gap)
            if plan.kind == HA_RESTART:
                commands.paused = True  # a restart is not the commands' test
                await commands.drain()
                self.rss["before_restart"] = rss_mb(player.instance.hass_pid)
            self.faults.append(await self._one_fault(plan, player, observer))
            if plan.kind == HA_RESTART:
                commands.paused = False
                self._later(self._rss_after_restart(player.instance))

    async def _one_fault(
        self, plan: PlannedFault, player: FaultPlayer, observer: Observer
    ) -> FaultRecord:
        serials = sorted(observer.entity_ids)
        before = await observer.sample()
        say(f"fault: {plan.describe()}")
        record = await player.play(plan)
        record.before = before
        restart = plan.kind == HA_RESTART
        if restart:
            observer.generation += 1
        fresh = await observer.until_fresh(
            serials,
            record.ended,
            FRESH_AFTER_RESTART_TIMEOUT if restart else FRESH_TIMEOUT,
        )
        if fresh.at is not None:
            record.recovery_s = round(max(0.0, fresh.at - record.ended), 2)
        else:
            record.mismatch["live"] = fresh.mismatch
        recorded = await observer.until_recorded(
            serials, record.ended, RECORDER_TIMEOUT
        )
        record.recorder_ok = recorded.at is not None
        if not record.recorder_ok:
            record.mismatch["recorder"] = recorded.mismatch
        record.after = await observer.sample()
        self.samples += [before, record.after]
        self.samples.sort(key=lambda sample: sample.t)
        say(
            f"  over after {record.ended - record.began:.1f} s; fresh values "
            f"{'never' if record.recovery_s is None else f'{record.recovery_s:.1f} s'} "
            f"later; recorder {'up to date' if record.recorder_ok else 'LAGGING'}"
            + (f"; {record.mismatch}" if record.mismatch else "")
        )
        return record

    async def _rss_after_restart(self, instance: SoakInstance) -> None:
        """The new process's memory, once it has warmed up as the first did."""
        await asyncio.sleep(self.timing.warm_up)
        self.rss["after_restart"] = rss_mb(instance.hass_pid)

    def _later(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _needs(plan: PlannedFault) -> float:
    """How long a fault and what follows it take, at most."""
    allowance = RESTART_ALLOWANCE if plan.kind == HA_RESTART else FAULT_ALLOWANCE
    return plan.seconds + allowance


def seeded(seed: int, purpose: str) -> random.Random:
    """A repeatable stream of draws for one purpose, from the run's seed."""
    return random.Random(f"{seed}/{purpose}")  # noqa: S311 - repeatable, not secret
