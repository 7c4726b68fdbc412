"""The Novabot charger's language: Bluetooth provisioning, MQTT reports, commands.

A small library with no Home Assistant imports: framing and commands for the
Bluetooth provisioning session; the status report with the mower's frame the
charger relays; the queries and mower commands the charger answers on MQTT,
sent one at a time; the payload cipher of newer firmware; and a probe that
tells whether a broker admits the charger whichever way it logs in (v0.3.6
without a login; what v0.4.0 sends is disputed, so any login).
"""

from .broker import (
    ANONYMOUS_LOGIN,
    Admission,
    ChargerLogin,
    ProbeOutcome,
    ProbeResult,
    arbitrary_login,
    probe_broker,
    probe_charger_logins,
)
from .channel import CommandChannel, CommandTooLongError
from .commands import (
    Command,
    InputError,
    ProvisioningSettings,
    RadioPairing,
    Reply,
    normalize_serial_number,
    parse_reply,
    radio_kept,
)
from .crypto import PayloadCodec
from .errors import (
    FrameError,
    FrameTooLargeError,
    InvalidInputError,
    InvalidMessageError,
    InvalidSettingsError,
    LinkLostError,
    NoReplyError,
    NovabotError,
    ProvisioningError,
    StepFailedError,
)
from .framing import FrameAssembler, encode_frame
from .messages import (
    STATUS_TOPIC_FILTER,
    Message,
    command_topic,
    decode_message,
    encode_command,
    serial_number_from_topic,
    status_topic,
)
from .mower import (
    MowerCommand,
    MowingArea,
    WorkStatus,
    mower_command,
    start_run,
    work_status,
)
from .provision import (
    COMMAND_CHARACTERISTIC,
    SERVICE_UUID,
    BleClient,
    ProvisioningResult,
    ProvisioningSession,
)
from .queries import LoraInfo, firmware_query, firmware_version, lora_info, lora_query
from .status import MOWER_ANSWERING, REPORT_FIELDS, ChargerStatus, parse_status

__all__ = [
    "ANONYMOUS_LOGIN",
    "COMMAND_CHARACTERISTIC",
    "MOWER_ANSWERING",
    "REPORT_FIELDS",
    "SERVICE_UUID",
    "STATUS_TOPIC_FILTER",
    "Admission",
    "BleClient",
    "ChargerLogin",
    "ChargerStatus",
    "Command",
    "CommandChannel",
    "CommandTooLongError",
    "FrameAssembler",
    "FrameError",
    "FrameTooLargeError",
    "InputError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidSettingsError",
    "LinkLostError",
    "LoraInfo",
    "Message",
    "MowerCommand",
    "MowingArea",
    "NoReplyError",
    "NovabotError",
    "PayloadCodec",
    "ProbeOutcome",
    "ProbeResult",
    "ProvisioningError",
    "ProvisioningResult",
    "ProvisioningSession",
    "ProvisioningSettings",
    "RadioPairing",
    "Reply",
    "StepFailedError",
    "WorkStatus",
    "arbitrary_login",
    "command_topic",
    "decode_message",
    "encode_command",
    "encode_frame",
    "firmware_query",
    "firmware_version",
    "lora_info",
    "lora_query",
    "mower_command",
    "normalize_serial_number",
    "parse_reply",
    "parse_status",
    "probe_broker",
    "probe_charger_logins",
    "radio_kept",
    "serial_number_from_topic",
    "start_run",
    "status_topic",
    "work_status",
]
