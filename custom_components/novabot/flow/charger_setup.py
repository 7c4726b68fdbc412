"""The charger a config flow sets up: what it is told, and what its entry keeps.

The flow gathers it step by step: the checked settings and the way to the
broker, then what the charger stored of its radio, then the other chargers that
reported while it waited for this one. From it come the settings sent over
Bluetooth, the entry's data (the contract in docs/architecture.md) and the
placeholders of the texts that speak of the charger. A charger adopted from the
broker has none of this: :func:`adopted_entry_data` is all its entry keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.const import CONF_PORT

from ..const import (
    CONF_ADDRESS,
    CONF_CHARGER_ADDRESS,
    CONF_CHARGER_CHANNEL,
    CONF_GATEWAY,
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_SERIAL_NUMBER,
)
from .settings_form import DEFAULT_MQTT_PORT

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from ..protocol import ProvisioningResult, ProvisioningSettings, RadioPairing
    from .broker_choice import BrokerChoice


@dataclass(slots=True)
class ChargerSetup:
    """A charger being provisioned over Bluetooth."""

    settings: ProvisioningSettings  # as the user typed them, checked
    route: BrokerChoice  # straight to the broker, or through the gateway
    address: str | None  # its Bluetooth address
    known_radio: RadioPairing | None = None  # its pairing, as Home Assistant knew it
    result: ProvisioningResult | None = None  # once provisioned
    others: tuple[str, ...] = ()  # new chargers that reported instead of it

    def told(self) -> ProvisioningSettings:
        """The settings sent: in gateway mode the gateway's port, not the broker's."""
        return replace(self.settings, mqtt_port=self.route.charger_port)

    @property
    def radio_kept(self) -> bool:
        """The charger was asked to pair its radio, and kept its old pairing."""
        return self.result is not None and self.result.radio_kept

    @property
    def radio(self) -> RadioPairing | None:
        """The pairing the charger holds now, as far as Home Assistant knows.

        The one it stored when asked; otherwise the one it had, which a charger
        not asked (or whose scan timed out) keeps.
        """
        stored = self.result.radio if self.result else None
        return stored or self.known_radio

    def entry_data(self) -> dict[str, Any]:
        """The entry's data: what the charger was told, and how to find it."""
        radio = self.radio
        return {
            CONF_SERIAL_NUMBER: self.settings.serial_number,
            CONF_CHARGER_ADDRESS: radio.address if radio else None,
            CONF_CHARGER_CHANNEL: radio.channel if radio else None,
            CONF_MQTT_HOST: self.settings.mqtt_host,
            CONF_MQTT_PORT: self.route.charger_port,
            CONF_GATEWAY: self.route.gateway,
            CONF_ADDRESS: self.address,
        }

    def progress_placeholders(self) -> dict[str, str]:
        """The radio pairing being sent, for the progress step's texts."""
        radio = self.settings.radio
        return {
            "lora_address": str(radio.address) if radio else "",
            "lora_channel": str(radio.channel) if radio else "",
        }

    def gateway_placeholders(self) -> dict[str, str]:
        """Why the gateway: the broker, the gateway's port, the firmware refused."""
        return {
            "host": self.settings.mqtt_host,
            "port": str(self.settings.mqtt_port),
            "gateway_port": str(self.route.charger_port),
            "firmware": self.route.refused_firmware,
        }

    def claim_placeholders(self, seconds: float) -> dict[str, str]:
        """Where the charger reports, and how long the claim window waits."""
        return {
            "host": self.settings.mqtt_host,
            "port": str(self.route.charger_port),
            "seconds": str(int(seconds)),
        }

    def timeout_placeholders(self, seconds: float) -> dict[str, str]:
        """The claim's, and which charger was awaited and which reported instead."""
        return {
            **self.claim_placeholders(seconds),
            "serial_number": self.settings.serial_number,
            "other_serial_numbers": ", ".join(self.others),
        }


def adopted_entry_data(hass: HomeAssistant, serial_number: str) -> dict[str, Any]:
    """The entry's data of a charger that reports to Home Assistant's broker."""
    broker = hass.config_entries.async_entries(mqtt.DOMAIN)[0].data
    return {
        CONF_SERIAL_NUMBER: serial_number,
        CONF_CHARGER_ADDRESS: None,
        CONF_CHARGER_CHANNEL: None,
        CONF_MQTT_HOST: broker.get(mqtt.CONF_BROKER, ""),
        CONF_MQTT_PORT: broker.get(CONF_PORT, DEFAULT_MQTT_PORT),
        CONF_GATEWAY: False,
    }
