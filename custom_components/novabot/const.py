"""Names and defaults shared across the Novabot integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "novabot"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Novabot"
MODEL: Final = "Charging station"
# The mower's device: the charger does not relay the mower's own serial number.
MOWER_NAME: Final = "Novabot mower"
MOWER_MODEL: Final = "Mower of charger {serial_number}"

# Config entry data (the contract in docs/architecture.md).
CONF_SERIAL_NUMBER: Final = "serial_number"
# The radio pairing the charger and its mower share, once known.
CONF_CHARGER_CHANNEL: Final = "charger_channel"
CONF_CHARGER_ADDRESS: Final = "charger_address"
CONF_MQTT_HOST: Final = "mqtt_host"
CONF_MQTT_PORT: Final = "mqtt_port"
CONF_GATEWAY: Final = "gateway"
# Bluetooth address of the charger, kept when it was provisioned over Bluetooth.
CONF_ADDRESS: Final = "address"
# Config flow fields that are never stored.
CONF_SSID: Final = "ssid"
CONF_PASSWORD: Final = "password"
# The settings form's radio section: a pairing to send, only when given.
CONF_RADIO: Final = "radio"
CONF_LORA_ADDRESS: Final = "lora_address"
CONF_LORA_CHANNEL: Final = "lora_channel"

# Options.
CONF_STALE_TIMEOUT: Final = "stale_timeout"
DEFAULT_STALE_TIMEOUT: Final = 60
CONF_GATEWAY_PORT: Final = "gateway_port"
CONF_GATEWAY_BIND_ADDRESS: Final = "gateway_bind_address"

# What the mower's plain start mows (lawn_mower.start_mowing), as the options
# say; novabot.start_mowing picks both per run.
CONF_MOWING_AREA: Final = "mowing_area"
CONF_CUTTING_HEIGHT: Final = "cutting_height"
DEFAULT_MOWING_AREA: Final = ["all_maps"]
DEFAULT_CUTTING_HEIGHT_CM: Final = 5

# What the entities reading the LoRa radio (asked, not reported) watch for.
LORA_FIELD: Final = "lora"

# The charger measures its radio's noise rarely: asking more often is pointless.
LORA_POLL_INTERVAL: Final = timedelta(minutes=10)

# With no valid report for this long, a repair issue explains what to check.
SILENCE_REPAIR_AFTER: Final = timedelta(minutes=10)
