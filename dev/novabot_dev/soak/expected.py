"""What Home Assistant should show after a report, read off the report's fields.

From the protocol document and the contract in the architecture document,
independently of the integration's code: satellites are bits 24..31 of
``charger_status``, GPS fix bit 0, RTK bit 8; ``mower_error`` counts missed
heartbeats, and from 2 on the mower's values are stale, so unavailable (the
lawn mower stays, its activity unknown); the mower's battery is byte 1 of
``mower_info``, its work status byte 2 of ``mower_status``, its recharge status
byte 1 (9: on the charger; 1, 2, 50, 53, 191..193: driving back to it). The
work status labels are the protocol library's. Only entities enabled by
default are compared.
"""

from __future__ import annotations

from typing import Final

from custom_components.novabot.protocol import work_status

UNAVAILABLE: Final = "unavailable"
STALE_AFTER_MISSES: Final = 2

ERROR: Final = 13
ON_THE_CHARGER: Final = 9
DRIVING_BACK: Final = frozenset({1, 2, 50, 53, 191, 192, 193})
# The lawn mower's state for each work status, away from the charger and not
# driving back (the README); a code without a meaning shows no activity.
LAWN_MOWER_STATES: Final = {
    **dict.fromkeys((0, 9, 10), "paused"),
    **dict.fromkeys((11, 12, 191, 192, 193), "returning"),
    **dict.fromkeys((56, 90, 91, 93), "mowing"),
}

# The entities compared, by key of their unique id ``<SN>_<key>``.
KEYS: Final = (
    "gps_satellites",
    "gps_fix",
    "rtk_fix",
    "mower_connected",
    "mower_activity",
    "mower_battery",
    "mower",
)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def expected_states(fields: dict[str, int]) -> dict[str, str]:
    """``{key: state}`` of every compared entity after a report with ``fields``."""
    charger_status = fields["charger_status"]
    misses = fields.get("mower_error", 0)
    states = {
        "gps_satellites": str((charger_status >> 24) & 0xFF),
        "gps_fix": _on(bool(charger_status & 0x1)),
        "rtk_fix": _on(bool(charger_status & 0x100)),
        "mower_connected": _on(misses == 0),
    }
    if misses >= STALE_AFTER_MISSES:
        stale = dict.fromkeys(("mower_activity", "mower_battery"), UNAVAILABLE)
        return states | stale | {"mower": "unknown"}
    mower_status = fields["mower_status"]
    code = (mower_status >> 16) & 0xFF
    label = work_status(code)
    return states | {
        "mower_activity": label.value if label else "unknown",
        "mower_battery": str((fields["mower_info"] >> 8) & 0xFF),
        "mower": lawn_mower_state(code, (mower_status >> 8) & 0xFF),
    }


def lawn_mower_state(work: int, recharge: int) -> str:
    """Docked only on the charger, returning while driving back, else its work."""
    if work == ERROR:
        return "error"
    if recharge == ON_THE_CHARGER:
        return "docked"
    if recharge in DRIVING_BACK:
        return "returning"
    return LAWN_MOWER_STATES.get(work, "unknown")


def differences(shown: dict[str, str], fields: dict[str, int]) -> dict[str, str]:
    """``{key: "shown != expected"}`` for each entity that differs."""
    expected = expected_states(fields)
    return {
        key: f"{shown.get(key)} != {value}"
        for key, value in expected.items()
        if shown.get(key) != value
    }
