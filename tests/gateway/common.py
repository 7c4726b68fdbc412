"""What the gateway tests share: a charger's names, ports, and what the gateway counted."""

from __future__ import annotations

from datetime import datetime, timedelta
import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from homeassistant.core import HassJob
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed_exact,
    get_scheduled_timer_handles,
)

from custom_components.novabot.const import (
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_PORT,
    DOMAIN,
)
from custom_components.novabot.gateway import (
    DATA_GATEWAY,
    async_get_gateway_diagnostics,
    async_use_gateway,
    shared_gateway_settings,
)

from ..common import entry_data, mock_entry

if TYPE_CHECKING:
    from asyncio import TimerHandle
    from collections.abc import Awaitable, Callable

    from homeassistant.core import HomeAssistant
    import pytest
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from custom_components.novabot.gateway.broker import NovabotGateway

SN = "LFIC1230700123"
OTHER_SN = "LFIC1230700999"
CLIENT_ID = "ESP32_1a2b3c"
LOOPBACK = "127.0.0.1"
OTHER_LOOPBACK = "127.0.0.2"  # another address of the loopback interface
STATUS = f"Dart/Receive_mqtt/{SN}"
COMMAND = f"Dart/Send_mqtt/{SN}"
# What an encrypting charger sends: not UTF-8, must arrive byte for byte.
REPORT = bytes(range(256)) + b'{"up_status_info":{"charger_status":285212929}}'
CONNACK_ACCEPTED = b"\x20\x02\x00\x00"

type Release = Callable[[], Awaitable[None]]


def port_is_free(port: int, address: str = LOOPBACK) -> bool:
    """Whether a server could listen on ``address``:``port`` now (the gateway let it go)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
            sock.listen()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            return False
        return True


def add_gateway_entry(
    hass: HomeAssistant,
    serial_number: str = SN,
    *,
    bind_address: str | None = LOOPBACK,
    port: int | None = None,
    created_at: datetime | None = None,
    gateway: bool = True,
) -> MockConfigEntry:
    """An entry whose options hold these gateway settings, added but not set up.

    Its charger was told ``port``. ``None`` leaves that option out, as in an
    entry from before the options.
    """
    data = entry_data(serial_number, gateway=gateway)
    options: dict[str, Any] = {}
    if bind_address is not None:
        options[CONF_GATEWAY_BIND_ADDRESS] = bind_address
    if port is not None:
        options[CONF_GATEWAY_PORT] = data[CONF_MQTT_PORT] = port
    entry = mock_entry(serial_number, data=data, options=options)
    if created_at is not None:
        entry.created_at = created_at
    entry.add_to_hass(hass)
    return entry


async def use_gateway(
    hass: HomeAssistant, port: int, serial_number: str = SN, *, keep: bool = False
) -> Release:
    """Admit a charger told ``port`` to the gateway, which the tests keep on loopback."""
    bind_address = shared_gateway_settings(hass).bind_address
    assert bind_address.startswith("127."), f"the tests must not bind {bind_address}"
    return await async_use_gateway(hass, serial_number, port, keep=keep)


def gateway_issue(hass: HomeAssistant, port: int) -> ir.IssueEntry | None:
    """The repair issue about a port the gateway cannot listen on."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"gateway_port_in_use_{port}")


def retry_timers(hass: HomeAssistant) -> list[TimerHandle]:
    """The pending timers of the gateway's retries of ports that would not open."""
    manager = hass.data[DATA_GATEWAY]
    pending = []
    for handle in get_scheduled_timer_handles(hass.loop):
        if handle.cancelled():
            continue
        for arg in handle._args or ():
            target = arg.target if isinstance(arg, HassJob) else arg
            if getattr(target, "__self__", None) is manager:
                pending.append(handle)
    return pending


async def let_time_pass(hass: HomeAssistant, seconds: float) -> None:
    """Run the timers due within ``seconds`` and wait for the work they start.

    The clock stays real (the sockets need it): only the timers are run early.
    """
    async_fire_time_changed_exact(hass, dt_util.utcnow() + timedelta(seconds=seconds))
    await hass.async_block_till_done(wait_background_tasks=True)


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
