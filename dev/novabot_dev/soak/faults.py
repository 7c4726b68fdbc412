"""The faults a soak injects, each played until it is over.

Each returns a :class:`FaultRecord`: when it began, when it ended (the broker
listening again, the charger's WiFi back, the charger booted, the mower back
in range, the last bad payload or flooded report sent, the new ``hass``
process started), and the chargers whose reports it concerns. What follows
(recovery, the recorder) is measured by the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from custom_components.novabot.protocol import PayloadCodec, status_topic

from ..layout import HOST, MQTT_USER
from ..processes import say

if TYPE_CHECKING:
    import random

    from .chargers import ControlledCharger
    from .commands import CommandSender
    from .instance import SoakInstance
    from .measure import Sample

MOSQUITTO_RESTART = "mosquitto_restart"
WIFI_DROP = "wifi_drop"
REBOOT_MID_COMMAND = "reboot_mid_command"
MOWER_OUT_OF_RANGE = "mower_out_of_range"
BAD_PAYLOADS = "bad_payloads"
FLOOD = "flood"
HA_RESTART = "home_assistant_restart"
# The faults drawn at random (Home Assistant's restart comes once, planned).
RANDOM_FAULTS = (
    MOSQUITTO_RESTART,
    WIFI_DROP,
    REBOOT_MID_COMMAND,
    MOWER_OUT_OF_RANGE,
    BAD_PAYLOADS,
    FLOOD,
)
# How long each lasts, drawn uniformly (seconds): a week's worth, shortened.
DURATIONS = {
    MOSQUITTO_RESTART: (1.0, 8.0),  # the broker down
    WIFI_DROP: (5.0, 40.0),
    REBOOT_MID_COMMAND: (3.0, 8.0),  # booting
    MOWER_OUT_OF_RANGE: (10.0, 45.0),
    BAD_PAYLOADS: (1.0, 3.0),  # spread over
    FLOOD: (1.0, 1.0),  # 100 reports in it
    HA_RESTART: (0.0, 0.0),
}
FLOOD_REPORTS = 100
EVENT_MARGIN = 30.0  # seconds past its length for a charger to tell a fault's end
ARMED_TIMEOUT = 10.0
COMMAND_WAIT = 20.0  # the charger reboots anyway if no command came by then
PUBLISH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """One fault of the schedule, drawn from the seed."""

    kind: str
    serial_number: str  # the charger it hits (where it hits one)
    seconds: float
    gap: float  # seconds of calm before it
    service: str  # the mower command a reboot interrupts

    def describe(self) -> str:
        """A few words for the progress lines."""
        one = self.kind in (WIFI_DROP, REBOOT_MID_COMMAND, MOWER_OUT_OF_RANGE, FLOOD)
        target = f" {self.serial_number}" if one else ""
        return f"{self.kind}{target} ({self.seconds:.1f} s)"


@dataclass(slots=True)
class FaultRecord:
    """One fault played, and what came after it."""

    plan: PlannedFault
    affected: tuple[str, ...]
    began: float
    ended: float = 0.0
    detail: str = ""
    recovery_s: float | None = None  # None: not within the bound
    recorder_ok: bool = False
    mismatch: dict[str, Any] = field(default_factory=dict)
    before: Sample | None = None
    after: Sample | None = None


def bad_payloads(
    serial_numbers: list[str], rng: random.Random
) -> list[tuple[str, bytes]]:
    """Garbage, oversized and wrongly encrypted payloads on each charger's topic."""
    stranger = PayloadCodec("LFIC0000009999")  # another charger's key
    report = b'{"up_status_info":{"charger_status":285212929,"mower_error":0}}'
    messages: list[tuple[str, bytes]] = []
    for serial_number in serial_numbers:
        right_key = PayloadCodec(serial_number)
        payloads = [
            rng.randbytes(rng.randint(1, 300)),
            rng.randbytes(rng.randint(1, 300)),
            b"",
            b'{"up_status_info": {"charger_status": 12',  # cut short
            b'{"up_status_info": {"charger_status": "many"}}',
            b'{"hello": "world"}',
            b"[1, 2, 3]",
            b"{" + b"x" * rng.randint(5000, 20000),  # oversized
            rng.randbytes(rng.randint(8000, 60000)),  # oversized
            stranger.encrypt(report),  # the wrong key
            right_key.encrypt(rng.randbytes(64)),  # the right key, not a message
            right_key.encrypt(report)[:-5],  # not a multiple of 16 bytes
        ]
        messages += [(status_topic(serial_number), payload) for payload in payloads]
    rng.shuffle(messages)
    return messages


def publish(
    port: int,
    login: tuple[str, str] | None,
    messages: list[tuple[str, bytes]],
    spread: float,
) -> int:
    """Connect to 127.0.0.1:``port``, publish ``messages`` over ``spread`` s (blocking).

    Returns how many left this client; a broker may cut a rogue client off.
    """
    connected = threading.Event()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"soak-rogue-{secrets.token_hex(3)}",
        protocol=mqtt.MQTTv311,
    )
    client.on_connect = lambda *_: connected.set()
    if login is not None:
        client.username_pw_set(*login)
    client.connect(HOST, port, keepalive=10)
    client.loop_start()
    sent = 0
    try:
        if not connected.wait(PUBLISH_TIMEOUT):
            return 0
        for topic, payload in messages:
            if client.publish(topic, payload).rc == mqtt.MQTT_ERR_SUCCESS:
                sent += 1
            time.sleep(spread / len(messages))
    finally:
        client.disconnect()
        client.loop_stop()
    return sent


class FaultPlayer:
    """Plays each fault on the instance, its chargers and its command sender."""

    def __init__(
        self,
        instance: SoakInstance,
        chargers: dict[str, ControlledCharger],
        commands: CommandSender,
        gateway_port: int,
        rng: random.Random,
    ) -> None:
        self.instance = instance
        self._chargers = chargers
        self._commands = commands
        self._gateway_port = gateway_port
        self._rng = rng  # the payloads' bytes, drawn as they are sent

    async def play(self, plan: PlannedFault) -> FaultRecord:
        """Inject the fault and return once it is over."""
        everyone = tuple(sorted(self._chargers))
        charger = self._chargers[plan.serial_number]
        one = (plan.serial_number,)
        record = FaultRecord(plan, everyone, time.monotonic())
        match plan.kind:
            case "mosquitto_restart":
                await self.instance.restart_mosquitto(plan.seconds)
                record.ended = time.monotonic()
            case "wifi_drop" | "mower_out_of_range" | "flood":
                record.affected = one
                record.ended = await self._charger_fault(charger, plan)
            case "reboot_mid_command":
                record.affected = one
                record.ended = await self._reboot_mid_command(charger, plan)
            case "bad_payloads":
                record.detail = await self._bad_payloads(plan.seconds)
                record.ended = time.monotonic()
            case "home_assistant_restart":
                record.ended = await self.instance.restart_home_assistant()
            case _:
                raise ValueError(f"unknown fault {plan.kind}")
        return record

    async def _charger_fault(
        self, charger: ControlledCharger, plan: PlannedFault
    ) -> float:
        """A fault the simulated charger plays itself; when it says it is over."""
        control = {
            WIFI_DROP: {"do": "wifi_drop", "seconds": plan.seconds},
            MOWER_OUT_OF_RANGE: {"do": "out_of_range", "seconds": plan.seconds},
            FLOOD: {"do": "flood", "count": FLOOD_REPORTS, "seconds": plan.seconds},
        }[plan.kind]
        since = time.monotonic()
        await charger.control(**control)
        fault = str(control["do"])
        event = await charger.until_event(
            charger.fault_ended(fault), since, plan.seconds + EVENT_MARGIN
        )
        return float(event["t"])

    async def _reboot_mid_command(
        self, charger: ControlledCharger, plan: PlannedFault
    ) -> float:
        """The charger reboots when the next mower command reaches it: no reply."""
        since = time.monotonic()
        await charger.control(
            do="reboot", at_command=True, seconds=plan.seconds, wait=COMMAND_WAIT
        )
        await charger.until_event(
            lambda e: e["event"] == "fault" and e.get("phase") == "armed",
            since,
            ARMED_TIMEOUT,
        )
        self._commands.launch(plan.serial_number, plan.service)
        event = await charger.until_event(
            charger.fault_ended("reboot"),
            since,
            COMMAND_WAIT + plan.seconds + EVENT_MARGIN,
        )
        return float(event["t"])

    async def _bad_payloads(self, spread: float) -> str:
        """As a rogue client of the gateway, and as Home Assistant's login on Mosquitto."""
        layout = self.instance.layout
        messages = bad_payloads(sorted(self._chargers), self._rng)
        password = self.instance.credentials["mqtt_password"]
        through_gateway, through_broker = await asyncio.gather(
            asyncio.to_thread(publish, self._gateway_port, None, messages, spread),
            asyncio.to_thread(
                publish, layout.mqtt_port, (MQTT_USER, password), messages, spread
            ),
        )
        detail = (
            f"{len(messages)} payloads: {through_gateway} through the gateway, "
            f"{through_broker} through Mosquitto"
        )
        say(f"bad payloads: {detail}")
        return detail
