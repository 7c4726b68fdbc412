"""A provisioned charger on MQTT, simulated: its reports and its answers.

The specification is ``docs/charger-protocol.md`` §2 (in the shared docs). This
is the virtual charger's MQTT side, without a transport: ``scripts/simulate-charger``
runs it over paho, and the tests over Home Assistant's MQTT (``tests/mqtt_charger.py``).
Times are plain numbers (seconds on the caller's clock).

As the firmware does:

* it handles one message at a time: one that arrives while a command is being
  handled (up to ~3 s for a mower command) is dropped without a reply, and its
  reports pause meanwhile;
* firmware v0.4.0 (``encrypt=True``) drops what is not AES-encrypted with its
  key; v0.3.6 takes plain JSON;
* the queries need the value ``null`` (v0.4.0 ignores ``0`` or ``{}``),
  ``start_run`` three numbers, the other mower commands ``{}``; a message
  with another value gets no reply. The first known key of a message wins;
* a mower command is sent once over LoRa; the charger replies ``result`` 0 when
  the mower acknowledged within 3 s, else 1 (a mower out of range, not paired,
  or refusing: the charger cannot tell).

The simulated mower leaves the dock and mows when started, pauses, resumes,
stops, returns and docks when told, drains its battery while mowing and charges
it docked, and heads home when it runs low.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from typing import Any

from custom_components.novabot.protocol import (
    InvalidMessageError,
    PayloadCodec,
    decode_message,
)

ACK_WAIT = 3.0  # how long the charger waits for the mower's acknowledgement
HEARTBEAT_PERIOD = 1.5  # seconds between the charger's LoRa polls of the mower
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


@dataclass
class SimulatedMower:
    """A mower that does what the charger relays to it."""

    work_status: int = IDLE
    battery: float = 100.0
    x: int = 0
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

    def frame(self) -> dict[str, int]:
        """The LoRa status frame, as the charger copies it into its reports."""
        working = self.work_status not in (IDLE, STOPPED_BY_USER)
        return {
            "mower_status": (self.work_status << 16) | int(working),
            "mower_info": round(self.battery) << 8,
            "mower_x": self.x,
            "mower_y": 0,
            "mower_z": 0,
            "mower_info1": 0,
        }

    def _become(self, work_status: int, now: float) -> None:
        self.work_status, self.since = work_status, now


@dataclass
class ChargerFirmware:
    """What a provisioned charger sends and answers on MQTT."""

    serial_number: str
    encrypt: bool = False
    mower: SimulatedMower | None = field(default_factory=SimulatedMower)
    acknowledges: bool = True  # whether the mower acknowledges commands
    ack_time: float = 0.5  # how long an acknowledging mower takes
    ack_wait: float = ACK_WAIT  # how long the charger waits for a silent mower
    lora_channel: int = 17
    lora_noise_raw: int = 157  # -99 dBm
    satellites: int = 17
    started: float = 0.0
    busy_until: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[bytes] = field(default_factory=list)

    @property
    def firmware(self) -> str:
        """The version it reports."""
        return "v0.4.0" if self.encrypt else "v0.3.6"

    def busy(self, now: float) -> bool:
        """Handling a command: reports pause, new messages are dropped."""
        return now < self.busy_until

    def report(self, now: float) -> bytes:
        """The ``up_status_info`` payload to publish now."""
        gps_fix, rtk_fix = self.satellites >= 4, self.satellites >= 12
        status = {
            "charger_status": (self.satellites << 24) | (rtk_fix << 8) | gps_fix,
            **(self.mower.frame() if self.mower else dict.fromkeys(_FRAME, 0)),
            "mower_error": self._missed_heartbeats(now),
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
            return now, self._reply(name, 0, self._query_value(name))
        acknowledged = self.acknowledges and self.mower is not None
        delay = self.ack_time if acknowledged else self.ack_wait
        self.busy_until = now + delay
        if acknowledged and self.mower is not None:
            self.mower.command(name, now + delay)
        return now + delay, self._reply(name, 0 if acknowledged else 1, None)

    def _query_value(self, name: str) -> dict[str, Any]:
        if name == "ota_version_info":
            return {"system": "v0.0.1", "version": self.firmware}
        return {"channel": self.lora_channel, "addr": 718, "rssi": self.lora_noise_raw}

    def _missed_heartbeats(self, now: float) -> int:
        if self.mower is not None:
            return 0
        misses = int((now - self.started) / HEARTBEAT_PERIOD)
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
