"""Fixtures of the gateway tests: a port, the gateway on it, and its clients."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from novabot_dev.mosquitto import free_port
import pytest

from .clients import ConnectCharger, OpenRawClient, PahoCharger, RawClient
from .common import CLIENT_ID, LOOPBACK, add_gateway_entry, use_gateway

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .common import Release


@pytest.fixture
def port(socket_enabled: None) -> int:
    """A free loopback port for the gateway (never the default 1885)."""
    return free_port()


@pytest.fixture
def blocker(socket_enabled: None) -> Generator[socket.socket]:
    """Another program listening on a loopback port; close it to free the port."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen()
        yield sock


@pytest.fixture
def taken_port(blocker: socket.socket) -> int:
    """A loopback port another program listens on."""
    port: int = blocker.getsockname()[1]
    return port


@pytest.fixture
def settings_entry(hass: HomeAssistant, port: int) -> MockConfigEntry:
    """A gateway charger's entry whose options keep the gateway on loopback.

    The entry is only added, not set up: it holds the shared settings.
    """
    return add_gateway_entry(hass, bind_address=LOOPBACK, port=port)


@pytest.fixture
async def release(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    settings_entry: MockConfigEntry,
    port: int,
) -> AsyncGenerator[Release]:
    """The gateway running on ``port`` with SN admitted; released afterwards.

    A test may release it itself: releasing twice is harmless.
    """
    release = await use_gateway(hass, port)
    yield release
    await release()


@pytest.fixture
async def chargers(port: int) -> AsyncGenerator[ConnectCharger]:
    """Connect paho chargers (to ``port`` unless told another); all closed afterwards."""
    opened: list[PahoCharger] = []

    async def connect(
        client_id: str = CLIENT_ID,
        *,
        to: int = port,
        username: str | None = None,
        password: str | None = None,
    ) -> PahoCharger:
        charger = PahoCharger(to, client_id, username=username, password=password)
        opened.append(charger)
        reason = await charger.connect()
        assert not reason.is_failure, reason
        return charger

    yield connect
    for charger in opened:
        await charger.close()


@pytest.fixture
def clients(release: Release, chargers: ConnectCharger) -> ConnectCharger:
    """Connect paho chargers to the running gateway; all closed before it stops."""
    return chargers


@pytest.fixture
async def raw(release: Release, port: int) -> AsyncGenerator[OpenRawClient]:
    """Open raw connections to the running gateway; all closed before it stops."""
    opened: list[RawClient] = []

    async def open_client() -> RawClient:
        client = await RawClient.open(port)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()
