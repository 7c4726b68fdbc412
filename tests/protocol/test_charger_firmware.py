"""The virtual charger on MQTT behaves like the firmware the protocol document describes.

docs/charger-protocol.md §2: its reports (the RTK survey, ``mower_error``, the
mower's relayed frame) and its replies to the mower commands. Driven with
explicit times, in seconds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.charger_firmware import (
    ChargerFirmware,
    ReplyTiming,
    SimulatedMower,
)

SERIAL_NUMBER = "LFIC1230700123"
RTK_OK, GPS_FIX = 0x100, 0x1
GO_PILE = b'{"go_pile":{}}'
START_RUN = b'{"start_run":{"mapName":0,"area":1,"cutterhigh":3}}'


def status(firmware: ChargerFirmware, now: float) -> dict[str, int]:
    """The ``up_status_info`` the charger publishes at ``now``."""
    report: dict[str, dict[str, int]] = json.loads(firmware.report(now))
    return report["up_status_info"]


def command(firmware: ChargerFirmware, payload: bytes, now: float) -> tuple[float, int]:
    """After how long the charger answers a mower command, and its ``result``."""
    answer = firmware.receive(payload, now)
    assert answer is not None
    when, reply = answer
    message: dict[str, Any] = json.loads(reply)["message"]
    return when - now, message["result"]


def commands_in_a_row(firmware: ChargerFirmware, count: int) -> list[tuple[float, int]]:
    """``count`` commands, each sent once the previous one is answered."""
    answers, now = [], 0.0
    for _ in range(count):
        delay, result = command(firmware, GO_PILE, now)
        answers.append((delay, result))
        now += delay
    return answers


# --- Reports -----------------------------------------------------------------------


def test_rtk_is_not_ok_during_the_60_s_survey_after_boot() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, satellites=20, started=100.0)

    surveying = status(firmware, 159.0)["charger_status"]
    surveyed = status(firmware, 160.0)["charger_status"]

    assert (surveying & RTK_OK, surveying & GPS_FIX) == (
        0,
        GPS_FIX,
    )  # GPS needs no survey
    assert surveyed & RTK_OK


def test_a_reboot_starts_the_rtk_survey_again() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, satellites=20)

    firmware.reboot(1000.0)

    assert not status(firmware, 1059.0)["charger_status"] & RTK_OK
    assert status(firmware, 1060.0)["charger_status"] & RTK_OK


def test_mower_error_reads_0_below_two_misses_then_grows_without_bound() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER)
    firmware.link.mower_out_of_range(10.0)  # polled every 1.5 s

    misses = [
        status(firmware, 10.0 + 1.5 * polls)["mower_error"] for polls in (1, 2, 3)
    ]

    assert misses == [0, 2, 3]
    assert status(firmware, 10.0 + 1.5 * 17734)["mower_error"] == 17734


def test_a_mower_back_in_range_answers_again() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER)
    firmware.link.mower_out_of_range(0.0)
    assert status(firmware, 30.0)["mower_error"] == 20
    assert command(firmware, GO_PILE, 30.0) == (4.0, 1)

    firmware.link.mower_back_in_range(40.0)

    assert status(firmware, 40.0)["mower_error"] == 0
    assert command(firmware, GO_PILE, 40.0) == (0.5, 0)


def test_the_mower_fields_keep_their_last_values_when_the_mower_stops_answering() -> (
    None
):
    mower = SimulatedMower()
    firmware = ChargerFirmware(SERIAL_NUMBER, mower=mower)
    command(firmware, START_RUN, 0.0)
    mower.advance(20.0, 20.0)
    last_heard = status(firmware, 20.0)
    firmware.link.mower_out_of_range(20.0)

    mower.advance(100.0, 120.0)  # it mows on, out of reach
    stale = status(firmware, 120.0)

    assert mower.frame()["mower_x"] != last_heard["mower_x"]
    assert stale["mower_error"] > 2
    assert {key: stale[key] for key in mower.frame()} == {
        key: last_heard[key] for key in mower.frame()
    }


# --- The mower's status frame --------------------------------------------------------


def test_a_docked_mower_reports_recharge_status_9_in_byte_1() -> None:
    assert (
        SimulatedMower().frame()["mower_status"] == 0x00_09_00
    )  # idle, on the charger


def test_a_mower_driving_back_reports_a_returning_recharge_status() -> None:
    mower = SimulatedMower(work_status=90)
    mower.command("go_pile", now=0.0)
    mower.advance(2.0, now=2.0)  # returning to the dock

    assert mower.frame()["mower_status"] == 191 << 16 | 191 << 8


def test_a_mower_away_from_the_charger_reports_recharge_status_0() -> None:
    mower = SimulatedMower()
    mower.command("start_run", now=0.0)
    mower.advance(3.0, now=3.0)  # left the dock, mowing

    assert mower.frame()["mower_status"] == 90 << 16


# --- Mower commands ------------------------------------------------------------------


def test_mower_commands_are_answered_1_to_4_s_later() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, reply_timing=ReplyTiming.FIRMWARE, seed=1)

    answers = commands_in_a_row(firmware, 40)

    assert {delay for delay, _ in answers} == {1.0, 2.0, 3.0, 4.0}
    assert {result for _, result in answers} == {0}


def test_a_refusal_can_come_early() -> None:
    firmware = ChargerFirmware(
        SERIAL_NUMBER, reply_timing=ReplyTiming.FIRMWARE, refusal_rate=1.0, seed=2
    )

    answers = commands_in_a_row(firmware, 20)

    assert {result for _, result in answers} == {1}
    assert {delay for delay, _ in answers} <= {1.0, 2.0, 3.0, 4.0}
    assert min(delay for delay, _ in answers) < 4.0


def test_a_refused_command_does_not_move_the_mower() -> None:
    mower = SimulatedMower()
    firmware = ChargerFirmware(SERIAL_NUMBER, mower=mower, refusal_rate=1.0)

    assert command(firmware, START_RUN, 0.0) == (0.5, 1)
    assert mower.work_status == 0  # still docked


@pytest.mark.parametrize("timing", list(ReplyTiming))
def test_an_unanswered_command_gets_result_1_after_4_s(timing: ReplyTiming) -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, acknowledges=False, reply_timing=timing)

    assert command(firmware, GO_PILE, 0.0) == (4.0, 1)


def test_the_charger_is_busy_until_it_answers_a_mower_command() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, reply_timing=ReplyTiming.FIRMWARE, seed=3)
    delay, _ = command(firmware, GO_PILE, 0.0)

    assert firmware.receive(b'{"get_lora_info":null}', delay - 0.5) is None  # dropped
    assert firmware.busy(delay - 0.5)  # no report meanwhile
    assert firmware.receive(b'{"get_lora_info":null}', delay) is not None
