"""Provisioning commands, their replies, and the rules their inputs must meet."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import re
from typing import Any

from .errors import InvalidInputError, InvalidMessageError, InvalidSettingsError

SERIAL_NUMBER_PREFIX = "LFIC"
AP_PASSWORD = "12345678"  # the charger's own access point; fixed by the firmware
LORA_ADDRESS = 718
LORA_CHANNEL = 16
LORA_HIGH_CHANNEL = 20
LORA_LOW_CHANNEL = 14
DEFAULT_MQTT_PORT = 1883
MIN_SSID_BYTES = 2  # the firmware ignores a one-byte SSID
MAX_SSID_BYTES = 32
MAX_MQTT_HOST_BYTES = 29  # a 30-byte slot on the charger, NUL-terminated
MAX_CHANNEL = 255
REPLY_SUFFIX = "_respond"  # a reply's type is its command's name with this suffix
# Names that resolve only inside Home Assistant's own containers (the Mosquitto
# add-on is "core-mosquitto"): the charger on the LAN cannot reach them.
_CONTAINER_HOST = re.compile(r"^core-mosquitto$|\.local\.hass\.io$", re.IGNORECASE)

_HEX_PASSWORD = re.compile(r"[0-9A-Fa-f]{64}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Command(StrEnum):
    """The provisioning commands, in the only order the charger accepts."""

    SET_WIFI_INFO = "set_wifi_info"
    SET_RTK_INFO = "set_rtk_info"
    SET_LORA_INFO = "set_lora_info"
    SET_MQTT_INFO = "set_mqtt_info"
    SET_CFG_INFO = "set_cfg_info"

    @property
    def reply_type(self) -> str:
        """The ``type`` of the charger's answer to this command."""
        return self.value + REPLY_SUFFIX


PROVISIONING_ORDER: tuple[Command, ...] = tuple(Command)


class InputError(StrEnum):
    """Codes of the input rules; also the translation keys of form errors."""

    SERIAL_NUMBER_PREFIX = "serial_number_prefix"
    SERIAL_NUMBER_CHARACTERS = "serial_number_characters"
    SERIAL_NUMBER_TOO_LONG = "serial_number_too_long"
    SSID_EMPTY = "ssid_empty"
    SSID_TOO_SHORT = "ssid_too_short"
    SSID_TOO_LONG = "ssid_too_long"
    PASSWORD_LENGTH = "password_length"
    PASSWORD_CHARACTERS = "password_characters"
    MQTT_HOST_EMPTY = "mqtt_host_empty"
    MQTT_HOST_TOO_LONG = "mqtt_host_too_long"
    MQTT_HOST_SCHEME = "mqtt_host_scheme"
    MQTT_HOST_SPACES = "mqtt_host_spaces"
    MQTT_HOST_CONTAINER = "mqtt_host_container"
    MQTT_PORT_RANGE = "mqtt_port_range"


def normalize_serial_number(value: str) -> str:
    """Trim and upper-case a serial number; it must be ``LFIC`` + letters/digits."""
    serial_number = value.strip().upper()
    if not serial_number.startswith(SERIAL_NUMBER_PREFIX):
        raise InvalidInputError("serial_number", InputError.SERIAL_NUMBER_PREFIX)
    if not (serial_number.isascii() and serial_number.isalnum()):
        raise InvalidInputError("serial_number", InputError.SERIAL_NUMBER_CHARACTERS)
    if len(serial_number) > MAX_SSID_BYTES:  # it names the charger's access point
        raise InvalidInputError("serial_number", InputError.SERIAL_NUMBER_TOO_LONG)
    return serial_number


def validate_ssid(value: str) -> str:
    """An SSID is 2..32 bytes of UTF-8 (the firmware ignores a one-byte SSID)."""
    if not value:
        raise InvalidInputError("ssid", InputError.SSID_EMPTY)
    if len(value.encode()) < MIN_SSID_BYTES:
        raise InvalidInputError("ssid", InputError.SSID_TOO_SHORT)
    if len(value.encode()) > MAX_SSID_BYTES:
        raise InvalidInputError("ssid", InputError.SSID_TOO_LONG)
    return value


def validate_password(value: str) -> str:
    """Empty (open network), a WPA2 passphrase of 8..63 characters, or 64 hex digits."""
    if not value:
        return value
    if not (value.isascii() and value.isprintable()):
        raise InvalidInputError("password", InputError.PASSWORD_CHARACTERS)
    if 8 <= len(value) <= 63 or _HEX_PASSWORD.fullmatch(value):
        return value
    raise InvalidInputError("password", InputError.PASSWORD_LENGTH)


def validate_mqtt_host(value: str) -> str:
    """A bare host name or address the charger can store (at most 29 bytes)."""
    host = value.strip()
    if not host:
        raise InvalidInputError("mqtt_host", InputError.MQTT_HOST_EMPTY)
    if _SCHEME.match(host):
        raise InvalidInputError("mqtt_host", InputError.MQTT_HOST_SCHEME)
    if any(character.isspace() for character in host):
        raise InvalidInputError("mqtt_host", InputError.MQTT_HOST_SPACES)
    if len(host.encode()) > MAX_MQTT_HOST_BYTES:
        raise InvalidInputError("mqtt_host", InputError.MQTT_HOST_TOO_LONG)
    if _CONTAINER_HOST.search(host):
        raise InvalidInputError("mqtt_host", InputError.MQTT_HOST_CONTAINER)
    return host


def validate_mqtt_port(value: int) -> int:
    """A TCP port, 1..65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InvalidInputError("mqtt_port", InputError.MQTT_PORT_RANGE)
    return value


@dataclass(frozen=True, slots=True)
class ProvisioningSettings:
    """Everything the charger is told, already checked against its rules."""

    serial_number: str
    ssid: str
    password: str = field(repr=False)
    mqtt_host: str
    mqtt_port: int = DEFAULT_MQTT_PORT

    @classmethod
    def create(
        cls,
        *,
        serial_number: str,
        ssid: str,
        password: str,
        mqtt_host: str,
        mqtt_port: int = DEFAULT_MQTT_PORT,
    ) -> ProvisioningSettings:
        """Validate every field; raise InvalidSettingsError listing all failures."""
        errors: dict[str, str] = {}

        def checked[T](check: Callable[[T], T], value: T) -> T:
            try:
                return check(value)
            except InvalidInputError as err:
                errors[err.field] = err.code
                return value

        settings = cls(
            serial_number=checked(normalize_serial_number, serial_number),
            ssid=checked(validate_ssid, ssid),
            password=checked(validate_password, password),
            mqtt_host=checked(validate_mqtt_host, mqtt_host),
            mqtt_port=checked(validate_mqtt_port, mqtt_port),
        )
        if errors:
            raise InvalidSettingsError(errors)
        return settings


def set_wifi_info(serial_number: str, ssid: str, password: str) -> dict[str, Any]:
    """Home WiFi (``sta``) and the charger's own access point (``ap``)."""
    return {
        Command.SET_WIFI_INFO: {
            "sta": {"ssid": ssid, "passwd": password, "encrypt": 0},
            "ap": {"ssid": serial_number, "passwd": AP_PASSWORD, "encrypt": 0},
        }
    }


def set_rtk_info() -> dict[str, Any]:
    """Initialise the RTK receiver (the charger may take ~30 s)."""
    return {Command.SET_RTK_INFO: 0}


def set_lora_info() -> dict[str, Any]:
    """Ask for a LoRa channel; the charger scans and assigns a free one."""
    return {
        Command.SET_LORA_INFO: {
            "addr": LORA_ADDRESS,
            "channel": LORA_CHANNEL,
            "hc": LORA_HIGH_CHANNEL,
            "lc": LORA_LOW_CHANNEL,
        }
    }


def set_mqtt_info(host: str, port: int) -> dict[str, Any]:
    """The broker the charger connects to (the command carries no credentials)."""
    return {Command.SET_MQTT_INFO: {"addr": host, "port": port}}


def set_cfg_info() -> dict[str, Any]:
    """Commit everything; the charger then drops the link and reboots."""
    return {Command.SET_CFG_INFO: 1}


def provisioning_commands(
    settings: ProvisioningSettings,
) -> list[tuple[Command, dict[str, Any]]]:
    """The five commands of a session, in order."""
    return [
        (
            Command.SET_WIFI_INFO,
            set_wifi_info(settings.serial_number, settings.ssid, settings.password),
        ),
        (Command.SET_RTK_INFO, set_rtk_info()),
        (Command.SET_LORA_INFO, set_lora_info()),
        (Command.SET_MQTT_INFO, set_mqtt_info(settings.mqtt_host, settings.mqtt_port)),
        (Command.SET_CFG_INFO, set_cfg_info()),
    ]


@dataclass(frozen=True, slots=True)
class Reply:
    """A charger's answer: ``{"type": ..., "message": {"result": ..., "value": ...}}``."""

    type: str
    result: int
    value: Any = None

    @property
    def ok(self) -> bool:
        """Result 0 (or no result at all) means success."""
        return self.result == 0


def assigned_channel(reply: Reply) -> int | None:
    """The LoRa channel in a ``set_lora_info`` reply, whichever shape it has.

    Real chargers answer with the channel as the value (``15``) or inside an
    object (``{"addr": 718, "channel": 17}``); ``None`` when there is none.
    """
    value = reply.value
    if isinstance(value, Mapping):
        value = value.get("channel")
    return bounded_int(value, MAX_CHANNEL)


def bounded_int(value: Any, high: int) -> int | None:
    """An integer 0..high, else ``None`` (booleans, negatives and the rest)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        return None
    return value


def step_succeeded(command: Command, reply: Reply) -> bool:
    """Whether the charger carried out a provisioning step.

    Result 0 (or none) is success. ``set_lora_info`` is the exception: a reply
    that carries a channel succeeded whatever its result, because the charger
    stored that channel (it says 1 when it picked another than the one asked
    for); only a non-zero result without a channel means its scan failed.
    """
    if command is Command.SET_LORA_INFO and assigned_channel(reply) is not None:
        return True
    return reply.ok


def parse_reply(message: Mapping[str, Any]) -> Reply:
    """Turn a decoded reply into a :class:`Reply`; a missing ``result`` is success."""
    reply_type = message.get("type")
    if not isinstance(reply_type, str):
        raise InvalidMessageError("reply has no type")
    body = message.get("message", {})
    if not isinstance(body, Mapping):
        raise InvalidMessageError("reply message is not an object")
    result = body.get("result", 0)
    if isinstance(result, bool) or not isinstance(result, int):
        raise InvalidMessageError("reply result is not an integer")
    return Reply(type=reply_type, result=result, value=body.get("value"))
