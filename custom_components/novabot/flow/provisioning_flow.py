"""The config flow's Bluetooth side: which charger, its settings, the session.

A charger in provisioning mode is discovered, or picked from those Home
Assistant's Bluetooth hears (``bluetooth_chargers``), also to reconfigure one.
The user types its serial number, WiFi and broker (``settings_form``); the
broker is checked the ways chargers log in (``broker_choice``: direct, or the
gateway, said in one sentence); the Bluetooth session runs, one progress line
per command (``bluetooth_session``). A failure returns to the form with what
was typed kept, the password in memory only. The charger then reboots, and
``config_flow`` waits for its first report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow

from ..const import (
    CONF_ADDRESS,
    CONF_MQTT_HOST,
    CONF_PASSWORD,
    CONF_SERIAL_NUMBER,
    DOMAIN,
)
from ..gateway import gateway_endpoint
from ..protocol import InvalidSettingsError
from .bluetooth_chargers import chargers_heard, is_charger
from .bluetooth_session import ProvisioningFailedError, ProvisioningRun
from .broker_choice import BrokerChoiceError, BrokerChooser, shared_gateway_endpoint
from .charger_setup import ChargerSetup
from .pick_form import pick_one_schema
from .settings_form import SETTINGS_SCHEMA, async_suggested_values, settings_from_input

if TYPE_CHECKING:
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak


class ProvisioningFlow(ConfigFlow):
    """The Bluetooth steps: choose a charger, ask its settings, provision it."""

    def __init__(self) -> None:
        self._address: str | None = None  # the charger's, over Bluetooth
        self._typed: dict[str, Any] = {}  # shown again on the form; no password
        self._password: str | None = None  # kept in memory for a retry only
        self._setup: ChargerSetup | None = None  # once the broker is chosen
        self._broker_chooser: BrokerChooser | None = None
        self._run: ProvisioningRun | None = None  # the Bluetooth session
        self._error: str | None = None  # why the session failed, for the form

    async def async_step_bluetooth(
        self, discovery_info: BluetoothServiceInfoBleak
    ) -> ConfigFlowResult:
        """A charger in provisioning mode was heard."""
        if not is_charger(discovery_info):
            return self.async_abort(reason="not_a_charger")
        await self._async_require_mqtt()
        self._async_abort_entries_match({CONF_ADDRESS: discovery_info.address})
        await self.async_set_unique_id(discovery_info.address)
        self._address = discovery_info.address
        self.context["title_placeholders"] = {"name": "Novabot charger"}
        return await self.async_step_settings()

    async def async_step_pick_charger(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the chargers Home Assistant's Bluetooth hears."""
        if user_input is not None:
            self._address = user_input[CONF_ADDRESS]
            if self.source != SOURCE_RECONFIGURE:
                await self.async_set_unique_id(self._address, raise_on_progress=False)
            return await self.async_step_settings()
        if not (chargers := self._bluetooth_chargers()):
            return self.async_abort(reason="no_devices_found")
        return self.async_show_form(
            step_id="pick_charger", data_schema=pick_one_schema(CONF_ADDRESS, chargers)
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move a configured charger to another WiFi or broker (over Bluetooth)."""
        entry = self._get_reconfigure_entry()
        self._typed = {
            CONF_SERIAL_NUMBER: entry.data[CONF_SERIAL_NUMBER],
            CONF_MQTT_HOST: entry.data[CONF_MQTT_HOST],
        }
        return await self.async_step_pick_charger()

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the serial number, the WiFi and the broker; check the broker."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if self._error:
            errors["base"], self._error = self._error, None
            if self._setup:
                placeholders["ssid"] = self._setup.settings.ssid
        elif user_input is not None:
            self._typed = {k: v for k, v in user_input.items() if k != CONF_PASSWORD}
            try:
                settings = settings_from_input(user_input, self._password)
                self._password = settings.password
                await self._async_claim_serial_number(settings.serial_number)
                route = await self._broker().async_choose(settings)
            except InvalidSettingsError as err:
                errors = dict(err.errors)
            except BrokerChoiceError as err:
                errors = {CONF_MQTT_HOST: err.error}
                placeholders.update(err.placeholders)
            else:
                self._setup = ChargerSetup(settings, route, self._address)
                if route.gateway:
                    return await self.async_step_gateway()
                return await self.async_step_provision()
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                SETTINGS_SCHEMA, await async_suggested_values(self.hass, self._typed)
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_gateway(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Say in one sentence why the charger goes through the gateway."""
        if user_input is not None:
            return await self.async_step_provision()
        assert self._setup is not None
        return self.async_show_form(
            step_id="gateway",
            description_placeholders=self._setup.gateway_placeholders(),
        )

    async def async_step_provision(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Run the Bluetooth session, one progress line per command."""
        assert self._setup is not None
        if self._run is None:
            assert self._address is not None
            self._run = ProvisioningRun(self.hass, self._address, self._setup.told())
        if not self._run.task.done():
            return self.async_show_progress(
                step_id="provision",
                progress_action=self._run.step,
                progress_task=self._run.next_move(),
            )
        run, self._run = self._run, None
        try:
            self._setup.channel = run.task.result()
        except ProvisioningFailedError as err:
            self._error = err.error
            return self.async_show_progress_done(next_step_id="settings")
        return self.async_show_progress_done(next_step_id="claim")

    async def _async_claim_serial_number(self, serial_number: str) -> None:
        """One flow per charger; a configured charger is only reconfigured."""
        await self.async_set_unique_id(serial_number)
        if self.source == SOURCE_RECONFIGURE:
            self._abort_if_unique_id_mismatch(
                reason="wrong_charger",
                description_placeholders={"serial_number": serial_number},
            )
        else:
            self._abort_if_unique_id_configured()

    def _broker(self) -> BrokerChooser:
        """The broker choice, with the gateway this charger would use.

        A reconfigured charger keeps its gateway; a new one joins the running
        one, as one gateway serves every charger.
        """
        if self._broker_chooser is None:
            if self.source == SOURCE_RECONFIGURE:
                endpoint = gateway_endpoint(self._get_reconfigure_entry())
            else:
                entries = self._async_current_entries(include_ignore=False)
                endpoint = shared_gateway_endpoint(entries)
            self._broker_chooser = BrokerChooser(self.hass, *endpoint)
        return self._broker_chooser

    def _bluetooth_chargers(self) -> dict[str, str]:
        """Chargers heard over Bluetooth whose address no other entry holds."""
        entries = self._async_current_entries(include_ignore=False)
        if self.source == SOURCE_RECONFIGURE:
            entries = [e for e in entries if e.entry_id != self._reconfigure_entry_id]
        return chargers_heard(self.hass, {e.data.get(CONF_ADDRESS) for e in entries})

    async def _async_require_mqtt(self) -> None:
        """Abort unless Home Assistant's MQTT client runs: chargers report there."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise AbortFlow("mqtt_not_configured")

    @callback
    def async_remove(self) -> None:
        """Stop the Bluetooth session; give the gateway back."""
        if self._run:
            self._run.cancel()
        if self._broker_chooser:
            self.hass.async_create_background_task(
                self._broker_chooser.async_release(),
                f"{DOMAIN} release gateway after flow",
            )
