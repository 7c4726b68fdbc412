"""What scripts/soak found: each a test that fails until the integration is fixed.

Marked ``xfail(strict=True)`` so the suite stays green while a finding is
open, and turns red (XPASS) once it is fixed: then drop the mark. Each test
names the soak run's evidence; the README's Reliability section has the runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.lawn_mower import DOMAIN as LAWN_MOWER
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.exceptions import HomeAssistantError
import pytest

from .common import entity_id, report, send

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .mqtt_charger import ChargerFactory, MqttCharger


@pytest.fixture
async def charger(reporting_charger: ChargerFactory) -> MqttCharger:
    """A charger whose mower answers quickly, reporting; the entry set up."""
    return await reporting_charger(ack_time=0.01, ack_wait=0.05)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "soak finding: a mower command while the mower is out of range is "
        "skipped silently. The lawn mower is unavailable then, and Home "
        "Assistant skips a service call on an unavailable entity with a "
        "warning (homeassistant.helpers.service: 'Referenced entities ... are "
        "missing or not currently available'); the caller gets success, not "
        "'The mower did not acknowledge the command'"
    ),
)
async def test_a_command_while_the_mower_is_out_of_range_fails_with_a_message(
    hass: HomeAssistant, charger: MqttCharger
) -> None:
    charger.firmware.acknowledges = False  # out of LoRa range
    # The charger relays the mower's last frame; 5 heartbeats went unanswered.
    await send(hass, report(mower_error=5))

    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            LAWN_MOWER,
            "start_mowing",
            {ATTR_ENTITY_ID: entity_id(hass, "mower")},
            blocking=True,
        )

    assert raised.value.translation_key == "mower_not_acknowledged"
