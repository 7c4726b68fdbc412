"""The config flow's Bluetooth side: which charger, its settings, the session.

A charger in provisioning mode is discovered, or picked from those Home
Assistant's Bluetooth hears (``bluetooth_chargers``), also to reconfigure one.
A charger that was added from the broker has no Bluetooth address yet: the
first time one is heard, the owner says whether it is one of those, and its
address is remembered, so a power-cycled charger is never offered again.
The user types its serial number, WiFi and broker, and a radio pairing only to
pair the radio (``settings_form``); the broker is checked the ways chargers
log in (``broker_choice``). A confirmation says what saving does to the mower,
and, in gateway mode, why the gateway (whose port opens only then); the
Bluetooth session runs, one progress line per command (``bluetooth_session``).
A failure returns to the form with what was typed kept, the password in memory
only. The charger then reboots, and ``config_flow`` waits for its first report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.typing import UNDEFINED, UndefinedType

from ..const import (
    CONF_ADDRESS,
    CONF_CHARGER_ADDRESS,
    CONF_CHARGER_CHANNEL,
    CONF_LORA_ADDRESS,
    CONF_LORA_CHANNEL,
    CONF_MQTT_HOST,
    CONF_PASSWORD,
    CONF_RADIO,
    CONF_SERIAL_NUMBER,
    DOMAIN,
)
from ..protocol import Command, InvalidSettingsError, RadioPairing
from .bluetooth_chargers import chargers_heard, is_charger
from .bluetooth_session import ProvisioningFailedError, ProvisioningRun
from .broker_choice import BrokerChoiceError, BrokerChooser
from .charger_setup import ChargerSetup
from .pick_form import pick_one_schema
from .settings_form import async_suggested_values, settings_from_input, settings_schema

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak

# The steps after the radio's: their progress text says when it kept its pairing.
AFTER_THE_RADIO = (Command.SET_MQTT_INFO, Command.SET_CFG_INFO)


def known_radio(entry: ConfigEntry) -> RadioPairing | None:
    """The pairing an entry keeps, when the charger reported both halves."""
    address, channel = (
        entry.data.get(CONF_CHARGER_ADDRESS),
        entry.data.get(CONF_CHARGER_CHANNEL),
    )
    if address is None or channel is None:
        return None
    return RadioPairing(address, channel)


class ProvisioningFlow(ConfigFlow):
    """The Bluetooth steps: choose a charger, ask its settings, provision it."""

    def __init__(self) -> None:
        self._address: str | None = None  # the charger's, over Bluetooth
        self._typed: dict[str, Any] = {}  # shown again on the form; no password
        self._known_radio: RadioPairing | None = None  # a reconfigured charger's
        self._password: str | None = None  # kept in memory for a retry only
        self._setup: ChargerSetup | None = None  # once the broker is chosen
        self._broker_chooser: BrokerChooser | None = None
        self._run: ProvisioningRun | None = None  # the Bluetooth session
        # Why the session (or the gateway) failed, for the form: field, code,
        # placeholders.
        self._error: tuple[str, str, dict[str, str]] | None = None

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
        if self._entries_without_address():
            return await self.async_step_identify()
        return await self.async_step_settings()

    async def async_step_identify(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask whether the charger heard is one added from the broker."""
        serial_numbers = sorted(self._entries_without_address())
        return self.async_show_menu(
            step_id="identify",
            menu_options=["settings", "remember"],
            description_placeholders={"serial_numbers": ", ".join(serial_numbers)},
        )

    async def async_step_remember(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Remember the Bluetooth address of a charger added from the broker."""
        adopted = self._entries_without_address()
        if user_input is not None:
            assert self._address is not None
            return self._async_update_reload_and_abort(
                adopted[user_input[CONF_SERIAL_NUMBER]],
                {CONF_ADDRESS: self._address},
                reason="address_remembered",
            )
        return self.async_show_form(
            step_id="remember",
            data_schema=pick_one_schema(
                CONF_SERIAL_NUMBER, {serial: serial for serial in sorted(adopted)}
            ),
        )

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
        """Move a configured charger to another WiFi or broker (over Bluetooth).

        Its radio pairing, when known, is offered again: re-sent exactly, the
        charger cannot drift off its mower.
        """
        entry = self._get_reconfigure_entry()
        self._known_radio = known_radio(entry)
        radio = self._known_radio
        self._typed = {
            CONF_SERIAL_NUMBER: entry.data[CONF_SERIAL_NUMBER],
            CONF_MQTT_HOST: entry.data[CONF_MQTT_HOST],
            CONF_RADIO: (
                {CONF_LORA_ADDRESS: radio.address, CONF_LORA_CHANNEL: radio.channel}
                if radio
                else {}
            ),
        }
        return await self.async_step_pick_charger()

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the serial number, the WiFi, the broker; check the broker."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if self._error:
            (field, code, placeholders), self._error = self._error, None
            errors[field] = code
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
                self._setup = ChargerSetup(
                    settings, route, self._address, known_radio=self._known_radio
                )
                if route.gateway:
                    return await self.async_step_gateway()
                return await self.async_step_confirm()
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                settings_schema(radio_known=self._known_radio is not None),
                await async_suggested_values(self.hass, self._typed),
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Say what saving does, before anything is sent (direct mode)."""
        if user_input is not None:
            return await self.async_step_provision()
        return self.async_show_form(step_id="confirm")

    async def async_step_gateway(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Say why the charger goes through the gateway, and what saving does.

        The gateway's port opens once the owner has read this.
        """
        assert self._setup is not None
        if user_input is not None:
            try:
                await self._broker().async_open_gateway(
                    self._setup.settings, self._setup.route
                )
            except BrokerChoiceError as err:
                self._error = (CONF_MQTT_HOST, err.error, err.placeholders)
                return await self.async_step_settings()
            return await self.async_step_provision()
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
        run = self._run
        if not run.task.done():
            kept = run.radio_kept and run.step in AFTER_THE_RADIO
            return self.async_show_progress(
                step_id="provision",
                progress_action=f"{run.step}_radio_kept" if kept else run.step,
                progress_task=run.next_move(),
                description_placeholders=self._setup.progress_placeholders(),
            )
        self._run = None
        try:
            self._setup.result = run.task.result()
        except ProvisioningFailedError as err:
            placeholders = {"ssid": self._setup.settings.ssid}
            self._error = ("base", err.error, placeholders)
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

    def _async_update_reload_and_abort(
        self,
        entry: ConfigEntry,
        data_updates: Mapping[str, Any],
        reason: str | UndefinedType = UNDEFINED,
    ) -> ConfigFlowResult:
        """Update ``entry``'s data, reload it, and end the flow.

        Home Assistant's ``async_update_reload_and_abort`` leaves the reload
        of an entry with an update listener to that listener (and warns until
        then); this entry's listener applies options without a reload, so the
        reload is asked for here.
        """
        result = self.async_update_and_abort(
            entry, data_updates=data_updates, reason=reason
        )
        self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return result

    def _broker(self) -> BrokerChooser:
        """The broker choice, with the gateway lease it may take for this flow."""
        if self._broker_chooser is None:
            self._broker_chooser = BrokerChooser(self.hass)
        return self._broker_chooser

    def _bluetooth_chargers(self) -> dict[str, str]:
        """Chargers heard over Bluetooth whose address no other entry holds."""
        entries = self._async_current_entries(include_ignore=False)
        if self.source == SOURCE_RECONFIGURE:
            entries = [e for e in entries if e.entry_id != self._reconfigure_entry_id]
        return chargers_heard(self.hass, {e.data.get(CONF_ADDRESS) for e in entries})

    def _entries_without_address(self) -> dict[str, ConfigEntry]:
        """Chargers set up without Bluetooth (added from the broker), by serial."""
        return {
            entry.data[CONF_SERIAL_NUMBER]: entry
            for entry in self._async_current_entries(include_ignore=False)
            if not entry.data.get(CONF_ADDRESS)
        }

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
