"""The Novabot charger's language: Bluetooth provisioning and MQTT reports.

A small library with no Home Assistant imports: framing and commands for the
Bluetooth provisioning session, the status report, the payload cipher of newer
firmware, and a probe that tells whether a broker admits anonymous clients.
"""

from .broker import ProbeOutcome, ProbeResult, probe_broker
from .commands import (
    Command,
    InputError,
    ProvisioningSettings,
    Reply,
    normalize_serial_number,
    parse_reply,
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
    firmware_query,
    firmware_version,
    serial_number_from_topic,
    status_topic,
)
from .provision import (
    COMMAND_CHARACTERISTIC,
    SERVICE_UUID,
    BleClient,
    ProvisioningResult,
    ProvisioningSession,
)
from .status import ChargerStatus, parse_status

__all__ = [
    "COMMAND_CHARACTERISTIC",
    "SERVICE_UUID",
    "STATUS_TOPIC_FILTER",
    "BleClient",
    "ChargerStatus",
    "Command",
    "FrameAssembler",
    "FrameError",
    "FrameTooLargeError",
    "InputError",
    "InvalidInputError",
    "InvalidMessageError",
    "InvalidSettingsError",
    "LinkLostError",
    "Message",
    "NoReplyError",
    "NovabotError",
    "PayloadCodec",
    "ProbeOutcome",
    "ProbeResult",
    "ProvisioningError",
    "ProvisioningResult",
    "ProvisioningSession",
    "ProvisioningSettings",
    "Reply",
    "StepFailedError",
    "command_topic",
    "decode_message",
    "encode_command",
    "encode_frame",
    "firmware_query",
    "firmware_version",
    "normalize_serial_number",
    "parse_reply",
    "parse_status",
    "probe_broker",
    "serial_number_from_topic",
    "status_topic",
]
