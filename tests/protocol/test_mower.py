"""The mower as the charger relays it: work status codes, the frame, commands."""

from __future__ import annotations

import pytest

from custom_components.novabot.protocol import (
    ChargerStatus,
    InvalidInputError,
    MowerCommand,
    MowingArea,
    WorkStatus,
    encode_command,
    mower_command,
    start_run,
    work_status,
)
from custom_components.novabot.protocol.mower import area_mask
from custom_components.novabot.protocol.status import MOWER_ANSWERING


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0, WorkStatus.IDLE),
        (9, WorkStatus.FINISHED),
        (10, WorkStatus.STOPPED_BY_USER),
        (11, WorkStatus.RETURNING_BY_USER),
        (12, WorkStatus.RETURNING_LOW_BATTERY),
        (13, WorkStatus.STOPPED_BY_ERROR),
        (56, WorkStatus.LEAVING_DOCK),
        (90, WorkStatus.MOWING),
        (91, WorkStatus.AVOIDING_OBSTACLE),
        (93, WorkStatus.CUTTING_EDGE),
        (130, WorkStatus.MAPPING),
        (143, WorkStatus.MAPPING),
        (191, WorkStatus.RETURNING),
        (192, WorkStatus.DOCKING),
        (193, WorkStatus.DOCKING),
    ],
)
def test_work_status_codes_have_the_documented_meaning(
    code: int, meaning: WorkStatus
) -> None:
    assert work_status(code) is meaning


@pytest.mark.parametrize("code", [1, 50, 51, 52, 53, 129, 144, 190, 194, 255])
def test_codes_without_a_settled_meaning_have_none(code: int) -> None:
    # 50..53 are labelled inconsistently by the sources: they stay numbers.
    assert work_status(code) is None


def test_the_work_status_is_byte_2_and_the_battery_byte_1() -> None:
    # mower_status b0 b1 b2 b3 (b0 lowest): b2 is the work status.
    status = ChargerStatus(
        charger_status=0, mower_status=0x00_5A_09_02, mower_info=0x01_02_63_00
    )

    assert status.mower_work_status == 90
    assert status.mower_battery == 99


def test_a_battery_byte_over_100_is_not_a_percentage() -> None:
    assert ChargerStatus(charger_status=0, mower_info=0xC800).mower_battery is None


def test_without_the_frame_there_is_no_work_status_or_battery() -> None:
    status = ChargerStatus(charger_status=0)

    assert (status.mower_work_status, status.mower_battery) == (None, None)


@pytest.mark.parametrize(
    ("mower_error", "answering"),
    [(None, True), (0, True), (1, True), (2, False), (17734, False)],
)
def test_the_mower_frame_is_stale_from_two_missed_heartbeats_on(
    mower_error: int | None, answering: bool
) -> None:
    status = ChargerStatus(charger_status=0, mower_error=mower_error)

    assert status.mower_answering is answering


def test_a_change_in_whether_the_mower_answers_is_a_change_of_its_own() -> None:
    answering = ChargerStatus(charger_status=0, mower_error=0)
    silent = ChargerStatus(charger_status=0, mower_error=2)
    still_silent = ChargerStatus(charger_status=0, mower_error=3)

    assert silent.changed_fields(answering) == {"mower_error", MOWER_ANSWERING}
    assert still_silent.changed_fields(silent) == {"mower_error"}
    assert answering.changed_fields(answering) == frozenset()


@pytest.mark.parametrize(
    ("areas", "height", "wire"),
    [
        ([MowingArea.MAP_1], 2, b'{"start_run":{"mapName":0,"area":1,"cutterhigh":0}}'),
        (
            [MowingArea.MAP_2],
            5,
            b'{"start_run":{"mapName":0,"area":10,"cutterhigh":3}}',
        ),
        (
            [MowingArea.MAP_3],
            9,
            b'{"start_run":{"mapName":0,"area":100,"cutterhigh":7}}',
        ),
        (
            [MowingArea.ALL_MAPS],
            6,
            b'{"start_run":{"mapName":0,"area":111,"cutterhigh":4}}',
        ),
    ],
)
def test_start_run_carries_three_numbers(
    areas: list[MowingArea], height: int, wire: bytes
) -> None:
    assert encode_command(start_run(areas, height)) == wire


@pytest.mark.parametrize(
    ("areas", "mask"),
    [
        ([MowingArea.MAP_1, MowingArea.MAP_3], 101),
        ([MowingArea.MAP_2, MowingArea.MAP_3], 110),
        ([MowingArea.MAP_3, MowingArea.MAP_1, MowingArea.MAP_1], 101),
        ([MowingArea.MAP_1, MowingArea.MAP_2, MowingArea.MAP_3], 111),
        ([MowingArea.ALL_MAPS, MowingArea.MAP_2], 111),
    ],
)
def test_several_maps_are_summed_one_decimal_digit_each(
    areas: list[MowingArea], mask: int
) -> None:
    assert area_mask(areas) == mask


def test_start_run_needs_an_area() -> None:
    with pytest.raises(InvalidInputError):
        start_run([], 5)


@pytest.mark.parametrize("height", [1, 10, True, 0])
def test_start_run_refuses_a_height_outside_2_to_9_cm(height: int) -> None:
    with pytest.raises(InvalidInputError):
        start_run([MowingArea.MAP_1], height)


@pytest.mark.parametrize(
    ("key", "area"),
    [
        ("map_1", MowingArea.MAP_1),
        ("map_2", MowingArea.MAP_2),
        ("map_3", MowingArea.MAP_3),
        ("all_maps", MowingArea.ALL_MAPS),
    ],
)
def test_areas_are_named_by_their_keys(key: str, area: MowingArea) -> None:
    assert area.key == key
    assert MowingArea.from_key(key) is area


@pytest.mark.parametrize("key", ["map_4", "", "MAPS", "1"])
def test_an_unknown_area_key_is_a_value_error(key: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the key is the whole message
        MowingArea.from_key(key)


@pytest.mark.parametrize(
    ("command", "wire"),
    [
        (MowerCommand.PAUSE, b'{"pause_run":{}}'),
        (MowerCommand.RESUME, b'{"resume_run":{}}'),
        (MowerCommand.STOP, b'{"stop_run":{}}'),
        (MowerCommand.CANCEL_SCHEDULE, b'{"stop_time_run":{}}'),
        (MowerCommand.DOCK, b'{"go_pile":{}}'),
    ],
)
def test_the_other_mower_commands_carry_an_empty_object(
    command: MowerCommand, wire: bytes
) -> None:
    assert encode_command(mower_command(command)) == wire


def test_start_needs_its_settings() -> None:
    with pytest.raises(ValueError, match="start_run"):
        mower_command(MowerCommand.START)


def test_the_captured_frame_is_a_mower_finished_on_its_charger() -> None:
    # 592130 = 0x090902: task mode 2, recharge status 9, work status 9.
    status = ChargerStatus(charger_status=0, mower_status=592130, mower_error=0)

    assert status.mower_recharge_status == 9
    assert status.mower_on_charger is True
    assert status.mower_heading_home is False
    assert status.work_status_label is WorkStatus.FINISHED


@pytest.mark.parametrize("recharge", [1, 2, 50, 53, 191, 192, 193])
def test_byte_1_says_the_mower_drives_back_whatever_byte_2_says(recharge: int) -> None:
    mowing = 90 << 16
    status = ChargerStatus(charger_status=0, mower_status=mowing | recharge << 8)

    assert status.mower_heading_home is True
    assert status.mower_on_charger is False
    assert status.work_status_label is WorkStatus.MOWING


@pytest.mark.parametrize("recharge", [0, 3, 8, 10, 190, 194, 255])
def test_other_recharge_codes_are_neither_docked_nor_driving_back(
    recharge: int,
) -> None:
    status = ChargerStatus(charger_status=0, mower_status=recharge << 8)

    assert status.mower_on_charger is False
    assert status.mower_heading_home is False


def test_a_report_without_the_mower_frame_says_nothing_of_the_charger() -> None:
    status = ChargerStatus(charger_status=0)

    assert status.mower_on_charger is None
    assert status.mower_heading_home is None
    assert status.work_status_label is None


@pytest.mark.parametrize(
    ("fields", "heard"),
    [
        ({"mower_status": 0x900, "mower_info": 0, "mower_error": 0}, True),
        ({"mower_status": 0, "mower_info": 100 << 8, "mower_error": 1}, True),
        # Nothing ever came from a mower: the charger's frame is all zeros.
        ({"mower_status": 0, "mower_info": 0, "mower_error": 0}, False),
        # Its last frame, stale: it does not answer now.
        ({"mower_status": 0x900, "mower_info": 100 << 8, "mower_error": 2}, False),
        # Firmware without the mower's fields.
        ({}, False),
    ],
    ids=["docked", "battery only", "zeros", "stale", "no fields"],
)
def test_a_mower_is_heard_when_it_answers_and_has_sent_a_frame(
    fields: dict[str, int], heard: bool
) -> None:
    assert ChargerStatus(charger_status=0, **fields).mower_heard is heard
