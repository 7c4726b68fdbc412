"""The Bluetooth provisioning session: the commands, in order, each answered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any, Protocol

from bleak.exc import BleakError

from .commands import (
    Command,
    ProvisioningSettings,
    RadioPairing,
    Reply,
    parse_reply,
    provisioning_commands,
    radio_kept,
    step_succeeded,
    stored_channel,
)
from .errors import LinkLostError, NoReplyError, NovabotError, StepFailedError
from .framing import DEFAULT_CHUNK_SIZE, FrameAssembler, encode_frame

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_LOGGER = logging.getLogger(__name__)

SERVICE_UUID = "00001234-0000-1000-8000-00805f9b34fb"
COMMAND_CHARACTERISTIC = "00002222-0000-1000-8000-00805f9b34fb"

# How long to wait for each reply: the firmware's own limit plus a margin.
# set_wifi_info is answered only once the charger has joined the network (or
# has given up, after 55 s); the RTK receiver takes up to 30 s; the LoRa scan
# up to 60 s. The last two steps are answered at once.
STEP_TIMEOUTS: Mapping[Command, float] = {
    Command.SET_WIFI_INFO: 65.0,
    Command.SET_RTK_INFO: 60.0,
    Command.SET_LORA_INFO: 75.0,
    Command.SET_MQTT_INFO: 15.0,
    Command.SET_CFG_INFO: 15.0,
}
# The pace of the community tools that provision real chargers, also through
# ESPHome Bluetooth proxies: 100 ms between writes, 1 s after each reply.
WRITE_INTERVAL = 0.1
REPLY_PAUSE = 1.0


class BleClient(Protocol):
    """The part of ``bleak.BleakClient`` a session needs."""

    async def start_notify(
        self, char_specifier: str, callback: Callable[[Any, bytearray], None]
    ) -> None:
        """Deliver notifications of a characteristic to ``callback``."""

    async def write_gatt_char(
        self, char_specifier: str, data: bytes, response: bool
    ) -> None:
        """Write to a characteristic."""

    async def disconnect(self) -> object:
        """Drop the link."""


@dataclass(frozen=True, slots=True)
class ProvisioningResult:
    """What a successful session leaves behind.

    ``radio`` is the pairing the charger stored when it was asked to pair its
    radio (with the channel its reply named); ``None`` when it was not asked,
    or when its scan timed out (``radio_kept``) and it kept its old pairing.
    """

    radio: RadioPairing | None = None
    radio_kept: bool = False


class ProvisioningSession:
    """Provision one charger over an already connected client.

    Wire :meth:`connection_lost` to the client's disconnect callback so the
    session learns at once when the link drops.
    """

    def __init__(
        self,
        client: BleClient,
        *,
        timeouts: Mapping[Command, float] = STEP_TIMEOUTS,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        write_interval: float = WRITE_INTERVAL,
        reply_pause: float = REPLY_PAUSE,
    ) -> None:
        self._client = client
        self._timeouts = timeouts
        self._chunk_size = chunk_size
        self._write_interval = write_interval
        self._reply_pause = reply_pause
        self._assembler = FrameAssembler()
        self._awaiting: tuple[str, asyncio.Future[Reply]] | None = None
        self._link_lost = False

    def connection_lost(self) -> None:
        """The Bluetooth link dropped."""
        self._link_lost = True
        if self._awaiting and not self._awaiting[1].done():
            self._awaiting[1].set_exception(_LinkDroppedError())

    async def run(
        self,
        settings: ProvisioningSettings,
        on_step: Callable[[Command], None] | None = None,
        on_reply: Callable[[Command, Reply], None] | None = None,
    ) -> ProvisioningResult:
        """Send the commands; return what the charger stored of its radio.

        ``on_step`` hears each command as it is sent, ``on_reply`` each reply
        the session goes on after. Nothing else is sent: a query before
        ``set_wifi_info`` would make the charger leave provisioning mode.
        """
        result = ProvisioningResult()
        try:
            await self._client.start_notify(COMMAND_CHARACTERISTIC, self._notified)
            for index, (command, message) in enumerate(provisioning_commands(settings)):
                if index and self._reply_pause:
                    await asyncio.sleep(self._reply_pause)
                if on_step:
                    on_step(command)
                reply = await self._exchange(command, message)
                if reply is None:  # the charger rebooted after committing
                    break
                if not step_succeeded(command, reply):
                    raise StepFailedError(command, reply.result)
                if on_reply:
                    on_reply(command, reply)
                if command is Command.SET_LORA_INFO and settings.radio:
                    result = _radio_outcome(settings.radio, command, reply)
        finally:
            await self._disconnect()
        return result

    async def _exchange(
        self, command: Command, message: dict[str, Any]
    ) -> Reply | None:
        """Send one command and wait for its reply.

        Returns ``None`` only when the link drops after ``set_cfg_info`` was
        written: the charger reboots once it has committed, so that is success.
        """
        committing = command is Command.SET_CFG_INFO
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._awaiting = (command.reply_type, future)
        try:
            await self._write(command, message)
            timeout = self._timeouts[command]
            async with asyncio.timeout(timeout):
                return await future
        except _LinkDroppedError:
            if committing:
                return None
            raise LinkLostError(command) from None
        except TimeoutError:
            if committing and self._link_lost:
                return None
            raise NoReplyError(command, self._timeouts[command]) from None
        finally:
            self._awaiting = None
            # A drop during the write leaves an exception nobody awaits; read it
            # so asyncio does not log it as never retrieved.
            if future.done() and not future.cancelled():
                future.exception()

    async def _write(self, command: Command, message: dict[str, Any]) -> None:
        for index, chunk in enumerate(encode_frame(message, self._chunk_size)):
            if self._link_lost:
                raise LinkLostError(command)
            if index and self._write_interval:
                await asyncio.sleep(self._write_interval)
            try:
                await self._client.write_gatt_char(
                    COMMAND_CHARACTERISTIC, chunk, response=False
                )
            except (BleakError, EOFError, OSError) as err:
                raise LinkLostError(command) from err

    def _notified(self, _sender: Any, data: bytearray) -> None:
        try:
            message = self._assembler.feed(data)
            if message is None:
                return
            reply = parse_reply(message)
        except NovabotError as err:
            _LOGGER.debug("Ignoring unreadable notification: %s", err)
            return
        if self._awaiting is None or self._awaiting[1].done():
            _LOGGER.debug("Ignoring unexpected %s", reply.type)
            return
        expected, future = self._awaiting
        if reply.type == expected:
            future.set_result(reply)
        else:
            _LOGGER.debug("Ignoring %s while waiting for %s", reply.type, expected)

    async def _disconnect(self) -> None:
        try:
            await self._client.disconnect()
        except (BleakError, EOFError, OSError) as err:
            _LOGGER.debug("Disconnect after provisioning failed: %s", err)


def _radio_outcome(
    asked: RadioPairing, command: Command, reply: Reply
) -> ProvisioningResult:
    """What the charger did with the pairing it was asked to store."""
    if radio_kept(command, reply):
        return ProvisioningResult(radio_kept=True)
    # The channel was pinned: a reply without one stored the one asked for.
    channel = stored_channel(reply)
    return ProvisioningResult(
        radio=RadioPairing(asked.address, asked.channel if channel is None else channel)
    )


class _LinkDroppedError(Exception):
    """Internal: the link dropped while a reply was awaited."""
