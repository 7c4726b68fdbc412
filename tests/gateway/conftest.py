"""Fixtures of the gateway tests: a port, the gateway on it, and its clients."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from novabot_dev.mosquitto import free_port
import pytest

from .clients import ConnectCharger, OpenRawClient, PahoCharger, RawClient
from .common import (
    CLIENT_ID,
    LOOPBACK,
    use_gateway,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .common import Release


@pytest.fixture
def port(socket_enabled: None) -> int:
    """A free loopback port for the gateway (never the default 1885)."""
    return free_port()


@pytest.fixture
def taken_port(socket_enabled: None) -> Generator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as blocker:
        blocker.bind((LOOPBACK, 0))
        blocker.listen()
        yield blocker.getsockname()[1]


@pytest.fixture
async def release(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, port: int
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

    async def connect(client_id: str = CLIENT_ID, *, to: int = port) -> PahoCharger:
        charger = PahoCharger(to, client_id)
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
