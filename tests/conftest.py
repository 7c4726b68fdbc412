"""Fixtures shared by the Novabot tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.novabot.const import DOMAIN


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/novabot."""


@pytest.fixture
async def mqtt_mock(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> AsyncGenerator[MqttMockHAClient]:
    """Mocked MQTT, unloaded again after the test.

    MQTT's misc timer and its (un)subscribe cooldowns outlive a test unless the
    MQTT entry is unloaded; our entries go first because they subscribe there.
    """
    yield mqtt_mock
    for domain in (DOMAIN, mqtt.DOMAIN):
        for entry in hass.config_entries.async_entries(domain):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
