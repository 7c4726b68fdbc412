"""Fixtures shared by the Novabot tests."""

from __future__ import annotations

from typing import TYPE_CHECKING
from unittest.mock import AsyncMock, MagicMock, Mock, PropertyMock, patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension

from custom_components.novabot.const import DOMAIN

from .flow_helpers import FlowWatcher

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator

    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import (
        MqttMockHAClient,
        MqttMockPahoClient,
    )
    from syrupy.assertion import SnapshotAssertion


pytest_plugins = ["tests.mosquitto", "tests.mqtt_charger", "tests.virtual_proxy"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load custom_components/novabot, in tests that run one.

    The protocol tests have no Home Assistant: starting one for each of them
    would double their run time.
    """
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
async def mqtt_mock(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mqtt_client_mock: MqttMockPahoClient,
) -> AsyncGenerator[MqttMockHAClient]:
    """Mocked MQTT, unloaded again after the test.

    MQTT's misc timer and its (un)subscribe cooldowns outlive a test unless the
    MQTT entry is unloaded; our entries go first because they subscribe there.
    The mocked paho client never closes its socket, so the close that a real
    disconnect causes is played here: it is what stops MQTT's misc timer.
    """
    yield mqtt_mock
    for domain in (DOMAIN, mqtt.DOMAIN):
        for entry in hass.config_entries.async_entries(domain):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
    mqtt_client_mock.on_socket_close(
        mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1))
    )
    await hass.async_block_till_done()


@pytest.fixture
def watcher(hass: HomeAssistant) -> Generator[FlowWatcher]:
    """Follow the flows of the integration as the frontend would."""
    watcher = FlowWatcher(hass, DOMAIN)
    yield watcher
    watcher.close()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in Home Assistant's shape: registry entries and states without ids."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture(autouse=True)
def quick_replies(request: pytest.FixtureRequest) -> Generator[None]:
    """In tests with Home Assistant, wait 0.2 s for a reply that does not come.

    The virtual charger on MQTT answers at once; the end-to-end tests, whose
    charger is a process, keep the real wait (their conftest says so), and so
    do the protocol tests, which play the firmware's timings on a virtual clock.
    """
    if "hass" not in request.fixturenames:
        yield
        return
    with patch("custom_components.novabot.protocol.channel.REPLY_TIMEOUT", 0.2):
        yield


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, the disabled-by-default ones too."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
def mock_gateway() -> Generator[MagicMock]:
    """Stand-in for the gateway (it has its own tests).

    ``mock_gateway`` is ``async_use_gateway`` as ``__init__`` sees it;
    ``mock_gateway.release`` is the release function it hands out.
    """
    release = AsyncMock(return_value=None)
    with patch(
        "custom_components.novabot.async_use_gateway",
        autospec=True,
        return_value=release,
    ) as use_gateway:
        use_gateway.release = release
        yield use_gateway
