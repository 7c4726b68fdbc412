"""The settings form: what it asks, what it suggests, how it is checked.

The user types the serial number, the WiFi and the broker; everything is
checked against the charger's rules (the protocol library) before anything is
sent. The broker address suggested is Home Assistant's LAN address: the MQTT
entry may name a container (``core-mosquitto``) the charger cannot resolve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt, network
from homeassistant.const import CONF_PORT
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from ..const import (
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_PASSWORD,
    CONF_SERIAL_NUMBER,
    CONF_SSID,
    LOGGER,
)
from ..protocol import ProvisioningSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

DEFAULT_MQTT_PORT = 1883

SETTINGS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_SERIAL_NUMBER): TextSelector(),
        probatio.Required(CONF_SSID): TextSelector(),
        probatio.Optional(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
        probatio.Required(CONF_MQTT_HOST): TextSelector(),
        probatio.Required(CONF_MQTT_PORT): NumberSelector(
            NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
        ),
    }
)


def settings_from_input(
    user_input: Mapping[str, Any], previous_password: str | None
) -> ProvisioningSettings:
    """Check what the user typed; raise InvalidSettingsError listing every mistake.

    An empty password on a retry keeps the one typed before (held in the
    flow's memory only), so the user need not type it again.
    """
    return ProvisioningSettings.create(
        serial_number=user_input[CONF_SERIAL_NUMBER],
        ssid=user_input[CONF_SSID],
        password=user_input.get(CONF_PASSWORD) or previous_password or "",
        mqtt_host=user_input[CONF_MQTT_HOST],
        mqtt_port=int(user_input[CONF_MQTT_PORT]),
    )


async def async_suggested_values(
    hass: HomeAssistant, typed: Mapping[str, Any]
) -> dict[str, Any]:
    """What the user typed before, else an address and port the charger can reach."""
    suggested = dict(typed)
    if CONF_MQTT_HOST not in suggested:
        try:
            suggested[CONF_MQTT_HOST] = await network.async_get_source_ip(hass)
        except HomeAssistantError:
            LOGGER.debug("No LAN address found to suggest for the broker")
    suggested.setdefault(CONF_MQTT_PORT, plain_broker_port(hass))
    return suggested


def plain_broker_port(hass: HomeAssistant) -> int:
    """The MQTT entry's port when it is plain TCP; the charger cannot do TLS."""
    entries = hass.config_entries.async_entries(mqtt.DOMAIN)
    if not entries:
        return DEFAULT_MQTT_PORT
    broker = entries[0].data
    plain = broker.get(mqtt.CONF_TRANSPORT, "tcp") == "tcp" and not broker.get(
        mqtt.CONF_CERTIFICATE
    )
    return int(broker.get(CONF_PORT, DEFAULT_MQTT_PORT)) if plain else DEFAULT_MQTT_PORT
