"""What the gateway shows in diagnostics: state, ports, clients, limits and counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.novabot.gateway import Drop, async_get_gateway_diagnostics

from ..flow_helpers import wait_for
from .common import (
    CLIENT_ID,
    LOOPBACK,
    OTHER_SN,
    REPORT,
    STATUS,
    counters,
    dropped,
    use_gateway,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger


async def test_diagnostics_of_a_running_gateway(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    port: int,
    taken_port: int,
) -> None:
    """Ports open and not, address, how many chargers, clients, limits, counters.

    Serial numbers stay out: the chargers are only counted.
    """
    release_other = await use_gateway(hass, taken_port, OTHER_SN, keep=True)
    charger = await clients()
    charger.publish(STATUS, REPORT)
    charger.publish("foreign", b"{}")
    await wait_for(lambda: dropped(hass, Drop.FOREIGN_TOPIC) == 1)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)

    assert async_get_gateway_diagnostics(hass) == {
        "running": True,
        "ports": [port],
        "ports_not_open": [taken_port],
        "bind_address": LOOPBACK,
        "chargers_admitted": 2,
        "clients": [
            {
                "client_id": CLIENT_ID,
                "remote_address": LOOPBACK,
                "remote_port": charger.local_port,
            }
        ],
        "limits": {
            "max_clients": 8,
            "max_packet_size": 4096,
            "rate_limit": 20.0,
            "rate_burst": 10,
            "max_violations": 20,
        },
        "counters": {
            "connections": 1,
            "relayed_up": 1,
            "relayed_down": 0,
            "dropped": {Drop.FOREIGN_TOPIC: 1},
            "disconnected": {},
        },
    }
    await release_other()


async def test_diagnostics_before_any_use(hass: HomeAssistant) -> None:
    """Never used: an idle gateway, nowhere, nobody, nothing counted."""
    diagnostics = async_get_gateway_diagnostics(hass)
    del diagnostics["limits"]
    assert diagnostics == {
        "running": False,
        "ports": [],
        "ports_not_open": [],
        "bind_address": None,
        "chargers_admitted": 0,
        "clients": [],
        "counters": {
            "connections": 0,
            "relayed_up": 0,
            "relayed_down": 0,
            "dropped": {},
            "disconnected": {},
        },
    }
