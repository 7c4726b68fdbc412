"""What the gateway counts: what it relayed, dropped and disconnected, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final


class Drop:
    """Why a packet, message or connection was dropped (diagnostics keys)."""

    # Traffic from a client.
    FOREIGN_TOPIC: Final = "foreign_topic"
    UNKNOWN_SERIAL: Final = "unknown_serial"
    FORBIDDEN_SUBSCRIPTION: Final = "forbidden_subscription"
    OVERSIZED: Final = "oversized"
    RATE_LIMITED: Final = "rate_limited"
    MALFORMED: Final = "malformed"
    PROTOCOL_ERROR: Final = "protocol_error"
    # Relay to and from Home Assistant's MQTT.
    UPLINK_BACKLOG: Final = "uplink_backlog"
    MQTT_UNAVAILABLE: Final = "mqtt_unavailable"
    COMMAND_TOO_LARGE: Final = "command_too_large"
    CHARGER_NOT_CONNECTED: Final = "charger_not_connected"
    # Connections.
    TOO_MANY_CLIENTS: Final = "too_many_clients"
    NO_DATA: Final = "no_data"
    NOT_MQTT: Final = "not_mqtt"
    UNSUPPORTED_PROTOCOL: Final = "unsupported_protocol"
    HANDSHAKE_TIMEOUT: Final = "handshake_timeout"


class Disconnect:
    """Why the gateway ended a client's session (diagnostics keys)."""

    VIOLATIONS: Final = "violations"
    KEEPALIVE_TIMEOUT: Final = "keepalive_timeout"
    TAKEOVER: Final = "takeover"
    PROTOCOL_ERROR: Final = "protocol_error"


@dataclass
class _Counters:
    """What the gateway did since Home Assistant started (survives restarts)."""

    connections: int = 0
    relayed_up: int = 0
    relayed_down: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    disconnected: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "relayed_up": self.relayed_up,
            "relayed_down": self.relayed_down,
            "dropped": dict(sorted(self.dropped.items())),
            "disconnected": dict(sorted(self.disconnected.items())),
        }
