"""Set up a Novabot charger: the steps a user sees.

The flow asks, shows progress and routes. What it drives lives beside it:
``settings_form`` (what is asked and suggested), ``broker_choice`` (direct or
gateway), ``bluetooth_session`` (the five commands over Bluetooth) and
``report_listener`` (chargers heard on the broker: adoption and the claim).
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
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
)
import probatio

from .bluetooth_session import ProvisioningFailedError, async_provision
from .broker_choice import BrokerChoice, BrokerChoiceError, BrokerChooser
from .const import (
    CONF_ADDRESS,
    CONF_CHARGER_CHANNEL,
    CONF_GATEWAY,
    CONF_GATEWAY_BIND_ADDRESS,
    CONF_GATEWAY_PORT,
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_SERIAL_NUMBER,
    CONF_STALE_TIMEOUT,
    DEFAULT_STALE_TIMEOUT,
    DOMAIN,
)
from .coordinator import CLAIMED_STATUS, NovabotConfigEntry
from .gateway import DEFAULT_BIND_ADDRESS, DEFAULT_GATEWAY_PORT, gateway_endpoint
from .protocol import InvalidSettingsError, ProvisioningSettings
from .report_listener import LISTEN_TIME, ReportListener
from .settings_form import (
    DEFAULT_MQTT_PORT,
    SETTINGS_SCHEMA,
    async_suggested_values,
    settings_from_input,
)

if TYPE_CHECKING:
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak

    from .protocol import ChargerStatus

ADVERTISED_NAME = "charger_pile"
MANUFACTURER_ID = 21862
CLAIM_TIMEOUT = 120.0  # the charger reboots, joins WiFi and connects: ~30 s usually


def is_charger(info: BluetoothServiceInfoBleak) -> bool:
    """Whether an advertisement comes from a charger in provisioning mode.

    Mowers use the same company id, with another name: the manufacturer data
    alone counts only when no name was heard (a passive scan, say).
    """
    if name := info.name.strip() if info.name else "":
        return name.lower() == ADVERTISED_NAME
    return MANUFACTURER_ID in info.manufacturer_data


class NovabotConfigFlow(ConfigFlow, domain=DOMAIN):
    """Provision a charger over Bluetooth, or adopt one that already reports."""

    VERSION = 1
    MINOR_VERSION = 2

    def __init__(self) -> None:
        self._address: str | None = None
        self._typed: dict[str, Any] = {}  # shown again on the form; no password
        self._password: str | None = None  # kept in memory for a retry only
        self._settings: ProvisioningSettings | None = None
        self._broker_chooser: BrokerChooser | None = None
        self._route = BrokerChoice(gateway=False, charger_port=0)
        self._task: asyncio.Task[Any] | None = None  # the progress step's work
        self._action_changed = asyncio.Event()
        self._action = "connect"
        self._error: str | None = None
        self._channel: int | None = None
        self._reports: dict[str, ChargerStatus] = {}  # first report of each charger
        self._claimed: ChargerStatus | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: NovabotConfigEntry) -> NovabotOptionsFlow:
        """Options: the stale timeout, and the gateway's port and address."""
        return NovabotOptionsFlow()

    # --- How the flow starts ---------------------------------------------------

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

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Provision a charger heard over Bluetooth, or adopt a reporting one."""
        await self._async_require_mqtt()
        if self._bluetooth_chargers():
            return self.async_show_menu(
                step_id="user", menu_options=["pick_charger", "find_reporting"]
            )
        return await self.async_step_find_reporting()

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
        return self._select_form("pick_charger", CONF_ADDRESS, chargers)

    async def async_step_find_reporting(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen for chargers that already report to the broker."""
        if self._task is None:
            self._task = self.hass.async_create_task(self._async_listen())
        if not self._task.done():
            return self.async_show_progress(
                step_id="find_reporting",
                progress_action="find_reporting",
                progress_task=self._task,
                description_placeholders={"seconds": str(int(LISTEN_TIME))},
            )
        self._reports, self._task = self._task.result(), None
        return self.async_show_progress_done(next_step_id="adopt")

    async def async_step_adopt(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a charger that reports to the broker: no Bluetooth needed."""
        if user_input is not None:
            serial_number = user_input[CONF_SERIAL_NUMBER]
            await self.async_set_unique_id(serial_number, raise_on_progress=False)
            self._abort_if_unique_id_configured()
            self._claimed = self._reports[serial_number]
            broker = self.hass.config_entries.async_entries(mqtt.DOMAIN)[0].data
            return self._async_finish(
                {
                    CONF_SERIAL_NUMBER: serial_number,
                    CONF_CHARGER_CHANNEL: None,
                    CONF_MQTT_HOST: broker.get(mqtt.CONF_BROKER, ""),
                    CONF_MQTT_PORT: broker.get(CONF_PORT, DEFAULT_MQTT_PORT),
                    CONF_GATEWAY: False,
                }
            )
        if not self._reports:
            bluetooth_too = bool(self._bluetooth_chargers())
            return self.async_abort(
                reason="no_reporting_chargers" if bluetooth_too else "no_chargers_found"
            )
        options = {serial: serial for serial in sorted(self._reports)}
        return self._select_form("adopt", CONF_SERIAL_NUMBER, options)

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
            self._typed = {k: v for k, v in user_input.items() if k != "password"}
            try:
                settings = settings_from_input(user_input, self._password)
            except InvalidSettingsError as err:
                errors = dict(err.errors)
            else:
                self._password = settings.password
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
        assert self._settings is not None
        return self.async_show_form(
            step_id="gateway",
            description_placeholders={
                "host": self._settings.mqtt_host,
                "port": str(self._settings.mqtt_port),
                "gateway_port": str(self._route.charger_port),
                "firmware": self._route.refused_firmware,
            },
        )

    # --- Bluetooth session and claim --------------------------------------------

    async def async_step_provision(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Run the Bluetooth session, one progress line per command."""
        if self._task is None:
            self._task = self.hass.async_create_task(self._async_provision())
            self._task.add_done_callback(lambda _: self._action_changed.set())
        if not self._task.done():
            self._action_changed.clear()
            return self.async_show_progress(
                step_id="provision",
                progress_action=self._action,
                progress_task=self.hass.async_create_task(self._action_changed.wait()),
            )
        session, self._task = self._task, None
        try:
            self._channel = session.result()
        except ProvisioningFailedError as err:
            self._error = err.error
            return self.async_show_progress_done(next_step_id="settings")
        return self.async_show_progress_done(next_step_id="claim")

    async def async_step_claim(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the charger's first valid report on MQTT."""
        if self._task is None:
            self._task = self.hass.async_create_task(self._async_claim())
        if not self._task.done():
            return self.async_show_progress(
                step_id="claim",
                progress_action="claim",
                progress_task=self._task,
                description_placeholders=self._placeholders("host", "port", "seconds"),
            )
        self._claimed, self._task = self._task.result(), None
        if self._claimed:
            return self.async_show_progress_done(next_step_id="finish")
        if self._reports:
            return self.async_show_progress_done(next_step_id="claim_timeout_other")
        return self.async_show_progress_done(next_step_id="claim_timeout")

    async def async_step_claim_timeout(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No report in time: wait again, finish anyway, or provision again."""
        return self.async_show_menu(
            step_id="claim_timeout",
            menu_options=["claim", "finish", "settings"],
            description_placeholders=self._timeout_placeholders(),
        )

    async def async_step_claim_timeout_other(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No report from our charger, but another one reported."""
        return self.async_show_menu(
            step_id="claim_timeout_other",
            menu_options=["claim", "finish", "settings"],
            description_placeholders=self._timeout_placeholders(),
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create (or update) the entry with what the charger was told."""
        assert self._settings is not None
        return self._async_finish(
            {
                CONF_SERIAL_NUMBER: self._settings.serial_number,
                CONF_CHARGER_CHANNEL: self._channel,
                CONF_MQTT_HOST: self._settings.mqtt_host,
                CONF_MQTT_PORT: self._route.charger_port,
                CONF_GATEWAY: self._route.gateway,
                CONF_ADDRESS: self._address,
            }
        )

    # --- The work behind the steps --------------------------------------------

    def _bluetooth_chargers(self) -> dict[str, str]:
        """Chargers in provisioning mode heard over Bluetooth, not configured yet."""
        configured = {
            entry.data.get(CONF_ADDRESS)
            for entry in self._async_current_entries(include_ignore=False)
            if self.source != SOURCE_RECONFIGURE
            or entry.entry_id != self._reconfigure_entry_id
        }
        return {
            info.address: f"{info.name or 'Charger'} ({info.address})"
            for info in bluetooth.async_discovered_service_info(self.hass)
            if is_charger(info) and info.address not in configured
        }

    async def _async_listen(self) -> dict[str, ChargerStatus]:
        async with ReportListener(self.hass, self._configured_serials()) as listener:
            await asyncio.sleep(LISTEN_TIME)
            return listener.first_reports

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

    def _set_action(self, action: str) -> None:
        self._action = action
        self._action_changed.set()

    async def _async_claim(self) -> ChargerStatus | None:
        assert self._settings is not None
        serial_number = self._settings.serial_number
        # A reconfigured charger is configured, and still the one awaited.
        ignore = self._configured_serials() - {serial_number}
        async with ReportListener(self.hass, ignore) as listener:
            claimed = await listener.async_first_report(serial_number, CLAIM_TIMEOUT)
            self._reports = listener.first_reports
        self._reports.pop(serial_number, None)  # the others heard meanwhile
        return claimed

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
        if self._broker_chooser is None:
            self._broker_chooser = BrokerChooser(self.hass, *self._gateway_endpoint())
        return self._broker_chooser

    def _gateway_endpoint(self) -> tuple[int, str]:
        """A reconfigured charger keeps its gateway; a new one joins the running one.

        One gateway serves every charger: a new charger must not move it.
        """
        if self.source == SOURCE_RECONFIGURE:
            return gateway_endpoint(self._get_reconfigure_entry())
        for entry in self._async_current_entries(include_ignore=False):
            if entry.data.get(CONF_GATEWAY):
                return gateway_endpoint(entry)
        return DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS

    def _configured_serials(self) -> set[str]:
        return {id_ for id_ in self._async_current_ids(include_ignore=False) if id_}

    def _placeholders(self, *keys: str) -> dict[str, str]:
        """What the claim and timeout texts say about this charger."""
        assert self._settings is not None
        known = {
            "host": self._settings.mqtt_host,
            "port": str(self._route.charger_port),  # where the charger reports
            "seconds": str(int(CLAIM_TIMEOUT)),
            "serial_number": self._settings.serial_number,
            "other_serial_numbers": ", ".join(sorted(self._reports)),
        }
        return {key: known[key] for key in keys}

    def _timeout_placeholders(self) -> dict[str, str]:
        return self._placeholders(
            "seconds", "host", "port", "serial_number", "other_serial_numbers"
        )

    def _select_form(
        self, step_id: str, key: str, options: dict[str, str]
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=probatio.Schema(
                {
                    probatio.Required(key): SelectSelector(
                        SelectSelectorConfig(
                            options=[
                                SelectOptionDict(value=value, label=label)
                                for value, label in options.items()
                            ]
                        )
                    )
                }
            ),
        )

    def _async_finish(self, data: dict[str, Any]) -> ConfigFlowResult:
        serial_number: str = data[CONF_SERIAL_NUMBER]
        if self._claimed:
            # The entry's coordinator starts from the report the flow heard.
            self.hass.data.setdefault(CLAIMED_STATUS, {})[serial_number] = self._claimed
        if self.source == SOURCE_RECONFIGURE:
            return self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data_updates=data
            )
        options = {}
        if data[CONF_GATEWAY] and (address := self._gateway_endpoint()[1]) != (
            DEFAULT_BIND_ADDRESS
        ):
            # The address the shared gateway listens on, as its other chargers say.
            options[CONF_GATEWAY_BIND_ADDRESS] = address
        return self.async_create_entry(
            title=f"Novabot charger {serial_number}", data=data, options=options
        )

    @callback
    def async_remove(self) -> None:
        """Stop what a progress step runs; give the gateway back."""
        if self._task and not self._task.done():
            self._task.cancel()
        if self._broker_chooser:
            self.hass.async_create_background_task(
                self._broker_chooser.async_release(),
                f"{DOMAIN} release gateway after flow",
            )

    async def _async_require_mqtt(self) -> None:
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise AbortFlow("mqtt_not_configured")


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
