"""The mower, as the charger relays it: work status codes and mower commands.

The charger copies the mower's LoRa status frame into every report and relays
six commands to it; it answers each with whether the mower acknowledged.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Collection

MIN_CUTTING_HEIGHT_CM = 2
MAX_CUTTING_HEIGHT_CM = 9


class WorkStatus(StrEnum):
    """What the mower is doing, for the work status codes that have a meaning."""

    IDLE = "idle"
    FINISHED = "finished"
    STOPPED_BY_USER = "stopped_by_user"
    RETURNING_BY_USER = "returning_by_user"
    RETURNING_LOW_BATTERY = "returning_low_battery"
    STOPPED_BY_ERROR = "stopped_by_error"
    LEAVING_DOCK = "leaving_dock"
    MOWING = "mowing"
    AVOIDING_OBSTACLE = "avoiding_obstacle"
    CUTTING_EDGE = "cutting_edge"
    MAPPING = "mapping"
    RETURNING = "returning"
    DOCKING = "docking"


# Codes 50..53 are labelled inconsistently by the sources: they stay numbers.
_WORK_STATUS: dict[int, WorkStatus] = {
    0: WorkStatus.IDLE,
    9: WorkStatus.FINISHED,
    10: WorkStatus.STOPPED_BY_USER,
    11: WorkStatus.RETURNING_BY_USER,
    12: WorkStatus.RETURNING_LOW_BATTERY,
    13: WorkStatus.STOPPED_BY_ERROR,
    56: WorkStatus.LEAVING_DOCK,
    90: WorkStatus.MOWING,
    91: WorkStatus.AVOIDING_OBSTACLE,
    93: WorkStatus.CUTTING_EDGE,
    **dict.fromkeys(range(130, 144), WorkStatus.MAPPING),
    191: WorkStatus.RETURNING,
    192: WorkStatus.DOCKING,
    193: WorkStatus.DOCKING,
}


def work_status(code: int) -> WorkStatus | None:
    """The meaning of a work status code, or ``None`` for a code without one."""
    return _WORK_STATUS.get(code)


class MowerCommand(StrEnum):
    """The commands the charger relays to its mower over LoRa."""

    START = "start_run"
    PAUSE = "pause_run"
    RESUME = "resume_run"
    STOP = "stop_run"
    CANCEL_SCHEDULE = "stop_time_run"
    DOCK = "go_pile"


class MowingArea(IntEnum):
    """The maps ``start_run`` mows: a decimal-digit mask, one digit per map."""

    MAP_1 = 1
    MAP_2 = 10
    MAP_3 = 100
    ALL_MAPS = 111

    @property
    def key(self) -> str:
        """The area's name as settings and actions spell it (``map_1``...)."""
        return self.name.lower()

    @classmethod
    def from_key(cls, key: str) -> MowingArea:
        """The area a key names; ValueError for any other."""
        try:
            return cls[key.upper()]
        except KeyError:
            raise ValueError(key) from None


def area_mask(areas: Collection[MowingArea]) -> int:
    """The mask of several areas together: maps 1 and 3 are 101."""
    if not areas:
        raise InvalidInputError("area", "area_empty")
    if MowingArea.ALL_MAPS in areas:
        return MowingArea.ALL_MAPS
    return sum(set(areas))  # one decimal digit per map


def start_run(areas: Collection[MowingArea], cutting_height_cm: int) -> dict[str, Any]:
    """Start mowing ``areas`` at ``cutting_height_cm`` (2..9 cm).

    The firmware wants all three values as JSON numbers; the cutting height
    travels as centimetres above 2.
    """
    if isinstance(cutting_height_cm, bool) or not (
        MIN_CUTTING_HEIGHT_CM <= cutting_height_cm <= MAX_CUTTING_HEIGHT_CM
    ):
        raise InvalidInputError("cutting_height", "cutting_height_range")
    return {
        MowerCommand.START: {
            "mapName": 0,
            "area": area_mask(areas),
            "cutterhigh": cutting_height_cm - MIN_CUTTING_HEIGHT_CM,
        }
    }


def mower_command(command: MowerCommand) -> dict[str, Any]:
    """One of the commands without settings: the value must be an empty object."""
    if command is MowerCommand.START:
        raise ValueError(
            "start_run needs an area and a cutting height: use start_run()"
        )
    return {command: {}}
