"""The charger's ``up_status_info`` report, decoded into an immutable value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import InvalidMessageError
from .mower import WorkStatus, work_status

STATUS_KEY = "up_status_info"
UINT32_MAX = 2**32 - 1
MISSES_BEFORE_STALE = 2  # mower_error counts the heartbeats the mower missed
# Byte 1 of mower_status, the mower's recharge status: on its charger, or
# driving back to it.
RECHARGE_ON_CHARGER = 9
RECHARGE_HEADING_HOME = frozenset({1, 2, 50, 53, 191, 192, 193})

_REQUIRED_FIELDS = ("charger_status",)
_MOWER_FIELDS = (
    "mower_status",
    "mower_info",
    "mower_x",
    "mower_y",
    "mower_z",
    "mower_info1",
    "mower_error",
)
# Fields some firmware adds, with their valid range.
KNOWN_EXTRAS: dict[str, tuple[int, int]] = {"battery_capacity": (0, 100)}


@dataclass(frozen=True, slots=True)
class ChargerStatus:
    """One status report. Mower fields are ``None`` when the charger omits them.

    ``charger_status`` is a bitfield: bit 0 GPS fix, bit 8 RTK quality, bits
    24..31 satellites in use (bits 1..7 are a LoRa flag, not a signal). The
    ``mower_*`` fields are the mower's LoRa status frame, relayed as it came.
    """

    charger_status: int
    mower_status: int | None = None
    mower_info: int | None = None
    mower_x: int | None = None
    mower_y: int | None = None
    mower_z: int | None = None
    mower_info1: int | None = None
    mower_error: int | None = None
    battery_capacity: int | None = None

    @property
    def gps_fix(self) -> bool:
        """Bit 0: the GNSS receiver has a valid fix."""
        return bool(self.charger_status & 0x1)

    @property
    def rtk_fix(self) -> bool:
        """Bit 8: RTK quality is good."""
        return bool(self.charger_status & 0x100)

    @property
    def gps_satellites(self) -> int:
        """Bits 24..31: satellites in use."""
        return (self.charger_status >> 24) & 0xFF

    @property
    def lora_heartbeat_misses(self) -> int | None:
        """Consecutive LoRa heartbeats the mower missed (the ``mower_error`` field)."""
        return self.mower_error

    @property
    def mower_connected(self) -> bool | None:
        """The mower answers the charger's heartbeats."""
        return None if self.mower_error is None else self.mower_error == 0

    @property
    def mower_answering(self) -> bool:
        """Whether the mower fields are fresh.

        The charger never clears the mower's frame: from two missed heartbeats
        on, the fields keep their last values and are stale.
        """
        return self.mower_error is None or self.mower_error < MISSES_BEFORE_STALE

    @property
    def mower_heard(self) -> bool:
        """The charger relays a mower: one answers, and has sent its frame."""
        return (
            self.mower_error is not None
            and self.mower_answering
            and bool(self.mower_status or self.mower_info)
        )

    @property
    def mower_work_status(self) -> int | None:
        """Byte 2 of ``mower_status``: the mower's work status code."""
        return None if self.mower_status is None else (self.mower_status >> 16) & 0xFF

    @property
    def work_status_label(self) -> WorkStatus | None:
        """What the work status code means, when it has a settled meaning."""
        code = self.mower_work_status
        return None if code is None else work_status(code)

    @property
    def mower_recharge_status(self) -> int | None:
        """Byte 1 of ``mower_status``: where the mower is with its charging."""
        return None if self.mower_status is None else (self.mower_status >> 8) & 0xFF

    @property
    def mower_on_charger(self) -> bool | None:
        """The mower stands on its charger (recharge status 9)."""
        code = self.mower_recharge_status
        return None if code is None else code == RECHARGE_ON_CHARGER

    @property
    def mower_heading_home(self) -> bool | None:
        """The mower drives back to its charger, whatever its work status says."""
        code = self.mower_recharge_status
        return None if code is None else code in RECHARGE_HEADING_HOME

    @property
    def mower_battery(self) -> int | None:
        """Byte 1 of ``mower_info``: the mower's battery in %, probably (0..100)."""
        if self.mower_info is None:
            return None
        percent = (self.mower_info >> 8) & 0xFF
        return percent if percent <= 100 else None

    def changed_fields(self, previous: ChargerStatus) -> frozenset[str]:
        """What differs from ``previous``.

        The names of the report fields whose value changed, and
        ``mower_answering`` when the mower started or stopped answering.
        """
        changed = {
            name for name in _FIELDS if getattr(self, name) != getattr(previous, name)
        }
        if self.mower_answering != previous.mower_answering:
            changed.add(MOWER_ANSWERING)
        return frozenset(changed)


MOWER_ANSWERING = "mower_answering"
_FIELDS = tuple(field.name for field in fields(ChargerStatus))
REPORT_FIELDS = frozenset({*_FIELDS, MOWER_ANSWERING})


def _unsigned(body: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    # bool is a subclass of int, but true/false is not a reading.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessageError(f"{key} is not an integer")
    if not low <= value <= high:
        raise InvalidMessageError(f"{key} is out of range")
    return value


def status_body(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Find the report in either shape, or ``None`` if this is not a report."""
    if STATUS_KEY in document:
        body = document[STATUS_KEY]
    elif document.get("type") == STATUS_KEY:
        body = document.get("message")
    else:
        return None
    if not isinstance(body, Mapping):
        raise InvalidMessageError("report is not an object")
    return body


def parse_status(document: Mapping[str, Any]) -> ChargerStatus:
    """Decode a report, ``{"up_status_info": {...}}`` or ``{"type": ..., "message": {...}}``.

    Raises InvalidMessageError with a reason for anything that is not a valid report.
    """
    body = status_body(document)
    if body is None:
        raise InvalidMessageError("not an up_status_info report")
    for key in _REQUIRED_FIELDS:
        if body.get(key) is None:  # absent or null
            raise InvalidMessageError(f"{key} is missing")
    charger_status = _unsigned(body, "charger_status", 0, UINT32_MAX)
    assert charger_status is not None  # required above
    values = {key: _unsigned(body, key, 0, UINT32_MAX) for key in _MOWER_FIELDS}
    extras = {
        key: _unsigned(body, key, low, high)
        for key, (low, high) in KNOWN_EXTRAS.items()
    }
    return ChargerStatus(charger_status=charger_status, **values, **extras)
