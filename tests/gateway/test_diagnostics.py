"""What the gateway shows in diagnostics: state, clients, limits and counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from custom_components.novabot.gateway import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    Drop,
    async_get_gateway_diagnostics,
)

from ..flow_helpers import wait_for
from .common import (
    CLIENT_ID,
    LOOPBACK,
    REPORT,
    SN,
    STATUS,
    counters,
    dropped,
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
) -> None:
    """State, address, admitted chargers, clients, limits and counters."""
    charger = await clients()
    charger.publish(STATUS, REPORT)
    charger.publish("foreign", b"{}")
    await wait_for(lambda: dropped(hass, Drop.FOREIGN_TOPIC) == 1)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)

    assert async_get_gateway_diagnostics(hass) == {
        "running": True,
        "port": port,
        "bind_address": LOOPBACK,
        "admitted_serial_numbers": [SN],
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


async def test_diagnostics_before_any_use(hass: HomeAssistant) -> None:
    """Never used: an idle gateway with the defaults."""
    diagnostics = async_get_gateway_diagnostics(hass)
    assert diagnostics["running"] is False
    assert diagnostics["port"] is None
    assert diagnostics["clients"] == []
    assert diagnostics["counters"]["dropped"] == {}
    assert (DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS) == (1885, "0.0.0.0")  # noqa: S104
