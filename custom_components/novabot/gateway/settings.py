"""Where the gateway listens: one setting for every charger that uses it.

The listening address, and the port a charger is told when it is set up, are
options of each gateway-mode entry, and all of them hold the same values:
saving them in one entry's options saves them in all (``flow.options``). When
they disagree (entries from before), the oldest entry's count, so that every
start of Home Assistant listens in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..const import CONF_GATEWAY, CONF_GATEWAY_BIND_ADDRESS, CONF_GATEWAY_PORT, DOMAIN

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

DEFAULT_GATEWAY_PORT: Final = 1885
DEFAULT_BIND_ADDRESS: Final = "0.0.0.0"  # noqa: S104 - chargers connect over the LAN


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """The address the gateway listens on, and the port new chargers are told."""

    port: int = DEFAULT_GATEWAY_PORT
    bind_address: str = DEFAULT_BIND_ADDRESS

    def as_options(self) -> dict[str, Any]:
        """The settings as an entry's options."""
        return {
            CONF_GATEWAY_PORT: self.port,
            CONF_GATEWAY_BIND_ADDRESS: self.bind_address,
        }


def gateway_entries(hass: HomeAssistant) -> list[ConfigEntry]:
    """The entries of chargers that use the gateway, oldest first."""
    return sorted(
        (
            entry
            for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False)
            if entry.data.get(CONF_GATEWAY)
        ),
        key=lambda entry: (entry.created_at, entry.entry_id),
    )


def shared_gateway_settings(hass: HomeAssistant) -> GatewaySettings:
    """The gateway's settings, as the gateway-mode entries' options give them."""
    for entry in gateway_entries(hass):
        if (
            CONF_GATEWAY_PORT in entry.options
            or CONF_GATEWAY_BIND_ADDRESS in entry.options
        ):
            return GatewaySettings(
                port=entry.options.get(CONF_GATEWAY_PORT, DEFAULT_GATEWAY_PORT),
                bind_address=entry.options.get(
                    CONF_GATEWAY_BIND_ADDRESS, DEFAULT_BIND_ADDRESS
                ),
            )
    return GatewaySettings()
