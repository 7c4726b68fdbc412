"""A provisioned charger on MQTT, simulated: its reports and its answers.

The specification is ``docs/charger-protocol.md`` §2 (in the shared docs): where
this model and that document disagree, this model is wrong. This is the
virtual charger's MQTT side, without a transport: ``scripts/simulate-charger``
runs it over paho, and the tests over Home Assistant's MQTT
(``tests/mqtt_charger.py``). Its LoRa link (``tests/lora_link.py``) may be
shared with the Bluetooth side (``tests/virtual_charger.py``): what
provisioning did to the radio shows here. Times are plain numbers (seconds on
the caller's clock).

As the firmware does:

* it handles one message at a time: one that arrives while a command is being
  handled (up to 4 s for a mower command) is dropped without a reply, and its
  reports pause meanwhile;
* firmware v0.4.0 (``encrypt=True``) drops what is not AES-encrypted with its
  key; v0.3.6 takes plain JSON;
* the queries need the value ``null`` (v0.4.0 ignores ``0`` or ``{}``),
  ``start_run`` three numbers, the other mower commands ``{}``; a message
  with another value gets no reply. The first known key of a message wins;
* ``get_lora_info`` answers the radio's address, channel and last noise
  reading, from its link;
* a mower command is relayed over LoRa: ``result`` 0 when the mower
  acknowledged, 1 when it refused or did not answer (out of range, not paired
  to the charger's address and channel, or ``acknowledges=False``);
* reports: bit 8 of ``charger_status`` (RTK OK) stays off for the 60 s survey
  after each boot (``started``, :meth:`ChargerFirmware.reboot`), GPS fix does
  not wait; ``mower_error`` counts the heartbeats in a row the mower missed,
  reported as 0 below 2 and growing without bound; the mower's fields are the
  last frame it sent, stale once it stops answering (never cleared).

When a mower command is answered (``reply_timing``):

* ``ReplyTiming.QUICK`` (the default, for the integration's tests): an
  acknowledgement or a refusal after ``ack_time`` (0.5 s), no answer after
  ``ack_wait`` (4 s);
* ``ReplyTiming.FIRMWARE``: as the firmware does. It queues the frame, waits up
  to 1 s for it to go out, then checks for the mower's answer three times, a
  second apart: an acknowledgement or a refusal is seen after 1, 2, 3 or 4 s
  (drawn from the seeded random source; a refusal can come early), no answer
  gives ``result`` 1 after 4 s.

``refusal_rate`` is the share of the commands it hears that the mower refuses.

The simulated mower leaves the dock and mows when started, pauses, resumes,
stops, returns and docks when told, drains its battery while mowing and charges
it docked, and heads home when it runs low. Its status frame carries its work
status (byte 2), its recharge status (byte 1: 9 on the charger, 191/192 while
driving back and docking) and its task mode (byte 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
import json
import random
from typing import Any, Literal

from custom_components.novabot.protocol import (
    InvalidMessageError,
    PayloadCodec,
    decode_message,
)

from .lora_link import START_UP_NOISE, LoraLink

# The firmware's wait for the mower: up to 1 s for the frame to go out, then
# three checks a second apart.
ACK_WAIT = 4.0
ANSWER_SEEN_AFTER = (1.0, 2.0, 3.0, 4.0)  # the moments the firmware can see one
RTK_SURVEY = 60.0  # seconds after a boot before RTK is OK
CAPTURED_CHANNEL = 17  # the channel of the charger whose get_lora_info was captured
QUERIES = ("ota_version_info", "get_lora_info")
MOWER_COMMANDS = (
    "start_run",
    "pause_run",
    "resume_run",
    "stop_run",
    "stop_time_run",
    "go_pile",
)

# Work status codes (the protocol document's table).
IDLE, STOPPED_BY_USER, RETURNING_ASKED, RETURNING_LOW = 0, 10, 11, 12
LEAVING_DOCK, MOWING, RETURNING, DOCKING = 56, 90, 191, 192
# How long the mower stays in a passing state before the next one.
NEXT_STATE = {
    LEAVING_DOCK: (3.0, MOWING),
    RETURNING_ASKED: (2.0, RETURNING),
    RETURNING_LOW: (2.0, RETURNING),
    RETURNING: (10.0, DOCKING),
    DOCKING: (3.0, IDLE),
}
# Recharge status codes (byte 1 of mower_status).
ON_THE_CHARGER = 9
DRIVING_BACK = {
    RETURNING_ASKED: 191,
    RETURNING_LOW: 191,
    RETURNING: 191,
    DOCKING: 192,
}


class ReplyTiming(StrEnum):
    """When the charger answers a mower command (see the module's docstring)."""

    QUICK = "quick"
    FIRMWARE = "firmware"


class _Default(Enum):
    MOWER = "a fresh SimulatedMower"


@dataclass
class SimulatedMower:
    """A mower that does what the charger relays to it."""

    work_status: int = IDLE
    battery: float = 100.0
    x: int = 0
    task_mode: int = 0  # byte 0 of its status frame; its meaning is not known
    since: float = 0.0  # when the current work status began
    drain_per_second: float = 0.05
    charge_per_second: float = 0.2

    def command(self, name: str, now: float) -> None:
        """Carry out an acknowledged command."""
        target = {
            "start_run": LEAVING_DOCK,
            "pause_run": STOPPED_BY_USER,
            "resume_run": MOWING,
            "stop_run": STOPPED_BY_USER,
            "go_pile": RETURNING_ASKED,
        }.get(name)
        if target is not None:
            self._become(target, now)

    def advance(self, seconds: float, now: float) -> None:
        """Let ``seconds`` pass: move, drain or charge, go on to the next state."""
        if self.work_status == MOWING:
            self.battery = max(0.0, self.battery - self.drain_per_second * seconds)
            self.x = (self.x + max(1, round(seconds))) % 0xFFFFFF
            if self.battery < 20:
                self._become(RETURNING_LOW, now)
        elif self.work_status == IDLE:
            self.battery = min(100.0, self.battery + self.charge_per_second * seconds)
        if (step := NEXT_STATE.get(self.work_status)) and now - self.since >= step[0]:
            self._become(step[1], now)

    @property
    def recharge_status(self) -> int:
        """9 docked, a driving-back code on its way home, 0 away from the charger."""
        if self.work_status == IDLE:
            return ON_THE_CHARGER
        return DRIVING_BACK.get(self.work_status, 0)

    def frame(self) -> dict[str, int]:
        """The LoRa status frame, as the charger copies it into its reports."""
        return {
            "mower_status": (self.work_status << 16)
            | (self.recharge_status << 8)
            | self.task_mode,
            "mower_info": round(self.battery) << 8,
            "mower_x": self.x,
            "mower_y": 0,
            "mower_z": 0,
            "mower_info1": 0,
        }

    def _become(self, work_status: int, now: float) -> None:
        self.work_status, self.since = work_status, now


class ChargerFirmware:
    """What a provisioned charger sends and answers on MQTT.

    ``lora_channel`` and ``lora_address`` are its radio's factory settings
    (``None``: drawn at random; the address always is unless given), its mower
    paired to them; ``link`` shares a radio instead (the Bluetooth side's).
    ``seed`` makes its random draws repeatable.
    """

    def __init__(
        self,
        serial_number: str,
        *,
        encrypt: bool = False,
        mower: SimulatedMower | Literal[_Default.MOWER] | None = _Default.MOWER,
        acknowledges: bool = True,
        ack_time: float = 0.5,
        ack_wait: float = ACK_WAIT,
        reply_timing: ReplyTiming = ReplyTiming.QUICK,
        refusal_rate: float = 0.0,
        lora_channel: int | None = CAPTURED_CHANNEL,
        lora_address: int | None = None,
        lora_noise_raw: int = START_UP_NOISE,
        link: LoraLink | None = None,
        seed: int | None = None,
        satellites: int = 17,
        started: float = 0.0,
    ) -> None:
        self.serial_number = serial_number
        self.encrypt = encrypt
        self.mower = SimulatedMower() if mower is _Default.MOWER else mower
        self.acknowledges = acknowledges  # whether the mower answers commands
        self.ack_time = ack_time
        self.ack_wait = ack_wait
        self.reply_timing = reply_timing
        self.refusal_rate = refusal_rate
        self.random = random.Random(seed)  # noqa: S311 - a simulation, no secret
        if link is None:
            link = LoraLink.factory(
                self.random,
                address=lora_address,
                channel=lora_channel,
                mower=self.mower is not None,
            )
            link.rssi = lora_noise_raw
        self.link = link
        self.satellites = satellites
        self.started = started  # when it booted
        self.busy_until = 0.0
        self.received: list[dict[str, Any]] = []
        self.dropped: list[bytes] = []
        self._mower_frame = dict.fromkeys(_FRAME, 0)  # the last one it received

    @property
    def firmware(self) -> str:
        """The version it reports."""
        return "v0.4.0" if self.encrypt else "v0.3.6"

    @property
    def lora_noise_raw(self) -> int:
        """The radio's last noise reading (raw byte; dBm = value - 256)."""
        return self.link.rssi

    @lora_noise_raw.setter
    def lora_noise_raw(self, value: int) -> None:
        self.link.rssi = value

    def busy(self, now: float) -> bool:
        """Handling a command: reports pause, new messages are dropped."""
        return now < self.busy_until

    def reboot(self, now: float) -> None:
        """Boot again: the RTK survey and the heartbeat count start afresh."""
        self.started = now
        self.busy_until = now

    def mower_answers(self, now: float) -> bool:
        """Whether its mower hears it and answers, at ``now``."""
        return self.mower is not None and self.link.mower_answers(now)

    def report(self, now: float) -> bytes:
        """The ``up_status_info`` payload to publish now."""
        if self.mower is not None and self.mower_answers(now):
            self._mower_frame = self.mower.frame()
        surveyed = now - self.started >= RTK_SURVEY
        gps_fix, rtk_ok = self.satellites >= 4, surveyed and self.satellites >= 12
        status = {
            "charger_status": (self.satellites << 24) | (rtk_ok << 8) | gps_fix,
            **self._mower_frame,
            "mower_error": self._mower_error(now),
        }
        return self._encode({"up_status_info": status})

    def receive(self, payload: bytes, now: float) -> tuple[float, bytes] | None:
        """A message on ``Dart/Send_mqtt/<SN>``: when to reply, and the reply.

        ``None``: no reply (dropped, not understood, or a value it ignores).
        """
        command = None if self.busy(now) else self._decode(payload)
        if command is None:
            self.dropped.append(payload)
            return None
        self.received.append(command)
        name = next(
            (key for key in command if key in (*QUERIES, *MOWER_COMMANDS)), None
        )
        if name is None or not _value_accepted(name, command[name]):
            return None
        if name in QUERIES:
            return now, self._reply(name, 0, self._query_value(name, now))
        delay, result = self._relay(now)
        self.busy_until = now + delay
        if result == 0 and self.mower is not None:
            self.mower.command(name, now + delay)
        return now + delay, self._reply(name, result, None)

    def _relay(self, now: float) -> tuple[float, int]:
        """How long the mower's answer takes to be seen, and the result."""
        if not (self.acknowledges and self.mower_answers(now)):
            return self._unanswered(), 1
        refused = self.refusal_rate > 0 and self.random.random() < self.refusal_rate
        return self._answered(), 1 if refused else 0

    def _answered(self) -> float:
        if self.reply_timing is ReplyTiming.FIRMWARE:
            return self.random.choice(ANSWER_SEEN_AFTER)
        return self.ack_time

    def _unanswered(self) -> float:
        return ACK_WAIT if self.reply_timing is ReplyTiming.FIRMWARE else self.ack_wait

    def _query_value(self, name: str, now: float) -> dict[str, Any]:
        if name == "ota_version_info":
            return {"system": "v0.0.1", "version": self.firmware}
        self.link.settle(now)
        return {
            "channel": self.link.channel,
            "addr": self.link.address,
            "rssi": self.link.rssi,
        }

    def _mower_error(self, now: float) -> int:
        misses = self.link.missed_heartbeats(now, booted=self.started)
        return misses if misses >= 2 else 0  # the charger says 0 below 2

    def _decode(self, payload: bytes) -> dict[str, Any] | None:
        try:
            message = decode_message(payload, PayloadCodec(self.serial_number))
        except InvalidMessageError:
            return None
        if message.encrypted != self.encrypt:
            return None  # v0.4.0 drops plain JSON; v0.3.6 cannot decrypt
        return message.document

    def _reply(self, name: str, result: int, value: Any) -> bytes:
        reply = {
            "type": f"{name}_respond",
            "message": {"result": result, "value": value},
        }
        return self._encode(reply)

    def _encode(self, document: dict[str, Any]) -> bytes:
        payload = json.dumps(document, separators=(",", ":")).encode()
        return (
            PayloadCodec(self.serial_number).encrypt(payload)
            if self.encrypt
            else payload
        )


_FRAME = ("mower_status", "mower_info", "mower_x", "mower_y", "mower_z", "mower_info1")


def _value_accepted(name: str, value: Any) -> bool:
    """The value types the firmware insists on."""
    if name in QUERIES:
        return value is None
    if name == "start_run":
        return isinstance(value, dict) and all(
            isinstance(value.get(key), int) and not isinstance(value.get(key), bool)
            for key in ("mapName", "area", "cutterhigh")
        )
    return value == {}
