"""Bluetooth framing: a JSON object travels as ``ble_start``, chunks, ``ble_end``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import FrameError, FrameTooLargeError

if TYPE_CHECKING:
    from collections.abc import Mapping

FRAME_START = b"ble_start"
FRAME_END = b"ble_end"
DEFAULT_CHUNK_SIZE = 20  # the default ATT MTU of 23 bytes minus the 3-byte header
MAX_FRAME_SIZE = 4096


def encode_json(message: Mapping[str, Any]) -> bytes:
    """Serialise a message the way the charger expects: compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def encode_frame(
    message: Mapping[str, Any], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[bytes]:
    """Return the writes that carry ``message``: start marker, chunks, end marker."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    body = encode_json(message)
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return [FRAME_START, *chunks, FRAME_END]


def decode_json_object(data: bytes) -> dict[str, Any]:
    """Decode UTF-8 JSON that must be an object; anything else is a FrameError."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise FrameError("frame is not valid UTF-8") from err
    except ValueError as err:
        raise FrameError("frame is not valid JSON") from err
    if not isinstance(document, dict):
        raise FrameError("frame is not a JSON object")
    return document


class FrameAssembler:
    """Reassemble notifications into JSON objects.

    Feed every notification to :meth:`feed`; it returns the message when a
    frame completes and ``None`` otherwise. Data outside a frame is ignored, a
    new ``ble_start`` discards a partial frame, and a frame over
    ``max_size`` bytes is dropped with :class:`FrameTooLargeError`.
    """

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        self._max_size = max_size
        self._buffer: bytearray | None = None

    @property
    def in_frame(self) -> bool:
        """Whether a frame has started and not yet ended."""
        return self._buffer is not None

    def feed(self, notification: bytes | bytearray) -> dict[str, Any] | None:
        """Take one notification; return a complete message or ``None``."""
        data = bytes(notification).rstrip(b"\x00")
        if data == FRAME_START:
            self._buffer = bytearray()
            return None
        if self._buffer is None:
            return None
        if data == FRAME_END:
            body, self._buffer = bytes(self._buffer), None
            return decode_json_object(body)
        if len(self._buffer) + len(data) > self._max_size:
            self._buffer = None
            raise FrameTooLargeError(f"frame exceeds {self._max_size} bytes")
        self._buffer += data
        return None
