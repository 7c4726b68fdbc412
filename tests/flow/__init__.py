"""The config flow's tests, and what they share: a dialog driven as the frontend would.

Only the radio edge is faked (``FakeRadio`` in ``tests/flow_helpers.py``: what
Home Assistant's Bluetooth hears and the ``VirtualCharger`` it connects to).
Brokers are real Mosquitto processes on 127.0.0.1; Home Assistant's own MQTT
client is the usual ``mqtt_mock``, and the charger's reports arrive through it.
The fixtures are in ``conftest.py``: :class:`SetupDialog` is the ``dialog``
(``discovered``: opened by a charger heard, ``listening``: waiting for chargers
that report, ``claiming``: waiting for the provisioned one's first report).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_BLUETOOTH
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.config_flow import NovabotConfigFlow
from custom_components.novabot.const import DOMAIN

from ..common import entry_data, mock_entry
from ..flow_helpers import (
    ADDRESS,
    LOOPBACK,
    SERIAL_NUMBER,
    charger_service_info,
    report_payload,
    settings_input,
    status_topic,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from homeassistant.config_entries import ConfigFlowResult
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from ..flow_helpers import FakeRadio, FlowWatcher

CHOICE = "custom_components.novabot.flow.broker_choice"
INTEGRATION = "custom_components.novabot"
NEW_PASSWORD = "n3w-Garden-passphrase"
STRINGS = json.loads(
    (Path(__file__).parents[2] / "custom_components/novabot/strings.json").read_text()
)
# What saving does to the mower, said before anything is sent over Bluetooth.
MOWER_NOTICE = STRINGS["config"]["step"]["confirm"]["description"]


def unused_port() -> int:
    """A loopback port nobody listens on."""
    # Imported here: tests.mosquitto is a pytest plugin, and a plugin imported
    # before pytest registers it gets no assertion rewriting.
    from tests.mosquitto import free_port

    return free_port()


def without_password(user_input: dict[str, Any]) -> dict[str, Any]:
    """What a form shows again of ``user_input``: all but the password."""
    return {key: value for key, value in user_input.items() if key != "password"}


def rendered(result: ConfigFlowResult) -> str:
    """The English text the user sees for a step, filled in as the frontend does.

    Fails (KeyError) when a placeholder the translation uses is not provided.
    """
    config = STRINGS["config"]
    placeholders = result.get("description_placeholders") or {}
    kind = result["type"]
    if kind is FlowResultType.ABORT:
        texts = [config["abort"][result["reason"]]]
    elif kind is FlowResultType.SHOW_PROGRESS:
        texts = [config["progress"][result["progress_action"]]]
    else:
        step = config["step"][result["step_id"]]
        texts = [step.get("title", ""), step.get("description", "")]
        texts += [
            config["error"][error] for error in (result.get("errors") or {}).values()
        ]
    return "\n".join(text.format(**placeholders) for text in texts)


def configured_entry(
    hass: HomeAssistant,
    serial_number: str = SERIAL_NUMBER,
    address: str | None = ADDRESS,
    **data: Any,
) -> MockConfigEntry:
    """A charger that is already set up (not loaded), reporting to 127.0.0.1."""
    if address:
        data["address"] = address
    entry = mock_entry(
        serial_number,
        data=entry_data(serial_number, **{"mqtt_host": LOOPBACK, **data}),
    )
    entry.add_to_hass(hass)
    return entry


class GatewayStandIn:
    """``async_use_gateway``, recorded; an anonymous Mosquitto plays its listener."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.error: Exception | None = None
        self.calls: list[tuple[str, int, bool]] = []  # serial number, port, keep
        self.events: list[str] = []  # "use <n>" / "release <n>", in order
        self.releases = 0

    async def __call__(
        self, hass: HomeAssistant, serial_number: str, port: int, *, keep: bool = False
    ) -> Callable[[], Any]:
        """Hand out a lease on the gateway, or raise ``error``."""
        self.calls.append((serial_number, port, keep))
        if self.error is not None:
            raise self.error
        lease = len(self.calls)
        self.events.append(f"use {lease}")

        async def release() -> None:
            self.releases += 1
            self.events.append(f"release {lease}")

        return release

    @property
    def in_use(self) -> int:
        """Leases handed out and not given back."""
        return sum(e.startswith("use") for e in self.events) - self.releases


class SetupDialog:
    """One setup dialog, driven as the frontend drives it.

    Every step shown is noted by the watcher (the progress lines the user
    saw), and every result the dialog got back in ``shown``; ``flow_id`` is the
    dialog's, once started. ``radio`` is what Home Assistant's Bluetooth hears,
    and the chargers the flow connects to.
    """

    def __init__(
        self, hass: HomeAssistant, watcher: FlowWatcher, radio: FakeRadio
    ) -> None:
        self.hass = hass
        self.watcher = watcher
        self.radio = radio
        self.flow_id = ""
        self.shown: list[ConfigFlowResult] = []

    async def start(
        self, source: str = SOURCE_BLUETOOTH, **advertisement: Any
    ) -> ConfigFlowResult:
        """Open the dialog: Home Assistant heard a charger, or the user adds one."""
        data = None
        if source == SOURCE_BLUETOOTH:
            data = charger_service_info(**advertisement)
        result = await self.hass.config_entries.flow.async_init(
            DOMAIN, context={"source": source}, data=data
        )
        return self._shown(result)

    async def reconfigure(self, entry: MockConfigEntry) -> ConfigFlowResult:
        """Open the dialog from the entry's Reconfigure."""
        return self._shown(await entry.start_reconfigure_flow(self.hass))

    async def submit(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Submit the form on screen (or move on from a finished progress step)."""
        return self._shown(
            await self.hass.config_entries.flow.async_configure(
                self.flow_id, user_input
            )
        )

    async def choose(self, option: str) -> ConfigFlowResult:
        """Pick an option of the menu on screen."""
        return await self.submit({"next_step_id": option})

    async def enter_settings(self, port: int, **overrides: Any) -> ConfigFlowResult:
        """Fill in and submit the settings form (the broker on 127.0.0.1:``port``)."""
        return await self.submit(settings_input(port, **overrides))

    async def provision(self, port: int, **overrides: Any) -> ConfigFlowResult:
        """Submit the settings, confirm (and agree to the gateway), run the session."""
        result = await self.enter_settings(port, **overrides)
        if result["type"] is FlowResultType.FORM and result["step_id"] in (
            "confirm",
            "gateway",
        ):
            result = await self.submit({})
        if result["type"] is not FlowResultType.SHOW_PROGRESS:
            return result  # failed before the session had to wait for anything
        assert result["step_id"] == "provision"
        return await self.next_step()

    async def next_step(self, timeout: float = 10.0) -> ConfigFlowResult:
        """Wait for the progress on screen to finish; the step that follows."""
        return self._shown(await self.watcher.next_step(self.flow_id, timeout))

    async def report(
        self, payload: bytes | None = None, serial_number: str = SERIAL_NUMBER
    ) -> ConfigFlowResult:
        """The charger reports (its first report, during the claim window)."""
        publish(self.hass, serial_number, payload)
        return await self.next_step()

    async def listen(self, reports: Sequence[tuple[str, bytes]]) -> ConfigFlowResult:
        """Chargers keep reporting (every few seconds in real life) while it listens."""
        while (step := self.watcher.current(self.flow_id)) is not None and step[
            "type"
        ] is FlowResultType.SHOW_PROGRESS:
            for topic, payload in reports:
                async_fire_mqtt_message(self.hass, topic, payload)
            await asyncio.sleep(0.01)
        return await self.next_step()

    @property
    def handler(self) -> NovabotConfigFlow:
        """The flow behind the dialog, for what the frontend cannot see."""
        flow = self.hass.config_entries.flow._progress[self.flow_id]
        assert isinstance(flow, NovabotConfigFlow)
        return flow

    async def close(self, wait_for: asyncio.Task[Any] | None = None) -> None:
        """The user closes the dialog; wait until what it ran has stopped."""
        self.hass.config_entries.flow.async_abort(self.flow_id)
        if wait_for is not None:
            # block_till_done skips tasks being cancelled: wait for this one.
            await asyncio.wait([wait_for], timeout=5)
        await self.settle()

    async def settle(self) -> None:
        """Let what the dialog left running finish (a gateway lease given back)."""
        await self.hass.async_block_till_done(wait_background_tasks=True)

    def _shown(self, result: ConfigFlowResult) -> ConfigFlowResult:
        self.flow_id = result.get("flow_id") or self.flow_id
        self.watcher.record(result)
        self.shown.append(result)
        return result


def publish(
    hass: HomeAssistant,
    serial_number: str = SERIAL_NUMBER,
    payload: bytes | None = None,
) -> None:
    """A charger's report arrives on Home Assistant's MQTT."""
    async_fire_mqtt_message(
        hass, status_topic(serial_number), payload or report_payload(serial_number)
    )
