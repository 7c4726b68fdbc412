"""A Novabot charger in Bluetooth provisioning mode, simulated for tests.

The specification is ``docs/charger-protocol.md`` §1 (in the shared docs): where
this model and that document disagree, this model is wrong.

``VirtualCharger`` stands in for a connected ``bleak.BleakClient``: code under
test calls ``start_notify``, ``write_gatt_char`` and ``disconnect`` on it, and
it answers the way the charger firmware does:

* writes between ``ble_start`` and ``ble_end`` are concatenated into one JSON
  object (a ``ble_start`` discards what was collected); a write outside a frame
  is dropped; a message over the 1024-byte receive buffer is dropped;
* each command is answered with notifications of at most 20 bytes between
  ``ble_start`` and ``ble_end``, spaced ``timings.notification_interval`` apart;
  the last chunk of a reply is padded with NUL bytes, as the firmware may do;
* replies look like ``{"type": "<cmd>_respond", "message": {"result": 0, "value": ...}}``;
* each step takes as long as the firmware does (``timings``): ``set_wifi_info``
  is answered once the charger has joined the network, or with a failure when it
  gives up; ``set_rtk_info`` configures the receiver; ``set_lora_info`` scans;
* each ``set_*`` command stores its own setting, in any order: the firmware
  enforces none (only the trap below), and what is not sent keeps its value;
* after ``set_cfg_info`` 1 it replies, drops the link and reboots (its MQTT
  side boots afresh: ``ChargerFirmware.reboot``); ``set_cfg_info`` 0 erases the
  stored settings instead, without a reboot.

The radio (``tests/lora_link.py``): the charger's LoRa link belongs to its MQTT
side, ``firmware`` (a ``ChargerFirmware``; by default one fresh from the
factory: its own random address, never 718, and a random channel, its mower
paired to both; ``seed`` makes them repeatable). ``set_lora_info``
``{"addr": A, "channel": C, "hc": H, "lc": L}`` programs address A and scans
channels L..H for the quietest quiet one, ``timings.lora_scan`` long (H = L
pins the channel; without ``hc`` and ``lc`` C is pinned); the mower stops
answering once the address or channel differ from its pairing. A scan that
finds no quiet channel (``quiet_channels``: the only channels quiet enough,
quietest first), or that ``results`` makes fail, times out: ``result`` 1,
nothing stored. A successful one answers the channel it landed on, in one of
the shapes of ``lora_reply``: ``{"value": C}`` (captured, the default),
``{"result": 0, "value": C}``, ``{"result": 0, "value": {"addr": A, "channel": C}}``
(never seen on a real charger).

The firmware's state machine, as simulated::

    AWAITING_WIFI --set_wifi_info--> CONFIGURING --set_cfg_info 1--> REBOOTED
          |
          +--any query (get_signal_info...)--> LOCKED

* ``AWAITING_WIFI``: fresh from power-up. A query (any command that is not
  ``set_*``) is answered after measuring the radio, and springs the trap: the
  charger leaves provisioning mode. A failed join leaves it waiting here.
* ``CONFIGURING``: the network is joined; commands are answered, queries too.
* ``LOCKED``: every ``set_*`` command is silently ignored; queries are answered.
* ``REBOOTED``: the link is down; writes raise ``BleakError``.

Whenever the link is down (lost, rebooted, or ``disconnect()`` called),
``is_connected`` is false, writes raise ``BleakError``, and the disconnected
callback has been called once.

Everything received is recorded: ``writes`` (raw) with ``write_times`` (the
event loop's clock), ``received`` (decoded commands, in order, whatever the
state), ``garbage`` (writes outside a frame, frames that were not a JSON
object, or too long);
``notifications`` holds what was sent back. ``settings`` holds the last accepted
value of each ``set_*`` command and ``committed`` a copy taken at
``set_cfg_info`` 1.

Misbehaviour is configured per step (a step is a command name such as
``"set_rtk_info"``; ``protocol.Command`` members work as keys too): ``results``
(non-zero result codes: for ``set_wifi_info`` a join that never succeeds, for
``set_lora_info`` a scan that times out), ``silent`` (the charger hangs
on that step: no reply, nothing stored), ``lose_link`` (the link drops before or
after that step's reply), ``chatter`` (raw notifications sent before the reply).
Globally: ``reply_to_cfg=False`` (drop the link after ``set_cfg_info`` without
replying), ``duplicate_replies`` (every reply is sent twice), ``failing_write``
(the write with this 0-based index raises ``BleakError`` without dropping the
link).

Replies are sent from tasks the charger owns: ``wait_idle()`` waits for them,
``disconnect()`` cancels and awaits them, so a test that ends with either
leaves nothing behind. A scan goes on in the radio when they are cancelled:
its outcome takes effect when it ends (``LoraLink.settle``).
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from enum import StrEnum
import inspect
import json
from typing import Any

from bleak.exc import BleakError

from .charger_firmware import ChargerFirmware
from .lora_link import LoraLink, quiet_channels_noise

COMMAND_CHARACTERISTIC = "00002222-0000-1000-8000-00805f9b34fb"
FRAME_START = b"ble_start"
FRAME_END = b"ble_end"
NOTIFICATION_SIZE = 20
RECEIVE_BUFFER = 1024
# The provisioning commands, in the vendor app's order.
STEPS = (
    "set_wifi_info",
    "set_rtk_info",
    "set_lora_info",
    "set_mqtt_info",
    "set_cfg_info",
)
SERIAL_NUMBER = "LFIC1230700123"  # the one its factory firmware has
COMMIT, ERASE = 1, 0  # the values of set_cfg_info

type NotifyCallback = Callable[[Any, bytearray], Awaitable[None] | None]
type DisconnectedCallback = Callable[["VirtualCharger"], None]


@dataclass(frozen=True, slots=True)
class FirmwareTimings:
    """How long the firmware takes, in seconds."""

    wifi_join: float = 0.0  # until set_wifi_info is answered, the network joined
    wifi_give_up: float = 0.0  # until a join that cannot succeed is answered
    rtk_setup: float = 0.0  # set_rtk_info: configuring the GNSS/RTK receiver
    lora_scan: float = 0.0  # set_lora_info: scanning for a quiet channel
    signal_measurement: float = 0.0  # get_signal_info: measuring the radio
    reboot: float = 0.0  # from the set_cfg_info reply to the link dropping
    notification_interval: float = 0.0  # between two notifications

    def step(self, command: str, succeeded: bool) -> float:
        """How long the firmware works on ``command`` before it answers."""
        if command == "set_wifi_info":
            return self.wifi_join if succeeded else self.wifi_give_up
        return {
            "set_rtk_info": self.rtk_setup,
            "set_lora_info": self.lora_scan,
            "get_signal_info": self.signal_measurement,
        }.get(command, 0.0)


INSTANT = FirmwareTimings()
# The longest the protocol document allows for each step: what a session's
# timeouts must cover.
SLOWEST = FirmwareTimings(
    wifi_join=55.0,
    wifi_give_up=55.0,
    rtk_setup=30.0,
    lora_scan=60.0,
    signal_measurement=60.0,
    reboot=1.0,
    notification_interval=0.03,
)


class LoraReply(StrEnum):
    """The shapes of a successful ``set_lora_info`` reply the document allows."""

    INTEGER = "integer"  # {"result": 0, "value": 15}
    NO_RESULT = "no_result"  # {"value": 15}: captured
    OBJECT = "object"  # {"result": 0, "value": {"addr": 4242, "channel": 15}}


class ChargerState(StrEnum):
    """Where the simulated firmware's provisioning state machine stands."""

    AWAITING_WIFI = "awaiting_wifi"
    CONFIGURING = "configuring"
    LOCKED = "locked"
    REBOOTED = "rebooted"


class LinkLoss(StrEnum):
    """When, relative to a step's reply, the link drops."""

    BEFORE_REPLY = "before_reply"
    AFTER_REPLY = "after_reply"


def factory_firmware(seed: int | None = None) -> ChargerFirmware:
    """A charger fresh from the factory: its own random LoRa address and
    channel, its mower paired to both, repeatable with ``seed``."""
    return ChargerFirmware(SERIAL_NUMBER, lora_channel=None, seed=seed)


class VirtualCharger:
    """A fake bleak client that behaves like the charger's provisioning firmware."""

    def __init__(
        self,
        *,
        firmware: ChargerFirmware | None = None,
        seed: int | None = None,
        quiet_channels: Sequence[int] | None = None,
        disconnected_callback: DisconnectedCallback | None = None,
        timings: FirmwareTimings = INSTANT,
        lora_reply: LoraReply = LoraReply.NO_RESULT,
        results: Mapping[str, int] | None = None,
        silent: Collection[str] = (),
        lose_link: Mapping[str, LinkLoss] | None = None,
        chatter: Mapping[str, Sequence[bytes]] | None = None,
        reply_to_cfg: bool = True,
        duplicate_replies: bool = False,
        failing_write: int | None = None,
        address: str = "AA:BB:CC:DD:EE:FF",
    ) -> None:
        self.address = address
        self.firmware = firmware if firmware is not None else factory_firmware(seed)
        if quiet_channels is not None:
            self.link.noise = quiet_channels_noise(quiet_channels)
        self.timings = timings
        self.lora_reply = lora_reply
        self.results = dict(results or {})
        self.silent = set(silent)
        self.lose_link = dict(lose_link or {})
        self.chatter = {step: list(data) for step, data in (chatter or {}).items()}
        self.reply_to_cfg = reply_to_cfg
        self.duplicate_replies = duplicate_replies
        self.failing_write = failing_write

        self.state = ChargerState.AWAITING_WIFI
        self.writes: list[bytes] = []
        self.write_times: list[float] = []
        self.received: list[dict[str, Any]] = []
        self.garbage: list[bytes] = []
        self.notifications: list[bytes] = []
        self.settings: dict[str, Any] = {}
        self.committed: dict[str, Any] | None = None
        self.disconnect_calls = 0

        self._disconnected_callback = disconnected_callback
        self._connected = True
        self._subscribers: dict[str, NotifyCallback] = {}
        self._frame: bytearray | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the bleak client surface ------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether the Bluetooth link is up."""
        return self._connected

    def set_disconnected_callback(self, callback: DisconnectedCallback | None) -> None:
        """Replace the callback called (with this client) when the link drops."""
        self._disconnected_callback = callback

    async def start_notify(
        self, char_specifier: Any, callback: NotifyCallback, **_kwargs: Any
    ) -> None:
        """Deliver the notifications of ``char_specifier`` to ``callback``."""
        self._check_connected()
        self._subscribers[str(char_specifier)] = callback

    async def write_gatt_char(
        self, char_specifier: Any, data: bytes, response: bool | None = None
    ) -> None:
        """Receive one write; a completed command is answered from a task."""
        self._check_connected()
        index = len(self.writes)
        self.writes.append(bytes(data))
        self.write_times.append(asyncio.get_running_loop().time())
        if index == self.failing_write:
            raise BleakError("simulated GATT write failure")
        if str(char_specifier) != COMMAND_CHARACTERISTIC:
            return
        message = self._reassemble(bytes(data))
        if message is not None:
            self._receive(message)

    async def disconnect(self) -> None:
        """Drop the link from our side; cancel and await pending replies."""
        self.disconnect_calls += 1
        current = asyncio.current_task()
        pending = [task for task in self._tasks if task is not current]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._link_down()

    # --- helpers for tests --------------------------------------------------

    @property
    def link(self) -> LoraLink:
        """Its LoRa radio and its mower's pairing (its MQTT side's too)."""
        return self.firmware.link

    @property
    def commands(self) -> list[str]:
        """The names of the commands received, in order."""
        return [next(iter(message)) for message in self.received]

    async def wait_idle(self) -> None:
        """Wait until every command received so far has been answered."""
        while pending := [t for t in self._tasks if t is not asyncio.current_task()]:
            await asyncio.wait(pending)

    def break_link(self) -> None:
        """Drop the link now, as if the charger went out of range."""
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._link_down()

    @staticmethod
    def frame(message: Mapping[str, Any] | bytes) -> list[bytes]:
        """The notifications that carry ``message``; the last chunk NUL-padded."""
        body = (
            message
            if isinstance(message, bytes)
            else json.dumps(message, separators=(",", ":")).encode()
        )
        chunks = [
            body[i : i + NOTIFICATION_SIZE]
            for i in range(0, len(body), NOTIFICATION_SIZE)
        ]
        if chunks:
            chunks[-1] = chunks[-1].ljust(NOTIFICATION_SIZE, b"\x00")
        return [FRAME_START, *chunks, FRAME_END]

    async def notify(self, data: bytes) -> None:
        """Send one raw notification on the command characteristic."""
        self.notifications.append(data)
        callback = self._subscribers.get(COMMAND_CHARACTERISTIC)
        if callback is None:  # nobody subscribed: the notification is lost
            return
        outcome = callback(COMMAND_CHARACTERISTIC, bytearray(data))
        if inspect.isawaitable(outcome):
            await outcome

    # --- the firmware -------------------------------------------------------

    def _reassemble(self, data: bytes) -> dict[str, Any] | None:
        """Frame handling: markers, concatenation, a lone write is a message."""
        if data == FRAME_START:
            self._frame = bytearray()
            return None
        if self._frame is None:
            self.garbage.append(data)  # not inside a frame
            return None
        if data == FRAME_END:
            body, self._frame = bytes(self._frame), None
            return self._decode(body)
        self._frame += data
        return None

    def _decode(self, body: bytes) -> dict[str, Any] | None:
        if len(body) > RECEIVE_BUFFER:
            self.garbage.append(body)  # the receive buffer overflowed
            return None
        try:
            message = json.loads(body.decode())
        except ValueError:
            message = None
        if not isinstance(message, dict) or not message:
            self.garbage.append(body)
            return None
        return message

    def _receive(self, message: dict[str, Any]) -> None:
        """Apply one command to the state machine and schedule the answer."""
        self.received.append(message)
        command, value = next(iter(message.items()))
        is_setter = command.startswith("set_")
        if self.state is ChargerState.AWAITING_WIFI and not is_setter:
            self.state = ChargerState.LOCKED  # the get_signal_info trap
        elif self.state is ChargerState.LOCKED and is_setter:
            return
        if command in self.silent:
            return  # this step hangs: never answered, nothing stored
        result = self.results.get(command, 0)
        if command == "set_lora_info":
            result = self._scan(value, forced_failure=result)
        if is_setter and result == 0:
            self._store(command, value)
        self._spawn(self._answer(command, self.timings.step(command, result == 0)))

    def _scan(self, value: Any, forced_failure: int) -> int:
        """Reprogram the radio; the scan's result (1: it will time out)."""
        fields = value if isinstance(value, dict) else {}
        address = _number(fields.get("addr"), self.link.address) & 0xFFFF
        channel = _number(fields.get("channel"), self.link.channel) & 0xFF
        stores = self.link.reprogram(
            address,
            _number(fields.get("lc"), channel) & 0xFF,
            _number(fields.get("hc"), channel) & 0xFF,
            now=asyncio.get_running_loop().time(),
            duration=self.timings.lora_scan,
            times_out=bool(forced_failure),
        )
        return forced_failure or (0 if stores is not None else 1)

    def _store(self, command: str, value: Any) -> None:
        if command == "set_cfg_info" and value == ERASE:
            # Everything stored goes; the document says the radio pairing too,
            # which is not simulated (what the radio falls back to is unknown).
            self.settings.clear()
            return
        self.settings[command] = value
        if command == "set_wifi_info":
            self.state = ChargerState.CONFIGURING

    async def _answer(self, command: str, duration: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(duration)
        self.link.settle(loop.time())
        for data in self.chatter.get(command, ()):
            await self.notify(data)
        loss = self.lose_link.get(command)
        if loss is LinkLoss.BEFORE_REPLY:
            self.break_link()
            return
        committing = (
            command == "set_cfg_info"
            and self.results.get(command, 0) == 0
            and self.settings.get(command) == COMMIT
        )
        if committing:  # stored for good, whatever happens to the link now
            self.committed = dict(self.settings)
            self.state = ChargerState.REBOOTED
        if self.reply_to_cfg or not committing:
            for _ in range(2 if self.duplicate_replies else 1):
                await self._send(self._reply(command))
        if committing:  # send the settings to the mower, drop the link, reboot
            if self.timings.reboot:
                await asyncio.sleep(self.timings.reboot)
            self.break_link()
            self.firmware.reboot(loop.time())
        elif loss is LinkLoss.AFTER_REPLY:
            self.break_link()

    async def _send(self, message: Mapping[str, Any]) -> None:
        for index, data in enumerate(self.frame(message)):
            if index and self.timings.notification_interval:
                await asyncio.sleep(self.timings.notification_interval)
            await self.notify(data)

    def _reply(self, command: str) -> dict[str, Any]:
        result = self.results.get(command, 0)
        body: dict[str, Any] = {"result": result, "value": None}
        if command == "set_lora_info":
            body = self._lora_body()
        elif command == "get_signal_info":
            body["value"] = {"wifi": 0, "rtk": 0}
        return {"type": f"{command}_respond", "message": body}

    def _lora_body(self) -> dict[str, Any]:
        scan = self.link.scans[-1]
        if scan.stores is None:  # it timed out: nothing stored
            return {"result": self.results.get("set_lora_info") or 1}
        channel = scan.stores.channel
        match self.lora_reply:
            case LoraReply.INTEGER:
                return {"result": 0, "value": channel}
            case LoraReply.NO_RESULT:
                return {"value": channel}
            case LoraReply.OBJECT:
                address = scan.stores.address
                return {"result": 0, "value": {"addr": address, "channel": channel}}

    # --- plumbing -----------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_connected(self) -> None:
        if not self._connected:
            raise BleakError("not connected")

    def _link_down(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self._frame = None
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)


def _number(value: Any, otherwise: int) -> int:
    """A JSON integer field as the firmware reads it; ``otherwise`` when absent."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return otherwise
