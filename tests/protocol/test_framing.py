"""Bluetooth framing: ``ble_start``, chunks of at most 20 bytes, ``ble_end``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.novabot.protocol import (
    FrameAssembler,
    FrameError,
    FrameTooLargeError,
    encode_frame,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

MESSAGE = {"set_mqtt_info": {"addr": "192.168.1.10", "port": 1883}}
COMPACT = b'{"set_mqtt_info":{"addr":"192.168.1.10","port":1883}}'


def feed_all(
    assembler: FrameAssembler, notifications: Iterable[bytes | bytearray]
) -> list[Any]:
    """Feed every notification; return the messages that completed."""
    completed = []
    for notification in notifications:
        message = assembler.feed(notification)
        if message is not None:
            completed.append(message)
    return completed


# --- encoding -----------------------------------------------------------------


def test_frame_is_start_marker_chunks_end_marker() -> None:
    writes = encode_frame(MESSAGE)

    assert writes[0] == b"ble_start"
    assert writes[-1] == b"ble_end"
    assert b"".join(writes[1:-1]) == COMPACT


def test_chunks_are_at_most_20_bytes_by_default() -> None:
    chunks = encode_frame(MESSAGE)[1:-1]

    assert [len(chunk) for chunk in chunks] == [20, 20, 13]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_chunks_respect_the_requested_size(chunk_size: int) -> None:
    chunks = encode_frame(MESSAGE, chunk_size)[1:-1]

    assert all(1 <= len(chunk) <= chunk_size for chunk in chunks)
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert b"".join(chunks) == COMPACT


def test_non_ascii_text_is_sent_as_utf8_not_escaped() -> None:
    writes = encode_frame({"ssid": "Café ☕"})

    assert b"".join(writes[1:-1]) == '{"ssid":"Café ☕"}'.encode()


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_chunk_size_must_be_positive(chunk_size: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        encode_frame(MESSAGE, chunk_size)


# --- reassembly ---------------------------------------------------------------


def test_frame_is_reassembled_into_the_message() -> None:
    assembler = FrameAssembler()

    assert feed_all(assembler, encode_frame(MESSAGE)) == [MESSAGE]
    assert not assembler.in_frame


def test_feed_returns_none_until_the_end_marker() -> None:
    assembler = FrameAssembler()
    writes = encode_frame(MESSAGE)

    assert [assembler.feed(write) for write in writes[:-1]] == [None] * (
        len(writes) - 1
    )
    assert assembler.in_frame
    assert assembler.feed(writes[-1]) == MESSAGE


def test_trailing_nul_bytes_are_stripped_from_every_notification() -> None:
    padded = [write.ljust(20, b"\x00") for write in encode_frame(MESSAGE)]

    assert feed_all(FrameAssembler(), padded) == [MESSAGE]


def test_bytearray_notifications_are_accepted() -> None:
    notifications = [bytearray(write) for write in encode_frame(MESSAGE)]

    assert feed_all(FrameAssembler(), notifications) == [MESSAGE]


def test_new_start_marker_discards_the_partial_frame() -> None:
    assembler = FrameAssembler()
    assembler.feed(b"ble_start")
    assembler.feed(b'{"half a mess')

    assert feed_all(assembler, encode_frame(MESSAGE)) == [MESSAGE]


def test_data_outside_a_frame_is_ignored() -> None:
    assembler = FrameAssembler()

    assert assembler.feed(b'{"stray":1}') is None
    assert assembler.feed(b"ble_end") is None
    assert not assembler.in_frame
    assert feed_all(assembler, encode_frame(MESSAGE)) == [MESSAGE]


def test_consecutive_frames_are_reassembled_separately() -> None:
    other = {"type": "set_rtk_info_respond", "message": {"result": 0}}

    messages = feed_all(FrameAssembler(), encode_frame(MESSAGE) + encode_frame(other))

    assert messages == [MESSAGE, other]


def test_frame_of_exactly_4_kib_is_accepted() -> None:
    body = json.dumps({"pad": "x" * (4096 - 11)}).encode()
    assert len(body) == 4096

    assert feed_all(FrameAssembler(), [b"ble_start", body, b"ble_end"]) == [
        json.loads(body)
    ]


def test_frame_larger_than_4_kib_is_refused() -> None:
    assembler = FrameAssembler()
    assembler.feed(b"ble_start")
    for _ in range(204):  # 4080 bytes
        assembler.feed(b"x" * 20)

    with pytest.raises(FrameTooLargeError, match="4096"):
        assembler.feed(b"x" * 20)
    assert not assembler.in_frame


def test_assembler_is_usable_after_a_refused_frame() -> None:
    assembler = FrameAssembler(max_size=16)
    assembler.feed(b"ble_start")
    with pytest.raises(FrameTooLargeError):
        assembler.feed(b"y" * 17)

    # the rest of the oversized frame is outside any frame now: ignored
    assert assembler.feed(b"ble_end") is None
    assert feed_all(assembler, [b"ble_start", b'{"a":1}', b"ble_end"]) == [{"a": 1}]


def test_frame_too_large_error_is_a_frame_error() -> None:
    assert issubclass(FrameTooLargeError, FrameError)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"ssid":"\xff\xfe"}', "not valid UTF-8"),
        (b'{"ssid":', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1,2,3]", "not a JSON object"),
        (b'"set_cfg_info"', "not a JSON object"),
        (b"15", "not a JSON object"),
        (b"null", "not a JSON object"),
    ],
)
def test_frame_that_is_not_a_json_object_raises_frame_error(
    body: bytes, reason: str
) -> None:
    assembler = FrameAssembler()
    assembler.feed(b"ble_start")
    assembler.feed(body)

    with pytest.raises(FrameError, match=reason):
        assembler.feed(b"ble_end")
    assert feed_all(assembler, encode_frame(MESSAGE)) == [MESSAGE]


# --- properties -----------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(message=json_objects, chunk_size=st.integers(min_value=1, max_value=64))
def test_any_json_object_survives_the_round_trip(
    message: dict[str, Any], chunk_size: int
) -> None:
    assert feed_all(FrameAssembler(), encode_frame(message, chunk_size)) == [message]


notification_bytes = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"ble_start", b"ble_end", b"ble_start\x00", b"ble_end\x00\x00"]),
    st.sampled_from([b"{", b"}", b'"', b"[", b"\xc3", b"1", b":"]),
)


@settings(max_examples=300, deadline=None)
@given(notifications=st.lists(notification_bytes, max_size=60))
def test_arbitrary_notifications_raise_nothing_but_frame_error(
    notifications: list[bytes],
) -> None:
    assembler = FrameAssembler(max_size=256)
    for notification in notifications:
        try:
            message = assembler.feed(notification)
        except FrameError:
            continue
        assert message is None or isinstance(message, dict)
