"""Listen to what chargers report on the broker, while a config flow needs it.

Every charger publishes on ``Dart/Receive_mqtt/<SN>``. The listener subscribes
to all of them and keeps the first report of each serial number that decodes
(plain, or encrypted with that serial number's key): a report that decodes
proves a real charger. Later reports of a known charger are not decoded again.

The config flow uses it twice: :func:`async_listen` finds chargers that already
report (adoption, no Bluetooth needed), and :func:`async_claim` is the claim
window, waiting for the first report of a charger it has just provisioned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, callback

from ..coordinator import payload_bytes
from ..protocol import (
    STATUS_TOPIC_FILTER,
    InvalidInputError,
    InvalidMessageError,
    PayloadCodec,
    decode_message,
    normalize_serial_number,
    parse_status,
    serial_number_from_topic,
)

if TYPE_CHECKING:
    from collections.abc import Collection
    from types import TracebackType

    from homeassistant.core import HomeAssistant

    from ..protocol import ChargerStatus

# Chargers report every ~2 s: three intervals and a margin find every one.
LISTEN_TIME = 7.0
MAX_CHARGERS = 32  # more serial numbers than any home has: stop collecting


class ReportListener:
    """The first valid report of each charger heard while listening.

    Use as an async context manager: it subscribes on entry and unsubscribes on
    exit. Serial numbers in ``ignore`` (configured chargers) are not decoded.
    """

    def __init__(self, hass: HomeAssistant, ignore: Collection[str] = ()) -> None:
        self._hass = hass
        self._ignore = frozenset(ignore)
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._waiting: dict[str, asyncio.Future[ChargerStatus]] = {}
        self.first_reports: dict[str, ChargerStatus] = {}

    async def __aenter__(self) -> Self:
        """Subscribe to every charger's report topic."""
        self._unsubscribe = await mqtt.async_subscribe(
            self._hass, STATUS_TOPIC_FILTER, self._report_received, encoding=None
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Unsubscribe."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None

    async def async_first_report(
        self, serial_number: str, timeout: float
    ) -> ChargerStatus | None:
        """The charger's first valid report, or ``None`` after ``timeout`` seconds."""
        heard = self._waiting.setdefault(serial_number, self._hass.loop.create_future())
        try:
            async with asyncio.timeout(timeout):
                return await heard
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(serial_number, None)

    @callback
    def _report_received(self, message: mqtt.ReceiveMessage) -> None:
        sender = serial_number_from_topic(message.topic)
        if (
            sender is None
            or sender in self.first_reports
            or sender in self._ignore
            or len(self.first_reports) >= MAX_CHARGERS
        ):
            return
        try:
            if normalize_serial_number(sender) != sender:
                return  # chargers publish under their upper-case serial number
            status = parse_status(
                decode_message(
                    payload_bytes(message.payload), PayloadCodec(sender)
                ).document
            )
        except InvalidInputError, InvalidMessageError:
            return  # not a charger's topic, or not a report: nothing proven
        self.first_reports[sender] = status
        if (waiting := self._waiting.get(sender)) and not waiting.done():
            waiting.set_result(status)


@dataclass(frozen=True, slots=True)
class Claim:
    """What the claim window heard."""

    status: ChargerStatus | None  # the charger's first report; None if it was silent
    others: tuple[str, ...]  # other chargers not set up that reported, sorted


async def async_listen(
    hass: HomeAssistant, ignore: Collection[str], seconds: float
) -> dict[str, ChargerStatus]:
    """The first report of each charger not in ``ignore`` heard within ``seconds``."""
    async with ReportListener(hass, ignore) as listener:
        await asyncio.sleep(seconds)
        return listener.first_reports


async def async_claim(
    hass: HomeAssistant, serial_number: str, ignore: Collection[str], timeout: float
) -> Claim:
    """Wait up to ``timeout`` seconds for the first report of ``serial_number``.

    A reconfigured charger is in ``ignore`` (configured chargers), and still
    the one awaited. The others heard meanwhile likely include the charger on
    the user's bench, when its serial number was mistyped.
    """
    async with ReportListener(hass, set(ignore) - {serial_number}) as listener:
        status = await listener.async_first_report(serial_number, timeout)
        others = listener.first_reports.keys() - {serial_number}
    return Claim(status, tuple(sorted(others)))
