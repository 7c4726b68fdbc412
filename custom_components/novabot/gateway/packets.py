"""MQTT packets as the gateway reads them, before amqtt sees a byte.

Framing by the fixed header, the packet types a client may send, the size
limit, the checks on a CONNECT, and the answer to a client turned away.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from . import limits
from .counters import Drop

# Answers sent without amqtt.
_CONNACK_UNACCEPTABLE_PROTOCOL = b"\x20\x02\x00\x01"
_CONNACK_SERVER_UNAVAILABLE = b"\x20\x02\x00\x03"
_PROTOCOL_NAME = b"MQTT"
_PROTOCOL_NAMES = (_PROTOCOL_NAME, b"MQIsdp")  # MQTT 3.1.1 and 3.1
_PROTOCOL_LEVEL_311 = 4
_DISCARD_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class _PacketTypes:
    """The MQTT packet types (first nibble) a client may send now, and why not others."""

    types: frozenset[int]
    otherwise: str


# First a CONNECT; anything else is an HTTP request, a TLS hello, noise.
_HANDSHAKE = _PacketTypes(frozenset({1}), Drop.NOT_MQTT)
# Then neither CONNECT again [MQTT-3.1.0-2] nor a server's packets, which
# amqtt would log as errors or warnings.
_IN_SESSION = _PacketTypes(
    frozenset({3, 4, 5, 6, 7, 8, 10, 12, 14}), Drop.PROTOCOL_ERROR
)


class _RejectedError(Exception):
    """A packet or a connection the gateway turns away: why, and what to answer."""

    def __init__(self, reason: str, answer: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.answer = answer


class _OversizedPacketError(_RejectedError):
    """A packet is larger than MAX_PACKET_SIZE; its body is still unread."""

    def __init__(self, body_length: int) -> None:
        super().__init__(Drop.OVERSIZED)
        self.body_length = body_length


async def _read_packet(
    reader: asyncio.StreamReader, allowed: _PacketTypes
) -> tuple[bytes, int] | None:
    """Read one whole MQTT packet: its bytes and the length of its fixed header.

    ``None`` at a clean end of stream. Raises _RejectedError when the packet
    type is not allowed (checked on the first byte, so noise stops there) or
    its length is not valid MQTT, _OversizedPacketError before reading its body,
    and asyncio.IncompleteReadError when the stream ends inside it.
    """
    first = await reader.read(1)
    if not first:
        return None
    if first[0] >> 4 not in allowed.types:
        raise _RejectedError(allowed.otherwise)
    header = bytearray(first)
    length = 0
    for shift in (0, 7, 14, 21):  # at most four length bytes [MQTT-2.2.3]
        byte = (await reader.readexactly(1))[0]
        header.append(byte)
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
    else:
        raise _RejectedError(Drop.MALFORMED)
    if len(header) + length > limits.MAX_PACKET_SIZE:
        raise _OversizedPacketError(length)
    return bytes(header) + await reader.readexactly(length), len(header)


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    """Skip ``length`` bytes without holding them in memory."""
    while length:
        length -= len(await reader.readexactly(min(length, _DISCARD_CHUNK)))


def _connect_keepalive(packet: bytes, header_length: int) -> int:
    """The keep-alive of an MQTT 3.1.1 CONNECT; _RejectedError for anything else.

    The rest of the CONNECT (client id, flags) is amqtt's to check.
    """
    body = packet[header_length:]
    name_length = int.from_bytes(body[:2])
    name = body[2 : 2 + name_length]
    fixed = body[2 + name_length : 6 + name_length]  # level, flags, keep-alive
    if name not in _PROTOCOL_NAMES or len(fixed) < 4:
        raise _RejectedError(Drop.NOT_MQTT)
    if name != _PROTOCOL_NAME or fixed[0] != _PROTOCOL_LEVEL_311:
        raise _RejectedError(Drop.UNSUPPORTED_PROTOCOL, _CONNACK_UNACCEPTABLE_PROTOCOL)
    return int.from_bytes(fixed[2:4])


async def _read_connect(reader: asyncio.StreamReader) -> tuple[bytes, int]:
    """A client's CONNECT packet and its keep-alive; _RejectedError otherwise."""
    try:
        async with asyncio.timeout(limits.CONNECT_TIMEOUT):
            packet = await _read_packet(reader, _HANDSHAKE)
    except TimeoutError as err:
        raise _RejectedError(Drop.HANDSHAKE_TIMEOUT) from err
    except asyncio.IncompleteReadError as err:
        raise _RejectedError(Drop.NOT_MQTT) from err
    if packet is None:
        # A port scan or a health check; amqtt would log it as an error.
        raise _RejectedError(Drop.NO_DATA)
    return packet[0], _connect_keepalive(*packet)


async def _answer_unavailable(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer a client's CONNECT with "server unavailable", if it sends one in time."""
    try:
        # Read the CONNECT first: closing on unread data resets the
        # connection, and the client might never see the answer.
        async with asyncio.timeout(limits.REFUSE_TIMEOUT):
            if await _read_packet(reader, _HANDSHAKE) is not None:
                writer.write(_CONNACK_SERVER_UNAVAILABLE)
                await writer.drain()
    except TimeoutError, OSError, asyncio.IncompleteReadError, _RejectedError:
        pass  # turned away either way
