"""How a client's session ends: silence, broken packets, a takeover, a bug."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from unittest.mock import AsyncMock, MagicMock, patch

import pytest

from custom_components.novabot.gateway import Disconnect, Drop, connection, limits

from ..flow_helpers import wait_for
from .clients import PahoCharger, connect_packet
from .common import (
    CONNACK_ACCEPTED,
    LOOPBACK,
    REPORT,
    STATUS,
    connected_clients,
    counters,
    dropped,
    running_gateway,
    warnings_logged,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger, OpenRawClient


async def test_a_silent_client_is_disconnected_after_its_keepalive(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: OpenRawClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """amqtt does not enforce the keep-alive; the gateway does."""
    monkeypatch.setattr(limits, "KEEPALIVE_GRACE", 0.1)
    client = await raw()
    assert await client.connect(keepalive=1) == CONNACK_ACCEPTED
    assert await client.wait_closed_by_peer() == b""
    assert counters(hass)["disconnected"] == {Disconnect.KEEPALIVE_TIMEOUT: 1}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # A length that is not MQTT leaves the stream unframeable.
        pytest.param(b"\x30\xff\xff\xff\xff\x01", Drop.MALFORMED, id="malformed"),
        # Packets a client must not send never reach amqtt, which would log them.
        pytest.param(
            connect_packet("again"), Drop.PROTOCOL_ERROR, id="CONNECT again"
        ),  # [MQTT-3.1.0-2]
        pytest.param(b"\x20\x02\x00\x00", Drop.PROTOCOL_ERROR, id="server's CONNACK"),
        pytest.param(b"\xf0\x00", Drop.PROTOCOL_ERROR, id="reserved type"),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_a_packet_that_breaks_the_protocol_ends_the_session(
    hass: HomeAssistant,
    raw: OpenRawClient,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    reason: str,
) -> None:
    """MQTT says close the connection; the gateway does, without a log entry."""
    client = await raw()
    await client.connect()
    await client.send(data)
    assert await client.wait_closed_by_peer() == b""
    assert dropped(hass, reason) == 1
    assert counters(hass)["disconnected"] == {Disconnect.PROTOCOL_ERROR: 1}
    assert not warnings_logged(caplog)


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"\x30\x20\x00", id="in a packet"),
        pytest.param(b"\x30\xff\x7f" + b"x" * 10, id="in an oversized packet"),
    ],
)
async def test_a_client_that_leaves_mid_packet_is_cleaned_up(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, raw: OpenRawClient, tail: bytes
) -> None:
    """A client gone in the middle of a packet leaves no connection behind."""
    client = await raw()
    await client.connect()
    await client.send(tail)
    await client.close()
    await wait_for(lambda: connected_clients(hass) == [])
    await wait_for(lambda: not running_gateway(hass)._clients._serving)


async def test_a_reconnecting_charger_takes_over(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, clients: ConnectCharger
) -> None:
    """The same client id again ends the old connection, as MQTT requires."""
    first = await clients()
    second = await clients()
    await first.wait_disconnected()

    await wait_for(lambda: len(connected_clients(hass)) == 1)
    assert counters(hass)["disconnected"] == {Disconnect.TAKEOVER: 1}
    (client,) = connected_clients(hass)
    assert client["remote_port"] == second.local_port
    second.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)


async def test_an_unexpected_error_ends_only_that_connection(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug met by one client closes its connection; the gateway keeps serving."""
    with patch.object(
        connection._Connection, "async_run", side_effect=RuntimeError("bug")
    ):
        charger = PahoCharger(port, "ESP32_unlucky")
        charger.client.connect(LOOPBACK, charger.port)
        await charger.wait_disconnected()  # closed without a CONNACK
        await charger.close()
    assert not charger.connack.done()
    assert "Gateway connection ended with an error" in caplog.text
    assert not warnings_logged(caplog)

    charger = await clients()
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)


async def test_a_socket_that_does_not_close_is_aborted() -> None:
    """A peer that takes no more bytes is aborted; a reset one is closed anyway."""
    stuck = MagicMock(spec=asyncio.StreamWriter)
    stuck.wait_closed = AsyncMock(side_effect=asyncio.Event().wait)
    with patch.object(limits, "CLOSE_TIMEOUT", 0.01):
        await connection._close_writer(stuck)
    stuck.transport.abort.assert_called_once()

    reset = MagicMock(spec=asyncio.StreamWriter)
    reset.wait_closed = AsyncMock(side_effect=ConnectionResetError)
    await connection._close_writer(reset)
    reset.close.assert_called_once()
    reset.transport.abort.assert_not_called()
