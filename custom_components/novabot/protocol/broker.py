"""Ask a broker whether it admits a client without credentials, as the charger is."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import secrets

PROBE_TIMEOUT = 5.0
KEEPALIVE_SECONDS = 10

CONNACK = 0x20
DISCONNECT = b"\xe0\x00"

RC_BAD_CREDENTIALS = 4
RC_NOT_AUTHORISED = 5


class ProbeOutcome(StrEnum):
    """What the broker did with an anonymous MQTT 3.1.1 CONNECT."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    NOT_MQTT = "not_mqtt"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome, the CONNACK return code when there was one, and a detail."""

    outcome: ProbeOutcome
    return_code: int | None = None
    detail: str = ""

    @property
    def login_required(self) -> bool:
        """Refused for lack of credentials (the Mosquitto add-on answers 5)."""
        return self.outcome is ProbeOutcome.REFUSED and self.return_code in (
            RC_BAD_CREDENTIALS,
            RC_NOT_AUTHORISED,
        )


def _utf8_field(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and no username or password."""
    variable_header = (
        _utf8_field("MQTT")
        + bytes([4, 0x02])  # protocol level 3.1.1, flags: clean session only
        + KEEPALIVE_SECONDS.to_bytes(2, "big")
    )
    body = variable_header + _utf8_field(client_id)
    return bytes([0x10]) + _remaining_length(len(body)) + body


async def probe_broker(
    host: str, port: int, timeout: float = PROBE_TIMEOUT
) -> ProbeResult:
    """Connect to ``host:port`` like the charger would and report what happened."""
    client_id = f"novabot-probe-{secrets.token_hex(4)}"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeResult(ProbeOutcome.UNREACHABLE, detail="connection timed out")
    except OSError as err:  # DNS failure, refused, no route
        return ProbeResult(
            ProbeOutcome.UNREACHABLE, detail=str(err) or type(err).__name__
        )
    try:
        writer.write(connect_packet(client_id))
        async with asyncio.timeout(timeout):
            await writer.drain()
            connack = await reader.readexactly(4)
        return _parse_connack(connack, writer)
    except TimeoutError:
        return ProbeResult(ProbeOutcome.NOT_MQTT, detail="no CONNACK in time")
    except asyncio.IncompleteReadError, OSError:
        return ProbeResult(
            ProbeOutcome.NOT_MQTT, detail="connection closed without CONNACK"
        )
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _parse_connack(connack: bytes, writer: asyncio.StreamWriter) -> ProbeResult:
    if connack[0] != CONNACK or connack[1] != 2:
        return ProbeResult(ProbeOutcome.NOT_MQTT, detail="answer is not a CONNACK")
    return_code = connack[3]
    if return_code == 0:
        writer.write(DISCONNECT)
        return ProbeResult(ProbeOutcome.ACCEPTED, return_code=0)
    return ProbeResult(ProbeOutcome.REFUSED, return_code=return_code)
