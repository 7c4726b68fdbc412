"""What the gateway tests share: a charger's names, ports, and what the gateway counted."""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from custom_components.novabot.gateway import (
    DATA_GATEWAY,
    async_get_gateway_diagnostics,
    async_use_gateway,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.core import HomeAssistant
    import pytest
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from custom_components.novabot.gateway.broker import NovabotGateway

SN = "LFIC1230700123"
OTHER_SN = "LFIC1230700999"
CLIENT_ID = "ESP32_1a2b3c"
LOOPBACK = "127.0.0.1"
STATUS = f"Dart/Receive_mqtt/{SN}"
COMMAND = f"Dart/Send_mqtt/{SN}"
# What an encrypting charger sends: not UTF-8, must arrive byte for byte.
REPORT = bytes(range(256)) + b'{"up_status_info":{"charger_status":285212929}}'
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"

type Release = Callable[[], Awaitable[None]]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (the gateway let it go)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
            sock.listen()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            return False
        return True


async def use_gateway(
    hass: HomeAssistant, port: int, serial_number: str = SN
) -> Release:
    """Admit a charger to the gateway on ``port`` of the loopback address."""
    return await async_use_gateway(
        hass, serial_number, port=port, bind_address=LOOPBACK
    )


def running_gateway(hass: HomeAssistant) -> NovabotGateway:
    gateway = hass.data[DATA_GATEWAY].gateway
    assert gateway is not None
    return gateway


def counters(hass: HomeAssistant) -> dict[str, Any]:
    result: dict[str, Any] = async_get_gateway_diagnostics(hass)["counters"]
    return result


def dropped(hass: HomeAssistant, reason: str) -> int:
    count: int = counters(hass)["dropped"].get(reason, 0)
    return count


def connected_clients(hass: HomeAssistant) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = async_get_gateway_diagnostics(hass)["clients"]
    return result


def relayed_up(mqtt_mock: MqttMockHAClient) -> list[tuple[Any, ...]]:
    """(topic, payload, qos, retain) of every report published on Home Assistant's MQTT."""
    return [
        tuple(call.args[:4])
        for call in mqtt_mock.async_publish.call_args_list
        if call.args[0].startswith("Dart/Receive_mqtt/")
    ]


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records at WARNING or above: what the gateway must keep out of the log."""
    return [record for record in caplog.records if record.levelno >= logging.WARNING]
