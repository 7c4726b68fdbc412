"""MQTT topics and payloads of a provisioned charger."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.novabot.protocol import (
    STATUS_TOPIC_FILTER,
    InvalidMessageError,
    Message,
    PayloadCodec,
    command_topic,
    decode_message,
    encode_command,
    serial_number_from_topic,
    status_topic,
)

SERIAL = "LFIC1230700123"
CODEC = PayloadCodec(SERIAL)
REPORT = {"up_status_info": {"charger_status": 285212929, "mower_error": 0}}
REPORT_BYTES = b'{"up_status_info":{"charger_status":285212929,"mower_error":0}}'


# --- topics ---------------------------------------------------------------------


def test_charger_publishes_on_receive_topic_and_listens_on_send_topic() -> None:
    assert status_topic(SERIAL) == "Dart/Receive_mqtt/LFIC1230700123"
    assert command_topic(SERIAL) == "Dart/Send_mqtt/LFIC1230700123"
    assert STATUS_TOPIC_FILTER == "Dart/Receive_mqtt/+"


def test_serial_number_is_read_from_a_status_topic() -> None:
    assert serial_number_from_topic(status_topic(SERIAL)) == SERIAL


def test_serial_number_from_topic_is_returned_as_sent() -> None:
    assert serial_number_from_topic("Dart/Receive_mqtt/lfic1") == "lfic1"


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "Dart/Receive_mqtt",
        "Dart/Receive_mqtt/",
        "Dart/Receive_mqtt/LFIC1230700123/extra",
        "Dart/Receive_mqtt//LFIC1230700123",
        "Dart/Send_mqtt/LFIC1230700123",
        "dart/receive_mqtt/LFIC1230700123",
        "/Dart/Receive_mqtt/LFIC1230700123",
        "homeassistant/status",
    ],
)
def test_serial_number_from_any_other_topic_is_none(topic: str) -> None:
    assert serial_number_from_topic(topic) is None


# --- decoding -------------------------------------------------------------------------


def test_plain_payload_is_decoded() -> None:
    assert decode_message(REPORT_BYTES, CODEC) == Message(
        document=REPORT, encrypted=False
    )


def test_encrypted_payload_is_decrypted_and_flagged() -> None:
    message = decode_message(CODEC.encrypt(REPORT_BYTES), CODEC)

    assert message == Message(document=REPORT, encrypted=True)


def test_payload_of_exactly_4096_bytes_is_accepted() -> None:
    payload = json.dumps({"pad": "x" * (4096 - 11)}).encode()
    assert len(payload) == 4096

    assert decode_message(payload, CODEC).document == json.loads(payload)


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
def test_payload_over_4096_bytes_is_refused(encrypt: bool) -> None:
    payload = json.dumps({"pad": "x" * 4090}).encode()
    if encrypt:
        payload = CODEC.encrypt(payload)

    with pytest.raises(InvalidMessageError, match="too large"):
        decode_message(payload, CODEC)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"a":"\xff"}', "not valid UTF-8"),
        (b"{}{}", "not valid JSON"),
        (b"", "multiple of 16"),
        (b"[1, 2]", "multiple of 16"),
        (b"hello", "multiple of 16"),
        (b"\x00" * 16, "wrong key or not a message"),
        (bytes(range(32)), "wrong key or not a message"),
    ],
)
def test_garbage_raises_invalid_message_error_with_a_reason(
    payload: bytes, reason: str
) -> None:
    with pytest.raises(InvalidMessageError, match=reason):
        decode_message(payload, CODEC)


def test_encrypted_json_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidMessageError, match="wrong key or not a message"):
        decode_message(CODEC.encrypt(b"[1,2,3]"), CODEC)


def test_ciphertext_starting_with_a_brace_is_still_decrypted() -> None:
    codec = PayloadCodec("LFIC1230700042")
    payload = codec.encrypt(REPORT_BYTES)
    assert payload[:1] == b"{"

    assert decode_message(payload, codec) == Message(document=REPORT, encrypted=True)


# --- encoding ---------------------------------------------------------------------------


def test_command_is_compact_json_without_a_codec() -> None:
    assert encode_command({"get_lora_info": None}) == b'{"get_lora_info":null}'


def test_command_is_encrypted_with_a_codec() -> None:
    payload = encode_command({"get_lora_info": None}, CODEC)

    assert payload == CODEC.encrypt(b'{"get_lora_info":null}')
    assert decode_message(payload, CODEC) == Message(
        document={"get_lora_info": None}, encrypted=True
    )


# --- properties ------------------------------------------------------------------------

payloads = st.one_of(
    st.binary(max_size=80),
    st.binary(max_size=80).map(lambda data: b"{" + data),
    st.binary(max_size=5).map(lambda data: data * 16),
    st.binary(min_size=16, max_size=16).map(lambda block: block * 2),
    st.binary(max_size=60).map(CODEC.encrypt),
    st.just(b"{" * 4097),
)


@settings(max_examples=400, deadline=None)
@given(payload=payloads)
def test_decode_message_raises_nothing_but_invalid_message_error(
    payload: bytes,
) -> None:
    try:
        message = decode_message(payload, CODEC)
    except InvalidMessageError as err:
        assert err.reason  # noqa: PT017 - every refusal says why
    else:
        assert isinstance(message.document, dict)
