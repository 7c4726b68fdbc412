"""Set up a Novabot charger: Bluetooth provisioning, broker check, claim window."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from typing import TYPE_CHECKING, Any

from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
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
from .gateway import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    async_use_gateway,
    gateway_endpoint,
)
from .protocol import (
    STATUS_TOPIC_FILTER,
    ChargerStatus,
    Command,
    InvalidInputError,
    InvalidMessageError,
    InvalidSettingsError,
    LinkLostError,
    NoReplyError,
    PayloadCodec,
    ProbeOutcome,
    ProvisioningError,
    ProvisioningSession,
    ProvisioningSettings,
    StepFailedError,
    decode_message,
    normalize_serial_number,
    parse_status,
    probe_broker,
    serial_number_from_topic,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bleak import BleakClient
    from homeassistant.components.bluetooth import BluetoothServiceInfoBleak
    from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

ADVERTISED_NAME = "charger_pile"
MANUFACTURER_ID = 21862
DEFAULT_MQTT_PORT = 1883
CLAIM_TIMEOUT = 120.0  # the charger reboots, joins WiFi and connects: ~30 s usually

# Which form error explains a failed step; the vendor app says the same.
STEP_FAILURES: dict[str, str] = {
    Command.SET_WIFI_INFO: "network_step_failed",
    Command.SET_MQTT_INFO: "network_step_failed",
    Command.SET_RTK_INFO: "antenna_step_failed",
    Command.SET_LORA_INFO: "antenna_step_failed",
}


def is_charger(info: BluetoothServiceInfoBleak) -> bool:
    """Whether an advertisement comes from a charger in provisioning mode."""
    return (info.name or "").lower() == ADVERTISED_NAME or (
        MANUFACTURER_ID in info.manufacturer_data
    )


class ProvisioningFailedError(Exception):
    """The Bluetooth session failed; ``error`` is the form error to show."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class NovabotConfigFlow(ConfigFlow, domain=DOMAIN):
    """Provision a charger over Bluetooth, or adopt one already reporting."""

    VERSION = 1

    def __init__(self) -> None:
        self._address: str | None = None
        self._form_input: dict[str, Any] = {}  # what the user typed, never the password
        self._password: str | None = None  # kept in memory for a retry only
        self._settings: ProvisioningSettings | None = None
        self._gateway = False
        self._charger_port = 0  # the port the charger is told
        self._release_gateway: Callable[[], Awaitable[None]] | None = None
        self._session: asyncio.Task[int] | None = None
        self._action_changed = asyncio.Event()
        self._action = "connect"
        self._error: str | None = None
        self._channel: int | None = None
        self._claim: asyncio.Task[ChargerStatus | None] | None = None
        self._claimed: ChargerStatus | None = None
        self._other_chargers: set[str] = set()

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
                errors = await self._async_choose_mode(settings, placeholders)
                if not errors:
                    self._settings = settings
                    if self._gateway:
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

    async def _async_choose_mode(
        self, settings: ProvisioningSettings, placeholders: dict[str, str]
    ) -> dict[str, str]:
        """Probe the broker as the charger will; pick direct or gateway mode."""
        host, port = settings.mqtt_host, settings.mqtt_port
        result = await probe_broker(host, port)
        LOGGER.debug("Broker %s:%s answered the probe: %s", host, port, result)
        if result.outcome is ProbeOutcome.ACCEPTED:
            self._gateway, self._charger_port = False, port
            return {}
        if result.login_required:
            return await self._async_open_gateway(settings, placeholders)
        if result.outcome is ProbeOutcome.REFUSED:
            placeholders["return_code"] = str(result.return_code)
            return {CONF_MQTT_HOST: "broker_refused"}
        if result.outcome is ProbeOutcome.NOT_MQTT:
            return {CONF_MQTT_HOST: "broker_not_mqtt"}
        return {CONF_MQTT_HOST: "broker_unreachable"}

    async def _async_open_gateway(
        self, settings: ProvisioningSettings, placeholders: dict[str, str]
    ) -> dict[str, str]:
        """The broker wants a login: let the charger in through the gateway."""
        port, bind_address = self._gateway_endpoint()
        placeholders.update(host=settings.mqtt_host, gateway_port=str(port))
        # Admit the new serial number before letting go of a previous attempt's,
        # so the gateway keeps running between two tries.
        release_previous = self._release_gateway
        try:
            self._release_gateway = await async_use_gateway(
                self.hass,
                settings.serial_number,
                port=port,
                bind_address=bind_address,
            )
        except HomeAssistantError as err:  # port in use, or cannot listen at all
            LOGGER.debug("The gateway could not start on port %s: %s", port, err)
            self._release_gateway = None
            return {CONF_MQTT_HOST: "gateway_unreachable"}
        finally:
            if release_previous:
                await release_previous()
        result = await probe_broker(settings.mqtt_host, port)
        if result.outcome is not ProbeOutcome.ACCEPTED:
            return {CONF_MQTT_HOST: "gateway_unreachable"}
        self._gateway, self._charger_port = True, port
        return {}

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
                "gateway_port": str(self._charger_port),
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

    async def _async_provision(self) -> int:
        """Connect through Home Assistant's Bluetooth and send the five commands."""
        assert self._settings is not None
        assert self._address is not None
        self._set_action("connect")
        # Resolved now, not at discovery: the best adapter or proxy may have changed.
        device = bluetooth.async_ble_device_from_address(
            self.hass, self._address, connectable=True
        )
        if device is None:
            raise ProvisioningFailedError("device_not_found")
        session: ProvisioningSession | None = None

        def link_lost(_client: BleakClient) -> None:
            if session:
                session.connection_lost()

        try:
            client = await establish_connection(
                BleakClientWithServiceCache,
                device,
                device.name or self._address,
                link_lost,
            )
        except (BleakError, TimeoutError) as err:
            LOGGER.debug("Could not connect to %s: %s", self._address, err)
            raise ProvisioningFailedError("cannot_connect") from err
        session = ProvisioningSession(client)
        # In gateway mode the charger is told the gateway's port, not the broker's.
        settings = dataclasses.replace(self._settings, mqtt_port=self._charger_port)
        try:
            result = await session.run(settings, self._set_action)
        except StepFailedError as err:
            raise ProvisioningFailedError(
                STEP_FAILURES.get(err.step, "provisioning_failed")
            ) from err
        except NoReplyError as err:
            first = err.step == Command.SET_WIFI_INFO
            raise ProvisioningFailedError(
                "not_in_provisioning_mode" if first else "no_reply"
            ) from err
        except LinkLostError as err:
            raise ProvisioningFailedError("link_lost") from err
        except ProvisioningError as err:
            raise ProvisioningFailedError("provisioning_failed") from err
        return result.channel

    # --- Claim window ---------------------------------------------------------

    async def async_step_claim(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the charger's first valid report on MQTT."""
        assert self._settings is not None
        if self._claim is None:
            self._claim = self.hass.async_create_task(self._async_wait_for_report())
        if not self._claim.done():
            return self.async_show_progress(
                step_id="claim",
                progress_action="claim",
                progress_task=self._claim,
                description_placeholders={
                    "host": self._settings.mqtt_host,
                    "port": str(self._charger_port),
                    "seconds": str(int(CLAIM_TIMEOUT)),
                },
            )
        claim, self._claim = self._claim, None
        self._claimed = claim.result()
        if self._claimed is None:
            if self._other_chargers:
                return self.async_show_progress_done(next_step_id="claim_timeout_other")
            return self.async_show_progress_done(next_step_id="claim_timeout")
        return self.async_show_progress_done(next_step_id="finish")

    async def _async_wait_for_report(self) -> ChargerStatus | None:
        assert self._settings is not None
        serial_number = self._settings.serial_number
        codec = PayloadCodec(serial_number)
        configured = self._async_current_ids(include_ignore=False)
        heard: asyncio.Future[ChargerStatus] = self.hass.loop.create_future()

        @callback
        def report_received(message: mqtt.ReceiveMessage) -> None:
            sender = serial_number_from_topic(message.topic)
            if sender != serial_number:
                if sender and sender not in configured:
                    self._other_chargers.add(sender)
                return
            try:
                status = parse_status(
                    decode_message(payload_bytes(message.payload), codec).document
                )
            except InvalidMessageError:
                return
            if not heard.done():
                heard.set_result(status)

        unsubscribe = await mqtt.async_subscribe(
            self.hass, STATUS_TOPIC_FILTER, report_received, encoding=None
        )
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT):
                return await heard
        except TimeoutError:
            return None
        finally:
            unsubscribe()

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
                "port": str(self._charger_port),
                "serial_number": self._settings.serial_number,
                "other_serial_numbers": ", ".join(sorted(self._other_chargers)),
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
            CONF_MQTT_PORT: self._charger_port,
            CONF_GATEWAY: self._gateway,
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
        if release := self._release_gateway:
            self._release_gateway = None

            async def give_back() -> None:
                await release()

            self.hass.async_create_background_task(
                give_back(), f"{DOMAIN} release gateway after flow"
            )

    async def _async_require_mqtt(self) -> None:
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise AbortFlow("mqtt_not_configured")

    def _gateway_endpoint(self) -> tuple[int, str]:
        """A reconfigured charger keeps its gateway; a new one gets the default."""
        if self.source == SOURCE_RECONFIGURE:
            return gateway_endpoint(self._get_reconfigure_entry())
        return DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS

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
