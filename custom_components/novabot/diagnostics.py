"""Diagnostics: what the integration knows about a charger, nothing secret."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from .const import CONF_GATEWAY
from .gateway import async_get_gateway_diagnostics

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import NovabotConfigEntry


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: NovabotConfigEntry
) -> dict[str, Any]:
    """Return the entry, the last decoded report and how reports have fared.

    The WiFi password is never stored, so there is nothing to redact.
    """
    coordinator = entry.runtime_data
    status = coordinator.data
    diagnostics: dict[str, Any] = {
        "entry": {"data": dict(entry.data), "options": dict(entry.options)},
        "online": coordinator.online,
        "status": asdict(status) if status else None,
        "firmware_version": coordinator.details.firmware_version,
        "lora": asdict(lora) if (lora := coordinator.details.lora) else None,
        "mowing": {
            "area": coordinator.mowing_area.name.lower(),
            "cutting_height_cm": coordinator.cutting_height_cm,
        },
        "encrypted_reports": coordinator.encrypted,
        "last_report": coordinator.last_report.isoformat()
        if coordinator.last_report
        else None,
        "reports_accepted": coordinator.reports_accepted,
        "reports_ignored": dict(coordinator.reports_ignored),
    }
    if entry.data.get(CONF_GATEWAY):
        diagnostics["gateway"] = async_get_gateway_diagnostics(hass)
    return diagnostics
