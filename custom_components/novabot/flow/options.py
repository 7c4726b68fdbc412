"""The options: silence, the mower's start, and where the gateway listens.

Every charger has the stale timeout and what the mower's plain start mows (the
``novabot.start_mowing`` action picks per run). A charger in gateway mode also
shows the gateway's port and listening address, which are one setting for
every charger using the gateway: saving them here saves them in every such
entry. Options apply at once, without a reload (the entry's update listener),
so no charger loses its connection to the gateway over an option.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from homeassistant.components import network
from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from ..const import (
    CONF_CUTTING_HEIGHT,
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MOWING_AREA,
    CONF_STALE_TIMEOUT,
    DEFAULT_CUTTING_HEIGHT_CM,
    DEFAULT_MOWING_AREA,
    DEFAULT_STALE_TIMEOUT,
)
from ..gateway import GatewaySettings, shared_gateway_settings
from ..gateway.settings import gateway_entries
from ..protocol.mower import MAX_CUTTING_HEIGHT_CM, MIN_CUTTING_HEIGHT_CM, MowingArea

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

MOWING = "mowing"
GATEWAY = "gateway"
AREA_OPTIONS = [area.key for area in MowingArea]


def _box(low: int, high: int, unit: str | None = None) -> NumberSelector:
    config = NumberSelectorConfig(
        min=low, max=high, step=1, mode=NumberSelectorMode.BOX
    )
    if unit:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def options_schema(*, gateway: bool) -> probatio.Schema:
    """The fields: the stale timeout, the mowing defaults, and the gateway's."""
    fields: dict[probatio.Marker, Any] = {
        probatio.Required(CONF_STALE_TIMEOUT): _box(10, 600, "s"),
        probatio.Required(MOWING): section(
            probatio.Schema(
                {
                    probatio.Required(CONF_MOWING_AREA): SelectSelector(
                        SelectSelectorConfig(
                            options=AREA_OPTIONS,
                            multiple=True,
                            translation_key=CONF_MOWING_AREA,
                        )
                    ),
                    probatio.Required(CONF_CUTTING_HEIGHT): _box(
                        MIN_CUTTING_HEIGHT_CM, MAX_CUTTING_HEIGHT_CM, "cm"
                    ),
                }
            )
        ),
    }
    if gateway:
        fields[probatio.Required(GATEWAY)] = section(
            probatio.Schema(
                {
                    probatio.Required(CONF_GATEWAY_PORT): _box(1, 65535),
                    probatio.Required(CONF_GATEWAY_BIND_ADDRESS): TextSelector(),
                }
            )
        )
    return probatio.Schema(fields)


def current_options(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[str, Any]:
    """What the entry runs with, in the form's shape (the gateway's: shared)."""
    return {
        CONF_STALE_TIMEOUT: options.get(CONF_STALE_TIMEOUT, DEFAULT_STALE_TIMEOUT),
        MOWING: {
            CONF_MOWING_AREA: options.get(CONF_MOWING_AREA, DEFAULT_MOWING_AREA),
            CONF_CUTTING_HEIGHT: options.get(
                CONF_CUTTING_HEIGHT, DEFAULT_CUTTING_HEIGHT_CM
            ),
        },
        GATEWAY: shared_gateway_settings(hass).as_options(),
    }


async def async_can_listen_on(hass: HomeAssistant, value: str) -> bool:
    """Whether the gateway can listen there: any, loopback or this host's."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_unspecified or address.is_loopback:
        return True
    return address in await network.async_get_enabled_source_ips(hass)


class NovabotOptionsFlow(OptionsFlow):
    """Change how long silence may last, the mower's start, the gateway's place."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and save the options."""
        errors: dict[str, str] = {}
        gateway = bool(self.config_entry.data.get(CONF_GATEWAY))
        if user_input is not None:
            mowing = user_input[MOWING]
            options = {
                **self.config_entry.options,
                CONF_STALE_TIMEOUT: int(user_input[CONF_STALE_TIMEOUT]),
                CONF_MOWING_AREA: list(mowing[CONF_MOWING_AREA]),
                CONF_CUTTING_HEIGHT: int(mowing[CONF_CUTTING_HEIGHT]),
            }
            if not mowing[CONF_MOWING_AREA]:
                errors[MOWING] = "no_mowing_area"
            if gateway:
                settings = GatewaySettings(
                    port=int(user_input[GATEWAY][CONF_GATEWAY_PORT]),
                    bind_address=user_input[GATEWAY][CONF_GATEWAY_BIND_ADDRESS].strip(),
                )
                if not await async_can_listen_on(self.hass, settings.bind_address):
                    errors[GATEWAY] = "invalid_bind_address"
                options |= settings.as_options()
            if not errors:
                if gateway:
                    self._share_gateway_settings(options)
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                options_schema(gateway=gateway),
                user_input or current_options(self.hass, self.config_entry.options),
            ),
            errors=errors,
        )

    def _share_gateway_settings(self, options: Mapping[str, Any]) -> None:
        """Give every other gateway-mode entry the same gateway settings."""
        shared = {
            key: options[key] for key in (CONF_GATEWAY_PORT, CONF_GATEWAY_BIND_ADDRESS)
        }
        for entry in gateway_entries(self.hass):
            if entry.entry_id != self.config_entry.entry_id:
                self.hass.config_entries.async_update_entry(
                    entry, options={**entry.options, **shared}
                )
