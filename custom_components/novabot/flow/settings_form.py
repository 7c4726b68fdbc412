"""The settings form: what it asks, what it suggests, how it is checked.

The user types the serial number, the WiFi and the broker, and, only to pair
the radio, a LoRa address and channel in a collapsed section; everything is
checked against the charger's rules (the protocol library) before anything is
sent. The broker address suggested is Home Assistant's LAN address: the MQTT
entry may name a container (``core-mosquitto``) the charger cannot resolve.
A charger Home Assistant knows the pairing of has it suggested, pinned, and
the section open: sending it again is what keeps its mower paired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt, network
from homeassistant.const import CONF_PORT
from homeassistant.data_entry_flow import section
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
    CONF_LORA_ADDRESS,
    CONF_LORA_CHANNEL,
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_PASSWORD,
    CONF_RADIO,
    CONF_SERIAL_NUMBER,
    CONF_SSID,
    LOGGER,
)
from ..protocol import InvalidSettingsError, ProvisioningSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

DEFAULT_MQTT_PORT = 1883

RADIO_FIELDS = (CONF_LORA_ADDRESS, CONF_LORA_CHANNEL)


def _radio_box() -> NumberSelector:
    """A box for a LoRa number, without bounds: the protocol library checks them.

    Bounds here would make Home Assistant refuse a number outside them with
    an untranslated schema error, before the flow can say on the section what
    the charger takes (``lora_address_range``, ``lora_channel_range``).
    """
    return NumberSelector(NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX))


def settings_schema(*, radio_known: bool = False) -> probatio.Schema:
    """The form; the radio section is open when a known pairing is suggested."""
    return probatio.Schema(
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
            probatio.Required(CONF_RADIO): section(
                probatio.Schema(
                    {
                        probatio.Optional(CONF_LORA_ADDRESS): _radio_box(),
                        probatio.Optional(CONF_LORA_CHANNEL): _radio_box(),
                    }
                ),
                {"collapsed": not radio_known},
            ),
        }
    )


def settings_from_input(
    user_input: Mapping[str, Any], previous_password: str | None
) -> ProvisioningSettings:
    """Check what the user typed; raise InvalidSettingsError listing every mistake.

    An empty password on a retry keeps the one typed before (held in the
    flow's memory only), so the user need not type it again. A mistake in the
    radio section is reported on the section, where the frontend shows it.
    """
    radio = user_input.get(CONF_RADIO) or {}
    try:
        return ProvisioningSettings.create(
            serial_number=user_input[CONF_SERIAL_NUMBER],
            ssid=user_input[CONF_SSID],
            password=user_input.get(CONF_PASSWORD) or previous_password or "",
            mqtt_host=user_input[CONF_MQTT_HOST],
            mqtt_port=int(user_input[CONF_MQTT_PORT]),
            lora_address=_whole_number(radio.get(CONF_LORA_ADDRESS)),
            lora_channel=_whole_number(radio.get(CONF_LORA_CHANNEL)),
        )
    except InvalidSettingsError as err:
        errors = {
            CONF_RADIO if field in RADIO_FIELDS else field: code
            for field, code in err.errors.items()
        }
        raise InvalidSettingsError(errors) from err


def _whole_number(value: Any) -> Any:
    """A number the form gave, as an int when it is whole; else as it came.

    (The protocol library refuses what is not an int in range.)
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


async def async_suggested_values(
    hass: HomeAssistant, typed: Mapping[str, Any]
) -> dict[str, Any]:
    """What the user typed before, else an address and port the charger can reach."""
    suggested = dict(typed)
    suggested.setdefault(CONF_RADIO, {})
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
