"""Names and numbers of the virtual Bluetooth proxy and of the charger it simulates.

The charger's numbers come from the protocol document (``charger-protocol.md``
§1), not from the novabot integration: the proxy stands in for the hardware,
so a wrong constant in the integration must show up as a failure here.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "virtual_bluetooth_proxy"
LOGGER = logging.getLogger(__package__)

# Fired when a charger commits its settings and reboots out of provisioning
# mode; the data is described in __init__.py.
EVENT_CHARGER_PROVISIONED: Final = f"{DOMAIN}_charger_provisioned"

# What a charger in provisioning mode advertises.
ADVERTISED_NAME: Final = "CHARGER_PILE"
MANUFACTURER_ID: Final = 0x5566  # 21862; the payload is the BT MAC, then b"ESP"
MANUFACTURER_SUFFIX: Final = b"ESP"

# Its GATT server.
SERVICE_UUID: Final = "00001234-0000-1000-8000-00805f9b34fb"
COMMAND_CHARACTERISTIC: Final = "00002222-0000-1000-8000-00805f9b34fb"
DATA_CHARACTERISTIC: Final = "00003333-0000-1000-8000-00805f9b34fb"
ATT_MTU: Final = 23  # the default; the charger never negotiates a larger one

DEFAULT_RSSI: Final = -60
# ESPHome's Bluetooth proxies offer three active connections by default.
DEFAULT_CONNECTION_SLOTS: Final = 3
# Home Assistant forgets a connectable device a proxy has not heard for 195 s;
# a few seconds keeps the charger present without flooding the bus.
ADVERTISE_INTERVAL: Final = timedelta(seconds=5)
