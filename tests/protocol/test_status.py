"""The ``up_status_info`` report and its ``charger_status`` bit field."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.novabot.protocol import (
    ChargerStatus,
    InvalidMessageError,
    parse_status,
)

REPORT = {
    "charger_status": 285212929,
    "mower_status": 0,
    "mower_info": 0,
    "mower_x": 0,
    "mower_y": 0,
    "mower_z": 0,
    "mower_info1": 0,
    "mower_error": 0,
}


def report(**fields: Any) -> dict[str, Any]:
    """A report in the first shape, with some fields replaced."""
    return {"up_status_info": {**REPORT, **fields}}


def test_report_in_the_up_status_info_shape_is_parsed() -> None:
    status = parse_status({"up_status_info": REPORT})

    assert status == ChargerStatus(
        charger_status=285212929,
        mower_status=0,
        mower_info=0,
        mower_x=0,
        mower_y=0,
        mower_z=0,
        mower_info1=0,
        mower_error=0,
    )


def test_report_in_the_type_and_message_shape_is_parsed() -> None:
    status = parse_status({"type": "up_status_info", "message": REPORT})

    assert status == parse_status({"up_status_info": REPORT})


def test_documented_example_decodes_to_17_satellites_gps_and_rtk_no_rssi() -> None:
    status = parse_status({"up_status_info": REPORT})  # 285212929 == 0x11000101

    assert status.gps_satellites == 17
    assert status.gps_fix is True
    assert status.rtk_fix is True


@pytest.mark.parametrize(
    ("charger_status", "gps_fix", "rtk_fix", "satellites"),
    [
        (0x00000000, False, False, 0),
        (0x00000001, True, False, 0),
        (0x000000FE, False, False, 0),  # bits 1..7: a LoRa flag, not a reading
        (0x000000FF, True, False, 0),
        (0x00000100, False, True, 0),
        (0x01000000, False, False, 1),
        (0xFF000000, False, False, 255),
        (0x00FFFE00, False, False, 0),  # bits 9..23 carry nothing we read
        (0xFFFFFFFF, True, True, 255),
        (0x0A00014B, True, True, 10),
        (0x1C000101, True, True, 28),  # the document's example
    ],
)
def test_bit_fields_of_charger_status(
    charger_status: int,
    gps_fix: bool,
    rtk_fix: bool,
    satellites: int,
) -> None:
    status = ChargerStatus(charger_status=charger_status)

    assert status.gps_fix is gps_fix
    assert status.rtk_fix is rtk_fix
    assert status.gps_satellites == satellites


@pytest.mark.parametrize(
    ("mower_error", "connected"), [(0, True), (1, False), (2, False), (4000, False)]
)
def test_mower_is_connected_only_while_no_heartbeat_is_missed(
    mower_error: int, connected: bool
) -> None:
    status = parse_status(report(mower_error=mower_error))

    assert status.mower_connected is connected
    assert status.lora_heartbeat_misses == mower_error


def test_mower_fields_are_none_when_the_charger_omits_them() -> None:
    status = parse_status({"up_status_info": {"charger_status": 1}})

    assert status == ChargerStatus(charger_status=1)
    assert status.mower_connected is None
    assert status.lora_heartbeat_misses is None


def test_null_mower_fields_count_as_omitted() -> None:
    status = parse_status(report(mower_status=None, mower_error=None))

    assert status.mower_status is None
    assert status.mower_connected is None


def test_mower_fields_are_kept_as_raw_integers() -> None:
    status = parse_status(
        report(
            mower_status=3,
            mower_info=0x1234,
            mower_x=0xFFFFFF,
            mower_y=12,
            mower_z=359,
            mower_info1=7,
            mower_error=0,
        )
    )

    assert (status.mower_status, status.mower_info, status.mower_info1) == (
        3,
        0x1234,
        7,
    )
    assert (status.mower_x, status.mower_y, status.mower_z) == (0xFFFFFF, 12, 359)


def test_battery_capacity_is_read_when_present() -> None:
    assert parse_status(report(battery_capacity=87)).battery_capacity == 87
    assert parse_status(report()).battery_capacity is None


@pytest.mark.parametrize("capacity", [-1, 101])
def test_battery_capacity_outside_0_to_100_is_refused(capacity: int) -> None:
    with pytest.raises(InvalidMessageError, match="battery_capacity is out of range"):
        parse_status(report(battery_capacity=capacity))


def test_unknown_fields_are_ignored() -> None:
    status = parse_status(
        report(firmware="v0.4.0", extra={"nested": [1, 2]}, mower_temp=-5.5)
    )

    assert status == parse_status(report())


def test_extra_top_level_keys_are_ignored() -> None:
    status = parse_status({"up_status_info": REPORT, "sn": "LFIC1230700123"})

    assert status.charger_status == 285212929


def test_status_is_immutable() -> None:
    status = parse_status(report())

    with pytest.raises(AttributeError):
        status.charger_status = 0  # type: ignore[misc]


def test_unsigned_32_bit_bounds_are_accepted() -> None:
    status = parse_status(report(charger_status=2**32 - 1, mower_x=0))

    assert status.charger_status == 0xFFFFFFFF


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"charger_status": True}, "charger_status is not an integer"),
        ({"charger_status": 1.0}, "charger_status is not an integer"),
        ({"charger_status": "285212929"}, "charger_status is not an integer"),
        ({"charger_status": [1]}, "charger_status is not an integer"),
        ({"charger_status": -1}, "charger_status is out of range"),
        ({"charger_status": 2**32}, "charger_status is out of range"),
        ({"mower_error": False}, "mower_error is not an integer"),
        ({"mower_x": 0.5}, "mower_x is not an integer"),
        ({"mower_status": "0"}, "mower_status is not an integer"),
        ({"mower_y": -3}, "mower_y is out of range"),
        ({"mower_info1": 2**32}, "mower_info1 is out of range"),
        ({"battery_capacity": 50.0}, "battery_capacity is not an integer"),
    ],
)
def test_values_of_the_wrong_type_or_range_are_refused_with_a_reason(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidMessageError) as err:
        parse_status(report(**fields))

    assert err.value.reason == reason


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({}, "not an up_status_info report"),
        ({"type": "set_wifi_info_respond", "message": {}}, "not an up_status_info"),
        ({"ota_version_info": None}, "not an up_status_info report"),
        ({"up_status_info": None}, "report is not an object"),
        ({"up_status_info": [REPORT]}, "report is not an object"),
        ({"type": "up_status_info"}, "report is not an object"),
        ({"type": "up_status_info", "message": "x"}, "report is not an object"),
        ({"up_status_info": {"mower_error": 0}}, "charger_status is missing"),
        ({"up_status_info": {"charger_status": None}}, "charger_status is missing"),
    ],
)
def test_documents_that_are_not_reports_are_refused(
    document: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidMessageError, match=reason):
        parse_status(document)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats()
    | st.text(max_size=5)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
field_values = json_values | st.integers(min_value=-1, max_value=2**32)
bodies = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys([*REPORT, "battery_capacity"], field_values),
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
documents = st.one_of(
    st.dictionaries(st.text(max_size=15), json_values, max_size=3),
    st.builds(lambda body: {"up_status_info": body}, bodies | json_values),
    st.builds(
        lambda body: {"type": "up_status_info", "message": body}, bodies | json_values
    ),
)


@settings(max_examples=400, deadline=None)
@given(document=documents)
def test_parse_status_raises_nothing_but_invalid_message_error(
    document: dict[str, Any],
) -> None:
    try:
        status = parse_status(document)
    except InvalidMessageError as err:
        assert err.reason  # noqa: PT017 - every refusal says why
    else:
        assert 0 <= status.charger_status <= 2**32 - 1
