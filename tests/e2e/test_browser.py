"""The setup dialog in a real browser, against a real Home Assistant.

A development instance as scripts/develop runs it (``dev/novabot_dev``), in
temporary directories on free ports: Mosquitto like the add-on, ``hass`` with
the virtual Bluetooth proxy hearing a charger in provisioning mode (demo
timings: a few seconds per step) and the integration's gateway, simulated
chargers started as the real ones would report. Playwright drives Debian's
Chromium (``scripts/setup`` installs it) through the dialog a newcomer walks:
discovered card, settings, gateway explanation, progress, the new entry's two
devices; the charger's device page, the mower's reached from it, and the mower
started and sent home from its dialog there.

The screenshots of each step stay with the test's temporary files;
``scripts/screenshot`` takes the same walk to renew those in ``docs/``.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

from novabot_dev.layout import GATEWAY_PORT, NEW_SERIAL_NUMBER, ROOT
from novabot_dev.walkthrough import (
    CHARGER_ENTITIES,
    MOWER_DEVICE,
    MOWER_ENTITIES,
    walk_a_fresh_instance,
)
import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def gateway_port_free(socket_enabled: None) -> None:
    """The setup dialog opens the gateway on its default port, 1885.

    Taken here means a scripts/develop runs: skipped on a developer's machine,
    a failure in CI.
    """
    with socket.socket() as sock:
        # As the gateway binds: connections of an earlier run that linger in
        # TIME_WAIT do not count, a listener does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # Every address, as the gateway binds; only to see that it is free.
            sock.bind(("0.0.0.0", GATEWAY_PORT))  # noqa: S104
        except OSError:
            message = f"port {GATEWAY_PORT} is in use (is scripts/develop running?)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)


def shown(page: dict[str, list[str]]) -> set[str]:
    """Every line of a device page's cards."""
    return {line for lines in page.values() for line in lines}


@pytest.mark.usefixtures("gateway_port_free")
async def test_a_newcomer_sets_up_the_discovered_charger_in_the_browser(
    tmp_path: Path,
) -> None:
    """Discovered card to the mower's page, every progress step shown on the way."""
    shots = tmp_path / "screenshots"
    shots.mkdir()

    walk = await walk_a_fresh_instance(tmp_path, shots)

    # "Connecting" lasts milliseconds against a virtual proxy: it may not show.
    # No pairing given: the charger's radio is left alone, no radio step.
    assert [action for action in walk.progress if action != "connect"] == [
        "set_wifi_info",
        "set_rtk_info",
        "set_mqtt_info",
        "set_cfg_info",
        "claim",
    ]
    assert [shot.name for shot in walk.shots] == [
        "setup-1-discovered.png",
        "setup-2-settings.png",
        "setup-3-gateway.png",
        "setup-4-wifi.png",
        "setup-5-first-report.png",
        "setup-6-created.png",
        "setup-7-devices.png",
        "device-page.png",
        "mower-page.png",
        "mower-mowing.png",
    ]
    # The new entry is two devices: the charger, and its mower through it.
    assert walk.entry_devices == [f"Novabot charger {NEW_SERIAL_NUMBER}", MOWER_DEVICE]
    charger_page, mower_page = walk.charger_page, walk.mower_page
    assert set(CHARGER_ENTITIES) <= shown(charger_page)
    assert not set(MOWER_ENTITIES) & shown(charger_page)
    assert charger_page["Connected devices"][0] == MOWER_DEVICE
    assert set(MOWER_ENTITIES) <= shown(mower_page)
    assert not set(CHARGER_ENTITIES) & shown(mower_page)
    assert {MOWER_DEVICE, "Stop", "Cancel today's schedule"} <= set(
        mower_page["Controls"]
    )
    assert "Mowing events" in mower_page["Events"]
    assert f"Novabot charger {NEW_SERIAL_NUMBER}" in mower_page["Device info"]
    # Pressed in the mower's dialog, the simulated mower leaves and comes back.
    assert walk.mower_states == ["Docked", "Mowing", "Returning", "Docked"]
    # The cards on the integrations page show the integration's own icon,
    # served by Home Assistant from its brand/ folder.
    icon = ROOT / "custom_components" / "novabot" / "brand" / "icon.png"
    assert walk.brand_images.get("icon.png") == icon.read_bytes()
