"""Diagnostics: what helps a bug report, and nothing that identifies the owner.

Owners attach diagnostics to public bug reports, and the serial number's last
four characters complete the charger's AES key: whoever reads it can decrypt
the charger's messages and send it commands. So the serial number is redacted
wherever it appears (keys, titles, topics, client ids), and so are Bluetooth
addresses, hosts, IP addresses and client ids. What stays: the firmware, the
mode, the counters, the last decoded values, the radio, whether reports are
encrypted.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data

from .const import (
    CONF_ADDRESS,
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_MQTT_HOST,
    CONF_SERIAL_NUMBER,
    DOMAIN,
)
from .gateway import async_get_gateway_diagnostics

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import NovabotConfigEntry

TO_REDACT = {
    CONF_SERIAL_NUMBER,
    CONF_MQTT_HOST,
    CONF_GATEWAY_BIND_ADDRESS,
    "bind_address",
    "title",
    "unique_id",
    "client_id",
    "remote_address",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: NovabotConfigEntry
) -> dict[str, Any]:
    """The entry, the last decoded report, and how reports have fared.

    The WiFi password is never stored, so it cannot appear here.
    """
    coordinator = entry.runtime_data
    status = coordinator.data
    lora = coordinator.details.lora
    diagnostics: dict[str, Any] = {
        "entry": {
            "title": entry.title,
            "unique_id": entry.unique_id,
            "version": f"{entry.version}.{entry.minor_version}",
            # The Bluetooth address, redacted here only: the LoRa radio's
            # "address" (below) is no secret.
            "data": async_redact_data(entry.data, {CONF_ADDRESS}),
            "options": dict(entry.options),
        },
        "mode": "gateway" if entry.data.get(CONF_GATEWAY) else "direct",
        "online": coordinator.online,
        "firmware_version": coordinator.details.firmware_version,
        "encrypted_reports": coordinator.encrypted,
        "last_report": (
            coordinator.last_report.isoformat() if coordinator.last_report else None
        ),
        "reports_accepted": coordinator.reports_accepted,
        "reports_ignored": dict(coordinator.reports_ignored),
        "status": asdict(status) if status else None,
        "mower_present": coordinator.mower.present,
        "lora": asdict(lora) if lora else None,
    }
    if entry.data.get(CONF_GATEWAY):
        diagnostics["gateway"] = async_get_gateway_diagnostics(hass)
    redacted: dict[str, Any] = _without(
        async_redact_data(diagnostics, TO_REDACT), _serial_numbers(hass)
    )
    return redacted


def _serial_numbers(hass: HomeAssistant) -> set[str]:
    """Every configured charger's serial number: any may appear (the gateway's)."""
    return {
        entry.data[CONF_SERIAL_NUMBER]
        for entry in hass.config_entries.async_entries(DOMAIN)
        if CONF_SERIAL_NUMBER in entry.data
    }


def _without(value: Any, secrets: set[str]) -> Any:
    """``value`` with every occurrence of the secrets in its strings redacted."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {
            _without(key, secrets): _without(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_without(item, secrets) for item in value]
    return value
