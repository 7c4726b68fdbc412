"""The Bluetooth session with a charger, through Home Assistant's Bluetooth stack.

Home Assistant picks the adapter or ESPHome proxy that hears the charger best
(``bleak_retry_connector`` over its connectors); the protocol library sends the
commands. Failures become the form error the user sees.
:class:`ProvisioningRun` runs a session in the background and says which step
it is at, and whether the charger kept its old radio pairing, for the config
flow's progress step to show.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Literal

from bleak.exc import BleakError
import bleak_retry_connector
from bleak_retry_connector import establish_connection
from homeassistant.components import bluetooth

from ..const import LOGGER
from ..protocol import (
    Command,
    LinkLostError,
    NoReplyError,
    ProvisioningSession,
    StepFailedError,
    radio_kept,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from bleak import BleakClient
    from homeassistant.core import HomeAssistant

    from ..protocol import ProvisioningResult, ProvisioningSettings, Reply

# Which form error explains a failed step; the vendor app says the same.
STEP_FAILURES: dict[str, str] = {
    Command.SET_WIFI_INFO: "wifi_join_failed",
    Command.SET_MQTT_INFO: "network_step_failed",
    Command.SET_RTK_INFO: "antenna_step_failed",
    Command.SET_LORA_INFO: "antenna_step_failed",
}


class ProvisioningFailedError(Exception):
    """The Bluetooth session failed; ``error`` is the form error to show."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


async def async_provision(
    hass: HomeAssistant,
    address: str,
    settings: ProvisioningSettings,
    on_step: Callable[[str], None],
    on_reply: Callable[[Command, Reply], None] | None = None,
) -> ProvisioningResult:
    """Connect to the charger at ``address`` and provision it with ``settings``.

    ``on_step`` hears ``"connect"``, then each command as it is sent, and
    ``on_reply`` each reply the session goes on after. Returns what the
    charger stored of its radio.
    """
    on_step("connect")
    # Resolved now, not at discovery: the best adapter or proxy may have changed.
    device = bluetooth.async_ble_device_from_address(hass, address, connectable=True)
    if device is None:
        raise ProvisioningFailedError("device_not_found")
    session: ProvisioningSession | None = None

    def link_lost(_client: BleakClient) -> None:
        if session:
            session.connection_lost()

    try:
        client = await establish_connection(
            # Looked up now: Home Assistant's Bluetooth replaces this class with
            # its own wrapper (adapters and proxies alike) when it starts.
            bleak_retry_connector.BleakClientWithServiceCache,
            device,
            device.name or address,
            link_lost,
        )
    except (BleakError, TimeoutError) as err:
        LOGGER.debug("Could not connect to %s: %s", address, err)
        raise ProvisioningFailedError("cannot_connect") from err
    session = ProvisioningSession(client)
    try:
        return await session.run(settings, on_step, on_reply)
    except BleakError as err:  # the charger's notifications could not be set up
        LOGGER.debug("Could not subscribe to %s: %s", address, err)
        raise ProvisioningFailedError("cannot_connect") from err
    except StepFailedError as err:
        raise ProvisioningFailedError(
            STEP_FAILURES.get(err.step, "provisioning_failed")
        ) from err
    except NoReplyError as err:
        # Silent for a minute after the first command: it is not listening.
        first = err.step == Command.SET_WIFI_INFO
        raise ProvisioningFailedError(
            "not_in_provisioning_mode" if first else "no_reply"
        ) from err
    except LinkLostError as err:
        raise ProvisioningFailedError("link_lost") from err


class ProvisioningRun:
    """One session run in the background, and the step it has reached.

    ``step`` is ``"connect"``, then each command as it is sent; ``radio_kept``
    turns true when the charger's radio scan timed out (it kept its pairing);
    ``task`` ends with :func:`async_provision`'s result or its
    ProvisioningFailedError.
    """

    def __init__(
        self, hass: HomeAssistant, address: str, settings: ProvisioningSettings
    ) -> None:
        self._hass = hass
        self._moved = asyncio.Event()
        # Set before the task exists: it starts at once, and may move on at once.
        self.step = "connect"
        self.radio_kept = False
        self.task = hass.async_create_task(
            async_provision(hass, address, settings, self._move_to, self._replied)
        )
        # Its end is a move too: the progress step then shows what follows.
        self.task.add_done_callback(lambda _: self._moved.set())

    def _move_to(self, step: str) -> None:
        self.step = step
        self._moved.set()

    def _replied(self, command: Command, reply: Reply) -> None:
        if radio_kept(command, reply):
            self.radio_kept = True

    def next_move(self) -> asyncio.Task[Literal[True]]:
        """A task that ends when the session takes its next step, or ends."""
        self._moved.clear()
        return self._hass.async_create_task(self._moved.wait())

    def cancel(self) -> None:
        """Stop the session; the charger is let go."""
        self.task.cancel()
