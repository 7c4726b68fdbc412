"""Ask a broker whether it admits the charger, whichever way it logs in.

Firmware v0.3.6 connects without a username or password. What v0.4.0 sends is
disputed: nothing, its serial number, or some login of the vendor's cloud. A
charger can be updated at any time, so a broker is fit for direct mode only
when it admits any login: the probe connects without one, and with a username
and password made up for each probe.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
import secrets

PROBE_TIMEOUT = 5.0
KEEPALIVE_SECONDS = 10

CONNACK = 0x20
DISCONNECT = b"\xe0\x00"

RC_BAD_CREDENTIALS = 4
RC_NOT_AUTHORISED = 5

_CLEAN_SESSION = 0x02
_PASSWORD_FLAG = 0x40
_USERNAME_FLAG = 0x80


@dataclass(frozen=True, slots=True)
class ChargerLogin:
    """A way a charger may log in, and the firmware known (or said) to use it."""

    firmware: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


ANONYMOUS_LOGIN = ChargerLogin(firmware="v0.3.6")


def arbitrary_login() -> ChargerLogin:
    """A username and password no broker can know: what v0.4.0 might send.

    Made up anew for each probe, so that only a broker admitting any login
    admits it.
    """
    return ChargerLogin(
        firmware="v0.4.0",
        username=f"novabot-probe-{secrets.token_hex(4)}",
        password=secrets.token_urlsafe(12),
    )


class ProbeOutcome(StrEnum):
    """What the broker did with an MQTT 3.1.1 CONNECT."""

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
        """Refused for lack of (known) credentials (the Mosquitto add-on answers 5)."""
        return self.outcome is ProbeOutcome.REFUSED and self.return_code in (
            RC_BAD_CREDENTIALS,
            RC_NOT_AUTHORISED,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """How a broker treats each way a charger logs in."""

    results: dict[ChargerLogin, ProbeResult]

    @property
    def admits_every_charger(self) -> bool:
        """Every way of logging in gets in: safe for direct mode."""
        return all(
            result.outcome is ProbeOutcome.ACCEPTED for result in self.results.values()
        )

    @property
    def refused_logins(self) -> tuple[ChargerLogin, ...]:
        """The logins the broker turns away for want of credentials it knows."""
        return tuple(
            login for login, result in self.results.items() if result.login_required
        )

    @property
    def failure(self) -> ProbeResult | None:
        """A result that is neither a welcome nor a request for a login.

        Nothing listens, something that is not MQTT answers, or the broker
        refuses for another reason: no gateway can help with that.
        """
        return next(
            (
                result
                for result in self.results.values()
                if result.outcome is not ProbeOutcome.ACCEPTED
                and not result.login_required
            ),
            None,
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


def connect_packet(client_id: str, login: ChargerLogin = ANONYMOUS_LOGIN) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session, logging in like ``login``."""
    flags = _CLEAN_SESSION
    payload = _utf8_field(client_id)
    if login.username is not None:
        flags |= _USERNAME_FLAG
        payload += _utf8_field(login.username)
    if login.password is not None:
        flags |= _PASSWORD_FLAG
        payload += _utf8_field(login.password)
    variable_header = (
        _utf8_field("MQTT")
        + bytes([4, flags])  # protocol level 3.1.1
        + KEEPALIVE_SECONDS.to_bytes(2, "big")
    )
    body = variable_header + payload
    return bytes([0x10]) + _remaining_length(len(body)) + body


async def probe_broker(
    host: str,
    port: int,
    login: ChargerLogin = ANONYMOUS_LOGIN,
    timeout: float = PROBE_TIMEOUT,
) -> ProbeResult:
    """Connect to ``host:port`` as a charger logging in like ``login`` would."""
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
        writer.write(connect_packet(client_id, login))
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


async def probe_charger_logins(
    host: str, port: int, timeout: float = PROBE_TIMEOUT
) -> Admission:
    """Probe ``host:port`` without a login and with a made-up one, side by side."""
    logins = (ANONYMOUS_LOGIN, arbitrary_login())
    results = await asyncio.gather(
        *(probe_broker(host, port, login, timeout) for login in logins)
    )
    return Admission(dict(zip(logins, results, strict=True)))


def _parse_connack(connack: bytes, writer: asyncio.StreamWriter) -> ProbeResult:
    if connack[0] != CONNACK or connack[1] != 2:
        return ProbeResult(ProbeOutcome.NOT_MQTT, detail="answer is not a CONNACK")
    return_code = connack[3]
    if return_code == 0:
        writer.write(DISCONNECT)
        return ProbeResult(ProbeOutcome.ACCEPTED, return_code=0)
    return ProbeResult(ProbeOutcome.REFUSED, return_code=return_code)
