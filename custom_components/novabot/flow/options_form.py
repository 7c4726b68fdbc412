"""The options form: how long silence may last, and where the gateway listens.

Every charger has the stale timeout; one in gateway mode also the gateway's
port and listening address, which must be an address Home Assistant can
listen on. The form shows what the entry runs with until options are saved.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from homeassistant.components import network
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)
import probatio

from ..const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_STALE_TIMEOUT,
    DEFAULT_STALE_TIMEOUT,
)
from ..gateway import gateway_endpoint

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant


def options_schema(*, gateway: bool) -> probatio.Schema:
    """The fields: the stale timeout, and for the gateway its port and address."""
    fields: dict[probatio.Marker, Any] = {
        probatio.Required(CONF_STALE_TIMEOUT): NumberSelector(
            NumberSelectorConfig(
                min=10,
                max=600,
                step=1,
                unit_of_measurement="s",
                mode=NumberSelectorMode.BOX,
            )
        )
    }
    if gateway:
        fields[probatio.Required(CONF_GATEWAY_PORT)] = NumberSelector(
            NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
        )
        fields[probatio.Required(CONF_GATEWAY_BIND_ADDRESS)] = TextSelector()
    return probatio.Schema(fields)


def current_options(entry: ConfigEntry, *, gateway: bool) -> dict[str, Any]:
    """What the entry runs with: its options, else the defaults."""
    current: dict[str, Any] = {CONF_STALE_TIMEOUT: DEFAULT_STALE_TIMEOUT}
    if gateway:
        current[CONF_GATEWAY_PORT], current[CONF_GATEWAY_BIND_ADDRESS] = (
            gateway_endpoint(entry)
        )
    current.update(entry.options)
    return current


def options_from_input(
    user_input: Mapping[str, Any], *, gateway: bool
) -> dict[str, Any]:
    """The options to save: whole numbers, the address without spaces around it."""
    options: dict[str, Any] = {CONF_STALE_TIMEOUT: int(user_input[CONF_STALE_TIMEOUT])}
    if gateway:
        options[CONF_GATEWAY_PORT] = int(user_input[CONF_GATEWAY_PORT])
        options[CONF_GATEWAY_BIND_ADDRESS] = user_input[
            CONF_GATEWAY_BIND_ADDRESS
        ].strip()
    return options


async def async_can_listen_on(hass: HomeAssistant, value: str) -> bool:
    """Whether the gateway can listen there: any, loopback or this host's."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_unspecified or address.is_loopback:
        return True
    return address in await network.async_get_enabled_source_ips(hass)
