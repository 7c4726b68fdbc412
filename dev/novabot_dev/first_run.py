"""What a first run writes: Home Assistant's configuration and its storage.

``config/configuration.yaml`` (the virtual Bluetooth proxy with a charger in
provisioning mode, logging) and, in ``config/.storage``, in Home Assistant's
own storage format: the MQTT entry and one charger already set up in gateway
mode, onboarding done but for the user (created through the API), the HTTP
server's address, and the network settings. Passwords go to
``.develop/credentials.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
import secrets
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .layout import (
    GATEWAY_PORT,
    MQTT_USER,
    NEW_CHARGER_ADDRESS,
    PROVISIONED_CHARGER_ADDRESS,
    PROVISIONED_SERIAL_NUMBER,
    PROXY_NAME,
)

if TYPE_CHECKING:
    from .layout import Layout


class FirstRunError(Exception):
    """The directories are in a state a run cannot start from."""


def load_credentials(layout: Layout) -> dict[str, str]:
    """The passwords of this instance, made on the first run."""
    if layout.credentials.exists():
        credentials: dict[str, str] = json.loads(layout.credentials.read_text())
        return credentials
    if (layout.config / ".storage").exists():
        raise FirstRunError(
            f"{layout.credentials} is missing but {layout.config} exists: "
            "start afresh (scripts/develop --reset)"
        )
    credentials = {
        "dev_password": secrets.token_urlsafe(9),
        "mqtt_password": secrets.token_urlsafe(12),
    }
    layout.state.mkdir(mode=0o755, parents=True, exist_ok=True)
    layout.credentials.write_text(json.dumps(credentials, indent=2) + "\n")
    layout.credentials.chmod(0o600)
    return credentials


def needed(layout: Layout) -> bool:
    """Whether Home Assistant's configuration has not been written yet."""
    return not (layout.config / ".storage" / "core.config_entries").exists()


def write_config(layout: Layout, credentials: dict[str, str]) -> None:
    """configuration.yaml and the storage files, as Home Assistant writes them."""
    write_files(
        layout,
        configuration_yaml(layout),
        config_entries(layout, credentials["mqtt_password"]),
    )


def write_files(layout: Layout, yaml: str, entries: dict[str, Any]) -> None:
    """configuration.yaml, the config entries, and the rest of a first run's storage."""
    storage = layout.config / ".storage"
    storage.mkdir(parents=True)
    (layout.config / "configuration.yaml").write_text(yaml)
    for name, content in (
        ("core.config_entries", entries),
        ("core.network", network()),
        ("onboarding", onboarding()),
        ("http", http(layout)),
    ):
        (storage / name).write_text(json.dumps(content, indent=4) + "\n")


def configuration_yaml(layout: Layout) -> str:
    """The YAML part: names, login providers, the virtual proxy, logging."""
    return f"""\
# Written by scripts/develop (scripts/develop --reset writes it again).
# The HTTP server's address ({layout.host}:{layout.http_port}) is in .storage/http:
# Home Assistant 2026.10 takes it from there, not from YAML.
homeassistant:
  name: Novabot development
  unit_system: metric
  time_zone: UTC
  country: NL
  currency: EUR
  language: en
  auth_providers:
    # First: a browser on this machine (and the browser test) gets in without
    # typing, as the only user.
    - type: trusted_networks
      trusted_networks:
        - {layout.host}/32
      allow_bypass_login: true
    # Logins with user name and password (scripts/develop prints them).
    - type: homeassistant

# A Bluetooth proxy (like an ESPHome one) hearing a charger that was just
# powered on: it advertises in provisioning mode until it is set up. Its
# firmware takes a few seconds per step (timings: demo).
virtual_bluetooth_proxy:
  - name: {PROXY_NAME}
    rssi: -60
    chargers:
      - address: "{NEW_CHARGER_ADDRESS}"
        timings: demo

logger:
  default: warning
  logs:
    # debug shows every relayed report
    custom_components.novabot: info
    custom_components.virtual_bluetooth_proxy: info
    # Harmless here, noisy at every start: no ffmpeg or libturbojpeg binaries,
    # no Bluetooth adapter (the proxy is virtual).
    haffmpeg: critical
    homeassistant.components.camera.img_util: critical
    bleak_retry_connector.bluez: critical
"""


def _entry(**fields: Any) -> dict[str, Any]:
    from homeassistant import config_entries  # noqa: PLC0415 - slow import

    now = datetime.now(UTC)
    return config_entries.ConfigEntry(
        created_at=now,
        modified_at=now,
        discovery_keys=MappingProxyType({}),
        source=config_entries.SOURCE_USER,
        subentries_data=None,
        **fields,
    ).as_dict()


def config_entries(layout: Layout, mqtt_password: str) -> dict[str, Any]:
    """core.config_entries: MQTT logged in to Mosquitto, one charger in gateway mode."""
    # As the setup dialog creates it for a charger behind the add-on: the
    # gateway on its default port and address, like the new charger's.
    charger = charger_entry(layout, PROVISIONED_SERIAL_NUMBER, GATEWAY_PORT)
    return entries_file([mqtt_entry(layout, mqtt_password), charger])


def entries_file(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """core.config_entries holding ``entries``."""
    from homeassistant import config_entries  # noqa: PLC0415

    return {
        "version": config_entries.STORAGE_VERSION,
        "minor_version": config_entries.STORAGE_VERSION_MINOR,
        "key": config_entries.STORAGE_KEY,
        "data": {"entries": entries},
    }


def mqtt_entry(layout: Layout, mqtt_password: str) -> dict[str, Any]:
    """The MQTT integration, logged in to the instance's Mosquitto."""
    from homeassistant.components.mqtt.const import (  # noqa: PLC0415
        CONFIG_ENTRY_MINOR_VERSION,
        CONFIG_ENTRY_VERSION,
    )

    return _entry(
        domain="mqtt",
        title=layout.host,
        data={
            "broker": layout.host,
            "port": layout.mqtt_port,
            "username": MQTT_USER,
            "password": mqtt_password,
            "protocol": "5",
        },
        options={},
        unique_id=None,
        version=CONFIG_ENTRY_VERSION,
        minor_version=CONFIG_ENTRY_MINOR_VERSION,
    )


def charger_entry(
    layout: Layout,
    serial_number: str,
    gateway_port: int,
    options: dict[str, Any] | None = None,
    address: str | None = PROVISIONED_CHARGER_ADDRESS,
) -> dict[str, Any]:
    """A charger set up in gateway mode, told ``gateway_port``.

    ``address``: its Bluetooth address, when it was set up over Bluetooth.
    Its radio pairing is learnt from the charger once it reports.
    """
    return _entry(
        domain="novabot",
        title=f"Novabot charger {serial_number}",
        data={
            "serial_number": serial_number,
            "charger_address": None,
            "charger_channel": None,
            "mqtt_host": layout.host,
            "mqtt_port": gateway_port,
            "gateway": True,
            "address": address,
        },
        options=options or {},
        unique_id=serial_number,
        version=1,
        minor_version=3,
    )


def network() -> dict[str, Any]:
    """Only the loopback adapter enabled (Settings > System > Network).

    Home Assistant's address on the network is then 127.0.0.1, where Mosquitto
    and the gateway are: what the setup dialog suggests as the broker address.
    """
    from homeassistant.components.network import const  # noqa: PLC0415

    return {
        "version": const.STORAGE_VERSION,
        "minor_version": 1,
        "key": const.STORAGE_KEY,
        "data": {const.ATTR_CONFIGURED_ADAPTERS: ["lo"]},
    }


def onboarding() -> dict[str, Any]:
    """Every onboarding step but the user step done; the user comes via the API."""
    from homeassistant.components import onboarding  # noqa: PLC0415
    from homeassistant.components.onboarding import const  # noqa: PLC0415

    done = [step for step in const.STEPS if step != const.STEP_USER]
    return {
        "version": onboarding.STORAGE_VERSION,
        "minor_version": 1,
        "key": onboarding.STORAGE_KEY,
        "data": {"done": done},
    }


def http(layout: Layout) -> dict[str, Any]:
    """The HTTP server's settings, as confirmed ("stable") config.

    Since 2026.10 an ``http:`` YAML section is only a trial that reverts (and
    restarts Home Assistant) unless confirmed in the UI within five minutes.
    """
    from homeassistant.components.http import config  # noqa: PLC0415

    stable = config.HTTP_STORAGE_SCHEMA(
        {"server_host": [layout.host], "server_port": layout.http_port}
    ) | {
        config.HTTP_CONFIG_CREATED_AT: datetime.now(UTC).isoformat(),
        config.HTTP_CONFIG_ERROR: None,
        config.HTTP_CONFIG_ERROR_MESSAGE: None,
    }
    return {
        "version": config.STORAGE_VERSION,
        "minor_version": config.STORAGE_MINOR_VERSION,
        "key": config.STORAGE_KEY,
        "data": {
            config.KEY_STABLE: stable,
            config.KEY_PENDING: None,
            config.KEY_YAML_MIGRATION_DONE: True,
        },
    }


def chargers_configured(layout: Layout) -> list[dict[str, Any]]:
    """The data of every Novabot entry in Home Assistant's storage.

    Read when the instance starts: each of them is a charger that reboots with
    it and reports where it was told to.
    """
    path = layout.config / ".storage" / "core.config_entries"
    entries = json.loads(path.read_text())["data"]["entries"]
    return [entry["data"] for entry in entries if entry["domain"] == "novabot"]
