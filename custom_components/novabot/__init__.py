"""The Novabot charger integration: Home Assistant as the charger's home."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)

from .const import CONF_GATEWAY, CONF_MQTT_PORT, CONF_SERIAL_NUMBER, DOMAIN, LOGGER
from .coordinator import (
    NovabotConfigEntry,
    NovabotCoordinator,
    mower_identifier,
    no_reports_issue_id,
)
from .entity import charger_device
from .gateway import GatewayError, async_apply_gateway_settings, async_use_gateway
from .services import async_setup_services

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.typing import ConfigType

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.LAWN_MOWER,
    Platform.SENSOR,
]
# Entities that are no more, by the entry version that retired them: bits 1..7
# of charger_status are not a signal (1.2); the mowing settings kept only in
# Home Assistant became the novabot.start_mowing action and options (1.3).
RETIRED_ENTITIES = {
    2: (("sensor", "lora_rssi"),),
    3: (("number", "cutting_height"), ("select", "mowing_area")),
}
# Entities of the mower, which moved from the charger's device to its own (1.3).
MOWER_ENTITIES = (
    ("lawn_mower", "mower"),
    *(
        ("sensor", key)
        for key in (
            "mower_activity",
            "mower_battery",
            "mower_status",
            "mower_x",
            "mower_y",
            "mower_z",
            "mower_info",
            "mower_info1",
        )
    ),
    ("binary_sensor", "mower_connected"),
)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Listen to the charger's reports (through the gateway when it needs one)."""
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="mqtt_unavailable"
        )
    if entry.data.get(CONF_GATEWAY):
        try:
            # Kept while the port cannot be opened: the gateway tries again,
            # and a repair issue says why for as long as that lasts.
            release = await async_use_gateway(
                hass,
                entry.data[CONF_SERIAL_NUMBER],
                entry.data[CONF_MQTT_PORT],
                keep=True,
            )
        except GatewayError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders=err.translation_placeholders,
            ) from err
        entry.async_on_unload(release)

    coordinator = NovabotCoordinator(hass, entry)
    await coordinator.async_start()
    entry.runtime_data = coordinator
    # The charger's device first: its mower's is reached through it.
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **charger_device(coordinator)
    )
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
    """Apply changed options at once: a reload would drop the gateway's chargers."""
    entry.runtime_data.async_options_updated()
    if entry.data.get(CONF_GATEWAY):
        try:
            await async_apply_gateway_settings(hass)
        except GatewayError as err:
            LOGGER.warning("The Novabot gateway stays where it listens: %s", err)


async def async_migrate_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Retire entities (1.2, 1.3) and give the mower its own device (1.3).

    (An entry of a newer major version, after a downgrade, Home Assistant
    refuses before it asks.)
    """
    registry = er.async_get(hass)
    serial_number = entry.data[CONF_SERIAL_NUMBER]
    for minor_version, retired in RETIRED_ENTITIES.items():
        if entry.minor_version >= minor_version:
            continue
        for platform, key in retired:
            if entity_id := registry.async_get_entity_id(
                platform, DOMAIN, f"{serial_number}_{key}"
            ):
                registry.async_remove(entity_id)
    if entry.minor_version < 3:
        _give_the_mower_its_device(hass, entry)
    hass.config_entries.async_update_entry(entry, minor_version=3)
    return True


def _give_the_mower_its_device(hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
    """Move the mower's entities, when there are any, to the mower's own device."""
    registry = er.async_get(hass)
    devices = dr.async_get(hass)
    serial_number = entry.data[CONF_SERIAL_NUMBER]
    moving = [
        entity_id
        for platform, key in MOWER_ENTITIES
        if (
            entity_id := registry.async_get_entity_id(
                platform, DOMAIN, f"{serial_number}_{key}"
            )
        )
    ]
    charger = devices.async_get_device_by_identifier(
        (DOMAIN, serial_number), entry.entry_id
    )
    if not moving or charger is None:
        return  # no mower was ever heard: its device appears when one answers
    # The device as the mower's entities describe it (entity.mower_device),
    # which they will fill in when they are added.
    device = devices.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={mower_identifier(serial_number)},
        via_device_id=charger.id,
    )
    for entity_id in moving:
        registry.async_update_entity(entity_id, device_id=device.id)


async def async_unload_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> bool:
    """Stop listening; the gateway stops with its last charger."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
    """A removed charger leaves no repair issue behind (it may not have loaded)."""
    ir.async_delete_issue(
        hass, DOMAIN, no_reports_issue_id(entry.data[CONF_SERIAL_NUMBER])
    )


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: NovabotConfigEntry, device: dr.DeviceEntry
) -> bool:
    """The mower's device may be removed (it comes back if it answers again).

    The charger's may not: it goes with its entry.
    """
    if mower_identifier(entry.data[CONF_SERIAL_NUMBER]) not in device.identifiers:
        return False
    if entry.state is ConfigEntryState.LOADED:
        entry.runtime_data.mower.forget()
    return True
