"""MQTT topics and payloads of a provisioned charger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .crypto import BLOCK_SIZE, is_plain_json
from .errors import FrameError, InvalidMessageError
from .framing import decode_json_object, encode_json

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .crypto import PayloadCodec

STATUS_TOPIC_PREFIX = "Dart/Receive_mqtt/"
COMMAND_TOPIC_PREFIX = "Dart/Send_mqtt/"
STATUS_TOPIC_FILTER = f"{STATUS_TOPIC_PREFIX}+"
MAX_PAYLOAD_SIZE = 4096  # reports are ~250 bytes; anything far larger is not one


def status_topic(serial_number: str) -> str:
    """Where the charger publishes its reports and replies."""
    return STATUS_TOPIC_PREFIX + serial_number


def command_topic(serial_number: str) -> str:
    """Where the charger listens for commands."""
    return COMMAND_TOPIC_PREFIX + serial_number


def serial_number_from_topic(topic: str) -> str | None:
    """The serial number in a status topic, or ``None`` for any other topic."""
    if not topic.startswith(STATUS_TOPIC_PREFIX):
        return None
    serial_number = topic.removeprefix(STATUS_TOPIC_PREFIX)
    if not serial_number or "/" in serial_number:
        return None
    return serial_number


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded payload and whether it arrived encrypted."""

    document: dict[str, Any]
    encrypted: bool


def decode_message(payload: bytes, codec: PayloadCodec) -> Message:
    """Decode a payload, plain or encrypted, into a JSON object.

    Raises InvalidMessageError with a reason for anything else.
    """
    if len(payload) > MAX_PAYLOAD_SIZE:
        raise InvalidMessageError("payload too large")
    if is_plain_json(payload):
        try:
            return Message(document=decode_json_object(payload), encrypted=False)
        except FrameError as err:
            # For some serial numbers every ciphertext starts with "{" as well.
            if len(payload) % BLOCK_SIZE:
                raise InvalidMessageError(str(err)) from err
    try:
        document = decode_json_object(codec.decrypt(payload))
    except FrameError as err:
        raise InvalidMessageError("wrong key or not a message") from err
    return Message(document=document, encrypted=True)


def encode_command(
    command: Mapping[str, Any], codec: PayloadCodec | None = None
) -> bytes:
    """Serialise a command; encrypt it when a codec is given."""
    payload = encode_json(command)
    return codec.encrypt(payload) if codec else payload
