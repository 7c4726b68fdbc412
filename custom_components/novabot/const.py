"""Names and defaults shared across the Novabot integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "novabot"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Novabot"
MODEL: Final = "Charging station"

# Config entry data (the contract in docs/architecture.md).
CONF_SERIAL_NUMBER: Final = "serial_number"
CONF_CHARGER_CHANNEL: Final = "charger_channel"
CONF_MQTT_HOST: Final = "mqtt_host"
CONF_MQTT_PORT: Final = "mqtt_port"
CONF_GATEWAY: Final = "gateway"
# Bluetooth address of the charger, kept when it was provisioned over Bluetooth.
CONF_ADDRESS: Final = "address"
# Config flow fields that are never stored.
CONF_SSID: Final = "ssid"
CONF_PASSWORD: Final = "password"

# Options.
CONF_STALE_TIMEOUT: Final = "stale_timeout"
DEFAULT_STALE_TIMEOUT: Final = 60
CONF_GATEWAY_PORT: Final = "gateway_port"
CONF_GATEWAY_BIND_ADDRESS: Final = "gateway_bind_address"

# The cutting height the mower's start button uses until the user sets one.
DEFAULT_CUTTING_HEIGHT_CM: Final = 5

# What the entities reading the LoRa radio (asked, not reported) watch for.
LORA_FIELD: Final = "lora"

# The charger measures its radio's noise rarely: asking more often is pointless.
LORA_POLL_INTERVAL: Final = timedelta(minutes=10)

# With no valid report for this long, a repair issue explains what to check.
SILENCE_REPAIR_AFTER: Final = timedelta(minutes=10)
