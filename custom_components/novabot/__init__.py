"""The Novabot charger integration: Home Assistant as the charger's home."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import entity_registry as er, issue_registry as ir

from .const import (
    CONF_GATEWAY,
    CONF_SERIAL_NUMBER,
    DOMAIN,
)
from .coordinator import NovabotConfigEntry, NovabotCoordinator, no_reports_issue_id
from .gateway import (
    GatewayError,
    GatewayPortInUseError,
    async_use_gateway,
    gateway_endpoint,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.LAWN_MOWER,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
]
# Entities that are no more: bits 1..7 of charger_status are not a signal.
RETIRED_ENTITIES = (("sensor", "lora_rssi"),)


async def async_setup_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Listen to the charger's reports (through the gateway when it needs one)."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="mqtt_unavailable"
        )
    if entry.data.get(CONF_GATEWAY):
        await _async_start_gateway(hass, entry)

    coordinator = NovabotCoordinator(hass, entry)
    await coordinator.async_start()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_start_gateway(hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
    port, bind_address = gateway_endpoint(entry)
    issue_id = "gateway_port_in_use"  # one gateway per Home Assistant, so one issue
    try:
        release = await async_use_gateway(
            hass,
            entry.data[CONF_SERIAL_NUMBER],
            port=port,
            bind_address=bind_address,
        )
    except GatewayError as err:
        if isinstance(err, GatewayPortInUseError):
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="gateway_port_in_use",
                translation_placeholders={"port": str(port)},
            )
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key=err.translation_key,
            translation_placeholders=err.translation_placeholders,
        ) from err
    ir.async_delete_issue(hass, DOMAIN, issue_id)
    entry.async_on_unload(release)


async def async_migrate_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Version 1.2: the "LoRa signal" sensor is retired.

    (An entry of a newer major version, after a downgrade, Home Assistant
    refuses before it asks.)
    """
    if entry.minor_version < 2:
        registry = er.async_get(hass)
        serial_number = entry.data[CONF_SERIAL_NUMBER]
        for platform, key in RETIRED_ENTITIES:
            if entity_id := registry.async_get_entity_id(
                platform, DOMAIN, f"{serial_number}_{key}"
            ):
                registry.async_remove(entity_id)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Stop listening; the gateway stops with its last charger."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
    """A removed charger leaves no repair issue behind."""
    ir.async_delete_issue(
        hass, DOMAIN, no_reports_issue_id(entry.data[CONF_SERIAL_NUMBER])
    )
