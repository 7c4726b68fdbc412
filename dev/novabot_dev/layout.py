"""Where a development instance keeps its files, which ports it uses, its chargers.

scripts/develop uses :meth:`Layout.default`: ``config/`` and ``.develop/`` in the
repository, the fixed ports its README names. Tests make their own with
temporary directories and free ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
MQTT_USER = "homeassistant"
DEV_USER = "dev"

# The charger the first run sets up, reporting through the gateway at once (set
# up over Bluetooth earlier: its entry keeps its Bluetooth address).
PROVISIONED_SERIAL_NUMBER = "LFIC1230700123"
PROVISIONED_CHARGER_ADDRESS = "24:0A:C4:5E:A1:00"
# The charger in provisioning mode the virtual Bluetooth proxy hears: the
# newcomer types this serial number (from the "label") in the setup dialog.
NEW_SERIAL_NUMBER = "LFIC1230700456"
NEW_CHARGER_ADDRESS = "24:0A:C4:5E:A1:01"
PROXY_NAME = "Garden proxy"

# The config flow opens the gateway for a new charger on this port (its
# default, not configurable before the entry exists).
GATEWAY_PORT = 1885


@dataclass(frozen=True, slots=True)
class Layout:
    """The directories and ports of one development instance."""

    config: Path  # Home Assistant's configuration directory
    state: Path  # credentials, token, logs, Mosquitto's files, pids
    http_port: int = 8123
    mqtt_port: int = 18830
    host: str = HOST
    # Mosquitto's configuration, logins and log; None: a temporary directory.
    # Mosquitto's user must be able to read it (pytest's tmp_path is 0700).
    mosquitto: Path | None = None

    @classmethod
    def default(cls) -> Layout:
        """scripts/develop's: ``config/`` and ``.develop/`` in the repository."""
        state = ROOT / ".develop"
        return cls(config=ROOT / "config", state=state, mosquitto=state / "mosquitto")

    @property
    def url(self) -> str:
        """Home Assistant's address."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def client_id(self) -> str:
        """The OAuth client id of scripts/develop (any URL will do)."""
        return f"{self.url}/"

    @property
    def credentials(self) -> Path:
        """The passwords of the ``dev`` user and of Home Assistant's MQTT login."""
        return self.state / "credentials.json"

    @property
    def token(self) -> Path:
        """A long-lived access token for the API."""
        return self.state / "token"

    @property
    def pids(self) -> Path:
        """The running processes, so a later run can stop what a killed one left."""
        return self.state / "pids.json"

    def simulator_log(self, serial_number: str) -> Path:
        """Where a simulated charger's output goes."""
        return self.state / f"simulator-{serial_number}.log"
