"""The soak's figures: a table for people, targets, and one JSON line for machines.

How the accepted share is computed: for each charger, the run is cut at the
integration's counter readings taken just before each fault that concerns
the charger and just after that fault's recovery was observed (a *fault
window*: from the fault's beginning until fresh values showed again). Between
two windows, the reports the charger sent are compared with the growth of the
integration's ``reports_accepted`` over the same readings. A reading taken
while one of the charger's reports may still be on its way (sent less than
``IN_FLIGHT_S`` before the reading began, or while it was read) cannot tell on
which side that report lands, so the stretch is cut only at readings with
nothing in flight: the stretch shrinks to its first and last such reading.
Home Assistant's restart is a window for every charger, so a comparison never
spans two ``hass`` processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
import json
from typing import TYPE_CHECKING, Any

from .faults import HA_RESTART
from .measure import IN_FLIGHT_S

if TYPE_CHECKING:
    from .chargers import ControlledCharger
    from .commands import CommandTally
    from .faults import FaultRecord
    from .measure import LogSummary, Sample

# The targets of a run.
MAX_RECOVERY_S = 30.0
MAX_RECOVERY_AFTER_RESTART_S = 60.0
MIN_ACCEPTED_SHARE = 0.99
MAX_RSS_GROWTH_MB = 10.0


@dataclass(slots=True)
class Results:
    """Everything measured in one run."""

    seed: int
    minutes: float
    directory: str
    chargers: dict[str, ControlledCharger]
    samples: list[Sample]  # the counter readings, in time order
    faults: list[FaultRecord]
    tally: CommandTally
    logs: LogSummary
    rss_mb: dict[str, float]  # start, before_restart, after_restart, end
    census_start: dict[str, Any]
    census_end: dict[str, Any]
    final_recorder_ok: bool
    final_mismatch: dict[str, Any] = field(default_factory=dict)

    # --- reports ---------------------------------------------------------------

    def outside_faults(self, serial: str) -> tuple[int, int]:
        """Reports sent, and accepted, outside the charger's fault windows."""
        intervals = self._outside_intervals(serial)
        return sum(i[2] for i in intervals), sum(i[3] for i in intervals)

    def shortfalls(self, serial: str) -> list[str]:
        """The intervals outside faults where fewer reports were accepted than sent."""
        first = self.samples[0].t if self.samples else 0.0
        return [
            f"{serial}: {start - first:.1f} s to {end - first:.1f} s into the run, "
            f"{sent} sent, {accepted} accepted"
            for start, end, sent, accepted in self._outside_intervals(serial)
            if accepted < sent
        ]

    def _outside_intervals(self, serial: str) -> list[tuple[float, float, int, int]]:
        """Between clean readings outside the charger's fault windows: sent, accepted."""
        intervals = []
        for stretch in self._stretches(serial):
            clean = [
                sample for sample in stretch if self._nothing_in_flight(serial, sample)
            ]
            for start, end in pairwise(clean):
                sent = self.chargers[serial].sent_between(
                    start.read[serial][1], end.read[serial][1]
                )
                accepted = end.accepted[serial] - start.accepted[serial]
                intervals.append((start.t, end.t, sent, accepted))
        return intervals

    def _stretches(self, serial: str) -> list[list[Sample]]:
        """Runs of consecutive readings with no fault window of the charger between."""
        windows = {
            (fault.before.t, fault.after.t)
            for fault in self.faults
            if serial in fault.affected and fault.before and fault.after
        }
        stretches: list[list[Sample]] = []
        current: list[Sample] = []
        for start, end in pairwise(self.samples):
            inside = any(
                start.t >= window[0] and end.t <= window[1] for window in windows
            )
            if inside or start.generation != end.generation:
                if current:
                    stretches.append(current)
                current = []
                continue
            if not current:
                current = [start]
            current.append(end)
        if current:
            stretches.append(current)
        return stretches

    def _nothing_in_flight(self, serial: str, sample: Sample) -> bool:
        """Whether every report sent before the reading had surely landed by then."""
        asked, answered = sample.read[serial]
        return not self.chargers[serial].sent_between(asked - IN_FLIGHT_S, answered)

    def accepted_total(self, serial: str) -> int:
        """The integration's count over every ``hass`` process of the run."""
        last: dict[int, int] = {}
        for sample in self.samples:
            last[sample.generation] = sample.accepted[serial]
        return sum(last.values())

    # --- the figures ---------------------------------------------------------------

    def rss_growth_mb(self) -> float:
        """Growth within each ``hass`` process, added up (a restart starts afresh)."""
        rss = self.rss_mb
        if "before_restart" in rss and "after_restart" in rss:
            return (rss["before_restart"] - rss["start"]) + (
                rss["end"] - rss["after_restart"]
            )
        return rss["end"] - rss["start"]

    def recoveries(self, *, restart: bool) -> list[float | None]:
        """Recovery times of the faults (Home Assistant's restart, or the others)."""
        return [
            fault.recovery_s
            for fault in self.faults
            if (fault.plan.kind == HA_RESTART) is restart
        ]

    def as_json(self) -> dict[str, Any]:
        """The final line's object."""
        serials = sorted(self.chargers)
        outside = {serial: self.outside_faults(serial) for serial in serials}
        others = self.recoveries(restart=False)
        restart = self.recoveries(restart=True)
        tally = self.tally
        figures: dict[str, Any] = {
            "seed": self.seed,
            "minutes": self.minutes,
            "chargers": {
                serial: {
                    "firmware": charger.spec.firmware,
                    "login": charger.spec.login,
                }
                for serial, charger in self.chargers.items()
            },
            "reports_sent": {s: len(self.chargers[s].reports) for s in serials},
            "reports_accepted": {s: self.accepted_total(s) for s in serials},
            "reports_outside_faults": {
                serial: {
                    "sent": sent,
                    "accepted": accepted,
                    "share": round(accepted / sent, 4) if sent else None,
                }
                for serial, (sent, accepted) in outside.items()
            },
            "recorder_up_to_date": self.final_recorder_ok
            and all(fault.recorder_ok for fault in self.faults),
            "commands_sent": tally.sent,
            "commands_acknowledged": tally.acknowledged,
            "commands_failed_with_message": tally.failed_with_message,
            "commands_failed_without_message": tally.failed_without_message,
            "commands_lost": tally.lost,
            "commands_acknowledged_not_delivered": tally.acknowledged_not_delivered,
            "command_failures": dict(tally.messages.most_common()),
            "faults": len(self.faults),
            "max_recovery_s": _worst(others),
            "max_recovery_after_restart_s": _worst(restart),
            "error_lines": self.logs.error_lines,
            "warning_lines": self.logs.warning_lines,
            "warnings": dict(self.logs.warnings.most_common()),
            "errors": dict(self.logs.errors.most_common()),
            "other_error_lines": self.logs.other_error_lines,
            "gateway_broker_log_lines": self.logs.gateway_broker_lines,
            "gateway_broker_log": dict(self.logs.gateway_broker.most_common()),
            "rss_start_mb": round(self.rss_mb["start"], 1),
            "rss_end_mb": round(self.rss_mb["end"], 1),
            "rss_growth_mb": round(self.rss_growth_mb(), 1),
            "tasks_start": self.census_start["tasks"],
            "tasks_end": self.census_end["tasks"],
            "timers_start": self.census_start["timers"],
            "timers_end": self.census_end["timers"],
        }
        missed = self.missed(figures)
        return figures | {"targets_met": not missed, "missed": missed}

    def missed(self, figures: dict[str, Any]) -> list[str]:
        """The targets this run did not reach, each in words."""
        missed = []
        if figures["commands_lost"]:
            missed.append(f"commands_lost {figures['commands_lost']} > 0")
        if figures["error_lines"]:
            missed.append(f"error_lines {figures['error_lines']} > 0")
        if None in self.recoveries(restart=False) or (
            (figures["max_recovery_s"] or 0) > MAX_RECOVERY_S
        ):
            missed.append(
                f"max_recovery_s {figures['max_recovery_s']} > {MAX_RECOVERY_S:g}"
            )
        if None in self.recoveries(restart=True) or (
            (figures["max_recovery_after_restart_s"] or 0)
            > MAX_RECOVERY_AFTER_RESTART_S
        ):
            missed.append(
                f"recovery after the restart {figures['max_recovery_after_restart_s']}"
                f" > {MAX_RECOVERY_AFTER_RESTART_S:g}"
            )
        for serial, share in figures["reports_outside_faults"].items():
            if share["share"] is None or share["share"] < MIN_ACCEPTED_SHARE:
                missed.append(
                    f"{serial} accepted {share['share']} < {MIN_ACCEPTED_SHARE}"
                )
        if not figures["recorder_up_to_date"]:
            missed.append("the recorder lagged behind the reports")
        if figures["rss_growth_mb"] > MAX_RSS_GROWTH_MB:
            missed.append(
                f"RSS grew {figures['rss_growth_mb']} MB > {MAX_RSS_GROWTH_MB:g}"
            )
        missed += [
            f"{what} {figures[f'{what}_start']} -> {figures[f'{what}_end']}"
            for what in ("tasks", "timers")
            if figures[f"{what}_end"] != figures[f"{what}_start"]
        ]
        if not self.faults:
            missed.append("no fault was injected")
        return missed

    def table(self, figures: dict[str, Any]) -> str:
        """The figures for people: faults, then the totals."""
        lines = [
            "",
            f"{'fault':<44} {'recovery':>9} {'recorder':>9}",
        ]
        for fault in self.faults:
            recovery = (
                "never" if fault.recovery_s is None else f"{fault.recovery_s:.1f} s"
            )
            lines.append(
                f"{fault.plan.describe():<44} {recovery:>9} "
                f"{'ok' if fault.recorder_ok else 'LAGGING':>9}"
            )
        lines += [
            "",
            f"{'charger':<16} {'firmware':<8} {'sent':>6} {'accepted':>9} "
            f"{'outside faults':>15} {'share':>7}",
        ]
        for serial in sorted(self.chargers):
            outside = figures["reports_outside_faults"][serial]
            lines.append(
                f"{serial:<16} {self.chargers[serial].spec.firmware:<8} "
                f"{figures['reports_sent'][serial]:>6} "
                f"{figures['reports_accepted'][serial]:>9} "
                f"{outside['accepted']:>7}/{outside['sent']:<7} "
                f"{_percent(outside['share']):>7}"
            )
        lines += [
            f"  short: {shortfall}"
            for serial in sorted(self.chargers)
            for shortfall in self.shortfalls(serial)
        ]
        lines += [
            "",
            f"commands: {figures['commands_sent']} sent, "
            f"{figures['commands_acknowledged']} acknowledged, "
            f"{figures['commands_failed_with_message']} failed with a message, "
            f"{figures['commands_failed_without_message']} without, "
            f"{figures['commands_lost']} lost; "
            f"{figures['commands_acknowledged_not_delivered']} acknowledged although "
            "no mower command reached the charger",
            *(
                f"  {count:>4} x {message}"
                for message, count in figures["command_failures"].items()
            ),
            f"recovery: at most {figures['max_recovery_s']} s "
            f"({figures['max_recovery_after_restart_s']} s after Home Assistant's restart)",
            f"recorder up to date after every fault: {figures['recorder_up_to_date']}",
            f"log (custom_components.novabot): {figures['error_lines']} errors, "
            f"{figures['warning_lines']} warnings; {figures['other_error_lines']} "
            "errors from others",
            *(f"  {count:>4} x {text}" for text, count in figures["warnings"].items()),
            *(f"  {count:>4} x {text}" for text, count in figures["errors"].items()),
            f"log (amqtt, the gateway's broker): "
            f"{figures['gateway_broker_log_lines']} warnings or errors",
            *(
                f"  {count:>4} x {text}"
                for text, count in figures["gateway_broker_log"].items()
            ),
            f"hass RSS: {figures['rss_start_mb']} -> {figures['rss_end_mb']} MB "
            f"(growth within processes: {figures['rss_growth_mb']} MB; {self.rss_mb})",
            f"tasks {figures['tasks_start']} -> {figures['tasks_end']}, "
            f"timers {figures['timers_start']} -> {figures['timers_end']}",
            *self._census_changes(),
            f"seed {self.seed}, {self.minutes:g} minutes; files in {self.directory}",
            "targets met"
            if figures["targets_met"]
            else "TARGETS MISSED: " + "; ".join(figures["missed"]),
        ]
        return "\n".join(lines)

    def _census_changes(self) -> list[str]:
        """What runs or waits more (or less) at the end than at the start."""
        start, end = self.census_start["detail"], self.census_end["detail"]
        return [
            f"  {what}: {start.get(what, 0)} -> {end.get(what, 0)}"
            for what in sorted(start.keys() | end.keys())
            if start.get(what, 0) != end.get(what, 0)
        ]

    def final_line(self, figures: dict[str, Any]) -> str:
        """The last line: one JSON object."""
        return json.dumps(figures, separators=(",", ":"))


def _worst(times: list[float | None]) -> float | None:
    known = [t for t in times if t is not None]
    return round(max(known), 1) if known else None


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.2%}"
