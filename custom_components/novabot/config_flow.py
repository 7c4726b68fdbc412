"""Set up a Novabot charger: the steps a user sees.

The flow asks, shows progress and routes. What it drives lives beside it:
``broker_choice`` (direct or gateway), ``bluetooth_session`` (the five
commands over Bluetooth) and ``claim_window`` (the charger's first report).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from typing import TYPE_CHECKING, Any

from homeassistant.components import bluetooth, mqtt, network
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_PORT
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .bluetooth_session import ProvisioningFailedError, async_provision
from .broker_choice import BrokerChoice, BrokerChoiceError, BrokerChooser
from .claim_window import CLAIM_TIMEOUT, ClaimWindow
from .const import (
    CONF_ADDRESS,
    CONF_CHARGER_CHANNEL,
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_PASSWORD,
    CONF_SERIAL_NUMBER,
    CONF_SSID,
    CONF_STALE_TIMEOUT,
    DEFAULT_STALE_TIMEOUT,
    DOMAIN,
    LOGGER,
)
from .coordinator import CLAIMED_STATUS, NovabotConfigEntry, payload_bytes
from .gateway import DEFAULT_BIND_ADDRESS, DEFAULT_GATEWAY_PORT, gateway_endpoint
from .protocol import (
    ChargerStatus,
    InvalidInputError,
    InvalidMessageError,
    InvalidSettingsError,
    PayloadCodec,
    ProvisioningSettings,
    decode_message,
    normalize_serial_number,
    parse_status,
    serial_number_from_topic,
)

if TYPE_CHECKING:
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
    from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

ADVERTISED_NAME = "charger_pile"
MANUFACTURER_ID = 21862
DEFAULT_MQTT_PORT = 1883


def is_charger(info: BluetoothServiceInfoBleak) -> bool:
    """Whether an advertisement comes from a charger in provisioning mode."""
    return (info.name or "").lower() == ADVERTISED_NAME or (
        MANUFACTURER_ID in info.manufacturer_data
    )


class NovabotConfigFlow(ConfigFlow, domain=DOMAIN):
    """Provision a charger over Bluetooth, or adopt one already reporting."""

    VERSION = 1

    def __init__(self) -> None:
        self._address: str | None = None
        self._form_input: dict[str, Any] = {}  # what the user typed, never the password
        self._password: str | None = None  # kept in memory for a retry only
        self._settings: ProvisioningSettings | None = None
        self._broker_chooser: BrokerChooser | None = None
        self._route = BrokerChoice(gateway=False, charger_port=0)
        self._session: asyncio.Task[int | None] | None = None
        self._action_changed = asyncio.Event()
        self._action = "connect"
        self._error: str | None = None
        self._channel: int | None = None
        self._claim_window: ClaimWindow | None = None
        self._claim: asyncio.Task[ChargerStatus | None] | None = None
        self._claimed: ChargerStatus | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: NovabotConfigEntry) -> NovabotOptionsFlow:
        """Options: the stale timeout, and the gateway's port and address."""
        return NovabotOptionsFlow()

    # --- Discovery ------------------------------------------------------------

    async def async_step_bluetooth(
        self, discovery_info: BluetoothServiceInfoBleak
    ) -> ConfigFlowResult:
        """A charger in provisioning mode was heard."""
        await self._async_require_mqtt()
        self._async_abort_entries_match({CONF_ADDRESS: discovery_info.address})
        await self.async_set_unique_id(discovery_info.address)
        self._address = discovery_info.address
        self.context["title_placeholders"] = {"name": "Novabot charger"}
        return await self.async_step_settings()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick one of the chargers Home Assistant's Bluetooth hears."""
        await self._async_require_mqtt()
        if user_input is not None:
            self._address = user_input[CONF_ADDRESS]
            if self.source != SOURCE_RECONFIGURE:
                await self.async_set_unique_id(self._address, raise_on_progress=False)
            return await self.async_step_settings()

        configured = {
            entry.data.get(CONF_ADDRESS)
            for entry in self._async_current_entries(include_ignore=False)
            if self.source != SOURCE_RECONFIGURE
            or entry.entry_id != self._reconfigure_entry_id
        }
        chargers = {
            info.address: f"{info.name or 'Charger'} ({info.address})"
            for info in bluetooth.async_discovered_service_info(self.hass)
            if is_charger(info) and info.address not in configured
        }
        if not chargers:
            return self.async_abort(reason="no_devices_found")
        return self.async_show_form(
            step_id="user",
            data_schema=probatio.Schema(
                {
                    probatio.Required(CONF_ADDRESS): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=address, label=label)
                                for address, label in chargers.items()
                            ]
                        )
                    )
                }
            ),
        )

    async def async_step_mqtt(
        self, discovery_info: MqttServiceInfo
    ) -> ConfigFlowResult:
        """A charger already reports to the broker: offer to adopt it."""
        try:
            serial_number = normalize_serial_number(
                serial_number_from_topic(discovery_info.topic) or ""
            )
        except InvalidInputError:
            return self.async_abort(reason="not_a_charger")
        # Home Assistant offers every changed report of every charger, configured
        # ones too: turn those away before decoding anything.
        await self.async_set_unique_id(serial_number)
        self._abort_if_unique_id_configured()
        try:
            status = parse_status(
                decode_message(
                    payload_bytes(discovery_info.payload), PayloadCodec(serial_number)
                ).document
            )
        except InvalidMessageError:
            return self.async_abort(reason="not_a_charger")
        self._claimed = status
        self.context["title_placeholders"] = {
            "name": f"Novabot charger {serial_number}"
        }
        return await self.async_step_mqtt_confirm()

    async def async_step_mqtt_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm the adoption of a charger found on MQTT."""
        assert self.unique_id is not None
        if user_input is None:
            return self.async_show_form(
                step_id="mqtt_confirm",
                description_placeholders={"serial_number": self.unique_id},
            )
        broker = self.hass.config_entries.async_entries(mqtt.DOMAIN)[0].data
        return self._async_finish(
            {
                CONF_SERIAL_NUMBER: self.unique_id,
                CONF_CHARGER_CHANNEL: None,
                CONF_MQTT_HOST: broker.get(mqtt.CONF_BROKER, ""),
                CONF_MQTT_PORT: broker.get(CONF_PORT, DEFAULT_MQTT_PORT),
                CONF_GATEWAY: False,
            }
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move a configured charger to another WiFi or broker."""
        entry = self._get_reconfigure_entry()
        self._form_input = {
            CONF_SERIAL_NUMBER: entry.data[CONF_SERIAL_NUMBER],
            CONF_MQTT_HOST: entry.data[CONF_MQTT_HOST],
        }
        return await self.async_step_user()

    # --- Settings and broker check --------------------------------------------

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the serial number, the WiFi and the broker; check the broker."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if self._error:
            errors["base"], self._error = self._error, None
            if self._settings:
                placeholders["ssid"] = self._settings.ssid
        elif user_input is not None:
            self._form_input = {
                k: v for k, v in user_input.items() if k != CONF_PASSWORD
            }
            password = user_input.get(CONF_PASSWORD) or self._password or ""
            try:
                settings = ProvisioningSettings.create(
                    serial_number=user_input[CONF_SERIAL_NUMBER],
                    ssid=user_input[CONF_SSID],
                    password=password,
                    mqtt_host=user_input[CONF_MQTT_HOST],
                    mqtt_port=int(user_input[CONF_MQTT_PORT]),
                )
            except InvalidSettingsError as err:
                errors = dict(err.errors)
            else:
                self._password = password
                await self._async_claim_serial_number(settings.serial_number)
                try:
                    self._route = await self._broker().async_choose(settings)
                except BrokerChoiceError as err:
                    errors = {CONF_MQTT_HOST: err.error}
                    placeholders.update(err.placeholders)
                else:
                    self._settings = settings
                    if self._route.gateway:
                        return await self.async_step_gateway()
                    return await self.async_step_provision()

        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(
                self._settings_schema(), await self._async_form_defaults()
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

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
        """A reconfigured charger keeps its gateway; a new one gets the default."""
        if self._broker_chooser is None:
            if self.source == SOURCE_RECONFIGURE:
                port, address = gateway_endpoint(self._get_reconfigure_entry())
            else:
                port, address = DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS
            self._broker_chooser = BrokerChooser(self.hass, port, address)
        return self._broker_chooser

    async def async_step_gateway(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Say in one sentence why the charger goes through the gateway."""
        assert self._settings is not None
        if user_input is not None:
            return await self.async_step_provision()
        return self.async_show_form(
            step_id="gateway",
            description_placeholders={
                "host": self._settings.mqtt_host,
                "port": str(self._settings.mqtt_port),
                "gateway_port": str(self._route.charger_port),
                "firmware": self._route.refused_firmware,
            },
        )

    # --- Bluetooth session ----------------------------------------------------

    async def async_step_provision(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Run the Bluetooth session, one progress line per command."""
        if self._session is None:
            self._session = self.hass.async_create_task(self._async_provision())
            self._session.add_done_callback(lambda _: self._action_changed.set())
        if not self._session.done():
            self._action_changed.clear()
            return self.async_show_progress(
                step_id="provision",
                progress_action=self._action,
                progress_task=self.hass.async_create_task(self._action_changed.wait()),
            )
        session, self._session = self._session, None
        try:
            self._channel = session.result()
        except ProvisioningFailedError as err:
            self._error = err.error
            return self.async_show_progress_done(next_step_id="settings")
        return self.async_show_progress_done(next_step_id="claim")

    def _set_action(self, action: str) -> None:
        self._action = action
        self._action_changed.set()

    async def _async_provision(self) -> int | None:
        assert self._settings is not None
        assert self._address is not None
        # In gateway mode the charger is told the gateway's port, not the broker's.
        settings = dataclasses.replace(
            self._settings, mqtt_port=self._route.charger_port
        )
        return await async_provision(
            self.hass, self._address, settings, self._set_action
        )

    # --- Claim window ---------------------------------------------------------

    async def async_step_claim(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the charger's first valid report on MQTT."""
        assert self._settings is not None
        if self._claim is None:
            self._claim_window = ClaimWindow(
                self.hass,
                self._settings.serial_number,
                {
                    unique_id
                    for unique_id in self._async_current_ids(include_ignore=False)
                    if unique_id
                },
            )
            self._claim = self.hass.async_create_task(
                self._claim_window.async_wait(CLAIM_TIMEOUT)
            )
        if not self._claim.done():
            return self.async_show_progress(
                step_id="claim",
                progress_action="claim",
                progress_task=self._claim,
                description_placeholders={
                    "host": self._settings.mqtt_host,
                    "port": str(self._route.charger_port),
                    "seconds": str(int(CLAIM_TIMEOUT)),
                },
            )
        claim, self._claim = self._claim, None
        self._claimed = claim.result()
        if self._claimed is None:
            if self._other_serial_numbers():
                return self.async_show_progress_done(next_step_id="claim_timeout_other")
            return self.async_show_progress_done(next_step_id="claim_timeout")
        return self.async_show_progress_done(next_step_id="finish")

    def _other_serial_numbers(self) -> set[str]:
        window = self._claim_window
        return window.other_serial_numbers if window else set()

    async def async_step_claim_timeout(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No report in time: wait again, finish anyway, or provision again."""
        return self._claim_timeout_menu("claim_timeout")

    async def async_step_claim_timeout_other(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No report from our charger, but another one reported."""
        return self._claim_timeout_menu("claim_timeout_other")

    def _claim_timeout_menu(self, step_id: str) -> ConfigFlowResult:
        assert self._settings is not None
        return self.async_show_menu(
            step_id=step_id,
            menu_options=["claim", "finish", "settings"],
            description_placeholders={
                "seconds": str(int(CLAIM_TIMEOUT)),
                "host": self._settings.mqtt_host,
                "port": str(self._route.charger_port),
                "serial_number": self._settings.serial_number,
                "other_serial_numbers": ", ".join(sorted(self._other_serial_numbers())),
            },
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create (or update) the entry with what the charger was told."""
        assert self._settings is not None
        data: dict[str, Any] = {
            CONF_SERIAL_NUMBER: self._settings.serial_number,
            CONF_CHARGER_CHANNEL: self._channel,
            CONF_MQTT_HOST: self._settings.mqtt_host,
            CONF_MQTT_PORT: self._route.charger_port,
            CONF_GATEWAY: self._route.gateway,
            CONF_ADDRESS: self._address,
        }
        return self._async_finish(data)

    def _async_finish(self, data: dict[str, Any]) -> ConfigFlowResult:
        serial_number: str = data[CONF_SERIAL_NUMBER]
        if self._claimed:
            # The entry's coordinator starts from what the claim window heard.
            self.hass.data.setdefault(CLAIMED_STATUS, {})[serial_number] = self._claimed
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data
            )
        return self.async_create_entry(
            title=f"Novabot charger {serial_number}", data=data
        )

    # --- Helpers --------------------------------------------------------------

    @callback
    def async_remove(self) -> None:
        """Stop the session and the claim; give the gateway back."""
        for task in (self._session, self._claim):
            if task and not task.done():
                task.cancel()
        if self._broker_chooser:
            self.hass.async_create_background_task(
                self._broker_chooser.async_release(),
                f"{DOMAIN} release gateway after flow",
            )

    async def _async_require_mqtt(self) -> None:
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise AbortFlow("mqtt_not_configured")

    def _settings_schema(self) -> probatio.Schema:
        return probatio.Schema(
            {
                probatio.Required(CONF_SERIAL_NUMBER): TextSelector(),
                probatio.Required(CONF_SSID): TextSelector(),
                probatio.Optional(CONF_PASSWORD): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
                probatio.Required(CONF_MQTT_HOST): TextSelector(),
                probatio.Required(CONF_MQTT_PORT): NumberSelector(
                    NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
                ),
            }
        )

    async def _async_form_defaults(self) -> dict[str, Any]:
        """What the user typed before, else an address the charger can reach."""
        defaults = dict(self._form_input)
        if CONF_MQTT_HOST not in defaults:
            try:
                # Home Assistant's LAN address: the MQTT entry's broker name may be
                # a container name (core-mosquitto) the charger cannot resolve.
                defaults[CONF_MQTT_HOST] = await network.async_get_source_ip(self.hass)
            except HomeAssistantError:
                LOGGER.debug("No LAN address found to suggest for the broker")
        defaults.setdefault(CONF_MQTT_PORT, self._broker_port())
        return defaults

    def _broker_port(self) -> int:
        """The MQTT entry's port when it is plain TCP; the charger cannot do TLS."""
        entries = self.hass.config_entries.async_entries(mqtt.DOMAIN)
        if not entries:
            return DEFAULT_MQTT_PORT
        broker = entries[0].data
        plain = broker.get(mqtt.CONF_TRANSPORT, "tcp") == "tcp" and not broker.get(
            mqtt.CONF_CERTIFICATE
        )
        return (
            int(broker.get(CONF_PORT, DEFAULT_MQTT_PORT))
            if plain
            else DEFAULT_MQTT_PORT
        )


class NovabotOptionsFlow(OptionsFlowWithReload):
    """Change how long silence may last, and where the gateway listens."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and save the options."""
        errors: dict[str, str] = {}
        gateway = bool(self.config_entry.data.get(CONF_GATEWAY))
        if user_input is not None:
            options = {CONF_STALE_TIMEOUT: int(user_input[CONF_STALE_TIMEOUT])}
            if gateway:
                options[CONF_GATEWAY_PORT] = int(user_input[CONF_GATEWAY_PORT])
                bind_address = user_input[CONF_GATEWAY_BIND_ADDRESS].strip()
                if not await self._async_is_own_address(bind_address):
                    errors[CONF_GATEWAY_BIND_ADDRESS] = "invalid_bind_address"
                options[CONF_GATEWAY_BIND_ADDRESS] = bind_address
            if not errors:
                return self.async_create_entry(data=options)

        fields: dict[probatio.Marker, Any] = {
            probatio.Required(CONF_STALE_TIMEOUT): NumberSelector(
                NumberSelectorConfig(
                    min=10,
                    max=600,
                    step=1,
                    unit_of_measurement="s",
                    mode=NumberSelectorMode.BOX,
                )
            )
        }
        current: dict[str, Any] = {CONF_STALE_TIMEOUT: DEFAULT_STALE_TIMEOUT}
        if gateway:
            fields[probatio.Required(CONF_GATEWAY_PORT)] = NumberSelector(
                NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
            )
            fields[probatio.Required(CONF_GATEWAY_BIND_ADDRESS)] = TextSelector()
            current[CONF_GATEWAY_PORT], current[CONF_GATEWAY_BIND_ADDRESS] = (
                gateway_endpoint(self.config_entry)
            )
        current.update(self.config_entry.options)
        if user_input is not None:
            current.update(user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(fields), current
            ),
            errors=errors,
        )

    async def _async_is_own_address(self, value: str) -> bool:
        """Whether the gateway can listen there: any, loopback or this host's."""
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        if address.is_unspecified or address.is_loopback:
            return True
        return address in await network.async_get_enabled_source_ips(self.hass)
