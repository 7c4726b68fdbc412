"""Helpers shared by the Novabot integration tests.

Reports are built as the charger sends them (compact JSON, optionally encrypted
with the charger's key), fed through Home Assistant's mocked MQTT, and the
entities are looked up through the entity registry by their contract unique ids.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import TYPE_CHECKING, Any, Final, Literal

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HassJob, HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
    get_scheduled_timer_handles,
)

from custom_components.novabot.const import (
    CONF_CHARGER_ADDRESS,
    CONF_CHARGER_CHANNEL,
    CONF_GATEWAY,
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_SERIAL_NUMBER,
    DOMAIN,
)
from custom_components.novabot.protocol import PayloadCodec
from custom_components.novabot.protocol.framing import encode_json

if TYPE_CHECKING:
    from asyncio import TimerHandle
    from collections.abc import Iterable, Mapping

    from freezegun.api import FrozenDateTimeFactory
    import pytest

    from custom_components.novabot.coordinator import NovabotCoordinator

SERIAL: Final = "LFIC1230700123"
OTHER_SERIAL: Final = "LFIC1230700456"
ADDRESS: Final = "AA:BB:CC:DD:EE:FF"
STATUS_TOPIC: Final = f"Dart/Receive_mqtt/{SERIAL}"

# 17 satellites, GPS fix, RTK fix, no LoRa reading (docs/charger-protocol.md).
CHARGER_STATUS: Final = 0x11000101
MOWER_FIELDS: Final = (
    "mower_status",
    "mower_info",
    "mower_x",
    "mower_y",
    "mower_z",
    "mower_info1",
    "mower_error",
)
# A mower idle on its charger (recharge status 9 in byte 1), battery full
# (byte 1 of mower_info), answering every heartbeat.
DOCKED_MOWER_STATUS: Final = 0x00000900
FULL_BATTERY_INFO: Final = 100 << 8
BASE_REPORT: Final[Mapping[str, int]] = {
    "charger_status": CHARGER_STATUS,
    **dict.fromkeys(MOWER_FIELDS, 0),
    "mower_status": DOCKED_MOWER_STATUS,
    "mower_info": FULL_BATTERY_INFO,
}
# The mower fields of a charger that relays no mower: an empty frame, and
# heartbeats unanswered since it started (a count seen on such a charger).
NO_MOWER: Final[Mapping[str, int]] = {
    "mower_status": 0,
    "mower_info": 0,
    "mower_error": 17734,
}
# The radio pairing the tests' charger holds (its own, as every charger has).
LORA_ADDRESS: Final = 3251
LORA_CHANNEL: Final = 15
OMIT: Final = object()  # a field value that leaves the field out of the report

Shape = Literal["up_status_info", "type"]
SHAPES: Final[tuple[Shape, ...]] = ("up_status_info", "type")

# The contract table of docs/architecture.md: key -> (platform, enabled by default),
# for the entities whose value comes from the charger's reports.
ENTITIES: Final[Mapping[str, tuple[str, bool]]] = {
    "gps_satellites": ("sensor", True),
    "lora_heartbeat_misses": ("sensor", False),
    "mower_status": ("sensor", False),
    "mower_activity": ("sensor", True),
    "mower_battery": ("sensor", True),
    "mower_x": ("sensor", False),
    "mower_y": ("sensor", False),
    "mower_z": ("sensor", False),
    "mower_info": ("sensor", False),
    "mower_info1": ("sensor", False),
    "charger_status": ("sensor", False),
    "gps_fix": ("binary_sensor", True),
    "rtk_fix": ("binary_sensor", True),
    "mower_connected": ("binary_sensor", True),
    "mower": ("lawn_mower", True),
}
ENABLED_KEYS: Final = tuple(key for key, (_, on) in ENTITIES.items() if on)
# The mower's values: stale, so unavailable, while the mower does not answer.
MOWER_KEYS: Final = (
    "mower_status",
    "mower_activity",
    "mower_battery",
    "mower_x",
    "mower_y",
    "mower_z",
    "mower_info",
    "mower_info1",
)
# The entities of the mower's device (the others are the charger's).
MOWER_DEVICE_KEYS: Final = (
    *MOWER_KEYS,
    "mower",
    "mower_connected",
    "stop",
    "cancel_schedule",
    "mower_events",
)
# The entities of the charger's device: there from setup, mower or not.
CHARGER_KEYS: Final = tuple(key for key in ENTITIES if key not in MOWER_DEVICE_KEYS)
ENABLED_CHARGER_KEYS: Final = tuple(key for key in CHARGER_KEYS if ENTITIES[key][1])
# Entities of what the charger answers when asked (its LoRa radio).
RADIO_ENTITIES: Final[Mapping[str, str]] = {
    "lora_noise": "sensor",
    "lora_channel": "sensor",
    "lora_address": "sensor",
}
# The mower's controls and events: no value from the reports.
MOWER_CONTROLS: Final[Mapping[str, str]] = {
    "stop": "button",
    "cancel_schedule": "button",
    "mower_events": "event",
}
PLATFORMS: Final = ("sensor", "binary_sensor", "lawn_mower", "button", "event")


def mower_status(work_status: int, *, recharge: int = 0) -> int:
    """A ``mower_status``: work status in byte 2, recharge status in byte 1."""
    return work_status << 16 | recharge << 8


def report_document(shape: Shape = "up_status_info", **fields: Any) -> dict[str, Any]:
    """A status report document; ``fields`` replace (or with OMIT drop) fields."""
    body = {
        key: value
        for key, value in {**BASE_REPORT, **fields}.items()
        if value is not OMIT
    }
    if shape == "type":
        return {"type": "up_status_info", "message": body}
    return {"up_status_info": body}


def encrypt(payload: bytes, serial: str = SERIAL) -> bytes:
    """Encrypt a payload the way firmware v0.4.0 does for ``serial``."""
    return PayloadCodec(serial).encrypt(payload)


def report(
    shape: Shape = "up_status_info",
    *,
    encrypt_for: str | None = None,
    **fields: Any,
) -> bytes:
    """A report payload as the charger publishes it, plain or encrypted."""
    payload = encode_json(report_document(shape, **fields))
    return encrypt(payload, encrypt_for) if encrypt_for else payload


def firmware_reply(version: Any = "v0.4.0", *, encrypt_for: str | None = None) -> bytes:
    """The charger's answer to ``{"ota_version_info": null}``."""
    value = {"system": "v0.0.1", "version": version}
    return reply("ota_version_info", value, encrypt_for=encrypt_for)


def reply(
    command: str, value: Any = None, result: int = 0, *, encrypt_for: str | None = None
) -> bytes:
    """The charger's ``<command>_respond``, plain or encrypted."""
    payload = encode_json(
        {"type": f"{command}_respond", "message": {"result": result, "value": value}}
    )
    return encrypt(payload, encrypt_for) if encrypt_for else payload


def entry_data(
    serial: str = SERIAL, *, gateway: bool = False, **extra: Any
) -> dict[str, Any]:
    """Config entry data as the config flow stores it."""
    return {
        CONF_SERIAL_NUMBER: serial,
        CONF_CHARGER_ADDRESS: LORA_ADDRESS,
        CONF_CHARGER_CHANNEL: LORA_CHANNEL,
        CONF_MQTT_HOST: "192.168.1.10",
        CONF_MQTT_PORT: 1885 if gateway else 1883,
        CONF_GATEWAY: gateway,
        **extra,
    }


def mock_entry(
    serial: str = SERIAL,
    *,
    data: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> MockConfigEntry:
    """A Novabot config entry (not yet added to Home Assistant)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Novabot charger {serial}",
        unique_id=serial,
        data=dict(data) if data is not None else entry_data(serial),
        options=dict(options or {}),
    )


async def setup_entry(
    hass: HomeAssistant,
    serial: str = SERIAL,
    *,
    data: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    state: ConfigEntryState = ConfigEntryState.LOADED,
) -> MockConfigEntry:
    """Add a Novabot entry, set it up and check the state it ends in."""
    entry = mock_entry(serial, data=data, options=options)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is state
    return entry


async def send(
    hass: HomeAssistant,
    payload: bytes | str,
    serial: str = SERIAL,
    *,
    topic: str | None = None,
) -> None:
    """Deliver one MQTT message from the charger and let everything settle."""
    async_fire_mqtt_message(hass, topic or f"Dart/Receive_mqtt/{serial}", payload)
    await hass.async_block_till_done()


async def move_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seconds: float,
    *,
    step: float = 1.0,
) -> None:
    """Let ``seconds`` pass, one ``step`` at a time, running the timers due.

    Small steps matter: a timer started by another timer's callback counts from
    the clock at that moment, so one big jump would start it late.
    """
    remaining = seconds
    while remaining > 0:
        tick = min(step, remaining)
        remaining -= tick
        freezer.tick(timedelta(seconds=tick))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()


def entity_id(hass: HomeAssistant, key: str, serial: str = SERIAL) -> str:
    """The entity id behind the unique id ``<SN>_<key>``."""
    registry = er.async_get(hass)
    for platform in PLATFORMS:
        if found := registry.async_get_entity_id(platform, DOMAIN, f"{serial}_{key}"):
            return found
    raise AssertionError(f"no entity with unique id {serial}_{key}")


def state(hass: HomeAssistant, key: str, serial: str = SERIAL) -> State:
    """The current state of the entity ``<SN>_<key>``."""
    found = hass.states.get(entity_id(hass, key, serial))
    assert found is not None, f"{serial}_{key} has no state"
    return found


def states(
    hass: HomeAssistant, keys: Iterable[str], serial: str = SERIAL
) -> dict[str, str]:
    """The states of several entities, by key."""
    return {key: state(hass, key, serial).state for key in keys}


def coordinator_timers(
    hass: HomeAssistant, coordinator: NovabotCoordinator
) -> list[TimerHandle]:
    """Pending timers whose callback belongs to ``coordinator``."""
    pending = []
    for handle in get_scheduled_timer_handles(hass.loop):
        if handle.cancelled():
            continue
        for arg in handle._args or ():
            target = arg.target if isinstance(arg, HassJob) else arg
            if getattr(target, "__self__", None) is coordinator:
                pending.append(handle)
    return pending


def all_unavailable(hass: HomeAssistant, keys: Iterable[str] = ENABLED_KEYS) -> bool:
    """Whether every one of the entities is unavailable."""
    return all(value == STATE_UNAVAILABLE for value in states(hass, keys).values())


def none_unavailable(hass: HomeAssistant, keys: Iterable[str] = ENABLED_KEYS) -> bool:
    """Whether every one of the entities has a value (or is unknown)."""
    return all(value != STATE_UNAVAILABLE for value in states(hass, keys).values())


def device(
    hass: HomeAssistant, serial: str = SERIAL, *, mower: bool = False
) -> dr.DeviceEntry:
    """The charger's device, or its mower's."""
    entry = next(
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.unique_id == serial
    )
    identifier = (DOMAIN, f"{serial}_mower" if mower else serial)
    found = dr.async_get(hass).async_get_device_by_identifier(
        identifier, entry.entry_id
    )
    assert found is not None
    return found


def _noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return (
        # Home Assistant warns about every custom integration it loads...
        "has not been tested by Home Assistant" in message
        # ...and asyncio's debug mode about "slow" steps when the clock jumps.
        or (record.name == "asyncio" and message.startswith("Executing"))
        # ...and mocked MQTT when a clock jump overtakes its acknowledgements.
        or message.startswith("No ACK from MQTT server")
    )


def warnings_or_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The WARNING and ERROR lines logged, but for Home Assistant's known noise."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING and not _noise(record)
    ]
