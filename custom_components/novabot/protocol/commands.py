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
DEFAULT_MQTT_PORT = 1883
MIN_SSID_BYTES = 2  # the firmware ignores a one-byte SSID
MAX_SSID_BYTES = 32
MAX_MQTT_HOST_BYTES = 29  # a 30-byte slot on the charger, NUL-terminated
MAX_LORA_ADDRESS = 65535  # a u16
MAX_LORA_CHANNEL = 80  # a u8 on the wire; the vendor's records hold 0..80
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
    LORA_ADDRESS_RANGE = "lora_address_range"
    LORA_CHANNEL_RANGE = "lora_channel_range"
    LORA_PAIR_INCOMPLETE = "lora_pair_incomplete"


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
class RadioPairing:
    """The LoRa address and channel a charger and its mower share.

    Every charger has its own address, given at the factory, and its mower is
    paired to that address and the charger's channel. Telling a charger another
    pair cuts its mower off, so a pairing is only ever sent when the owner gives
    one (or re-sent exactly as the charger reported it).
    """

    address: int
    channel: int

    @classmethod
    def create(cls, address: int | None, channel: int | None) -> RadioPairing | None:
        """Both values checked, or ``None`` for neither; half a pair is an error."""
        if address is None and channel is None:
            return None
        if channel is None:
            raise InvalidInputError("lora_channel", InputError.LORA_PAIR_INCOMPLETE)
        if address is None:
            raise InvalidInputError("lora_address", InputError.LORA_PAIR_INCOMPLETE)
        if bounded_int(address, MAX_LORA_ADDRESS) is None:
            raise InvalidInputError("lora_address", InputError.LORA_ADDRESS_RANGE)
        if bounded_int(channel, MAX_LORA_CHANNEL) is None:
            raise InvalidInputError("lora_channel", InputError.LORA_CHANNEL_RANGE)
        return cls(address, channel)


@dataclass(frozen=True, slots=True)
class ProvisioningSettings:
    """Everything the charger is told, already checked against its rules.

    ``radio`` is ``None`` unless the owner asked to pair the radio: the charger
    then keeps the pairing it has.
    """

    serial_number: str
    ssid: str
    password: str = field(repr=False)
    mqtt_host: str
    mqtt_port: int = DEFAULT_MQTT_PORT
    radio: RadioPairing | None = None

    @classmethod
    def create(
        cls,
        *,
        serial_number: str,
        ssid: str,
        password: str,
        mqtt_host: str,
        mqtt_port: int = DEFAULT_MQTT_PORT,
        lora_address: int | None = None,
        lora_channel: int | None = None,
    ) -> ProvisioningSettings:
        """Validate every field; raise InvalidSettingsError listing all failures."""
        errors: dict[str, str] = {}

        def checked[T](check: Callable[[], T], fallback: T) -> T:
            try:
                return check()
            except InvalidInputError as err:
                errors[err.field] = err.code
                return fallback

        settings = cls(
            serial_number=checked(
                lambda: normalize_serial_number(serial_number), serial_number
            ),
            ssid=checked(lambda: validate_ssid(ssid), ssid),
            password=checked(lambda: validate_password(password), password),
            mqtt_host=checked(lambda: validate_mqtt_host(mqtt_host), mqtt_host),
            mqtt_port=checked(lambda: validate_mqtt_port(mqtt_port), mqtt_port),
            radio=checked(
                lambda: RadioPairing.create(lora_address, lora_channel), None
            ),
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


def set_lora_info(pairing: RadioPairing) -> dict[str, Any]:
    """Pair the radio: the address and channel, the channel pinned.

    ``hc`` and ``lc`` bound the channels the charger scans for a quiet one;
    both equal to the channel leave it nowhere else to go.
    """
    channel = pairing.channel
    return {
        Command.SET_LORA_INFO: {
            "addr": pairing.address,
            "channel": channel,
            "hc": channel,
            "lc": channel,
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
    """The commands of a session, in order; the radio only when it is to be paired."""
    wifi = set_wifi_info(settings.serial_number, settings.ssid, settings.password)
    radio = (
        [(Command.SET_LORA_INFO, set_lora_info(settings.radio))]
        if settings.radio
        else []
    )
    return [
        (Command.SET_WIFI_INFO, wifi),
        (Command.SET_RTK_INFO, set_rtk_info()),
        *radio,
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


RESULT_SCAN_TIMED_OUT = 1  # set_lora_info: nothing stored, the old pairing stays


def bounded_int(value: Any, high: int) -> int | None:
    """An integer 0..high, else ``None`` (booleans, negatives and the rest)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        return None
    return value


def stored_channel(reply: Reply) -> int | None:
    """The channel a successful ``set_lora_info`` reply names, if it names one.

    Chargers answer with the channel as the value (``15``); an object with a
    ``channel`` is tolerated. A failed step stored nothing: ``None``.
    """
    if not reply.ok:
        return None
    value = reply.value
    if isinstance(value, Mapping):
        value = value.get("channel")
    return bounded_int(value, MAX_LORA_CHANNEL)


def radio_kept(command: Command, reply: Reply) -> bool:
    """Whether ``set_lora_info`` timed out scanning: the charger kept its pairing."""
    return command is Command.SET_LORA_INFO and reply.result == RESULT_SCAN_TIMED_OUT


def step_succeeded(command: Command, reply: Reply) -> bool:
    """Whether provisioning can go on after this reply.

    Result 0 (or none) is success. A radio scan that timed out stored nothing
    and hurt nothing: the charger keeps its old pairing, and the session goes on.
    """
    return reply.ok or radio_kept(command, reply)


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
