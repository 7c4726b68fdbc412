"""Set up a Novabot charger (the flow Home Assistant registers), and its options.

The Bluetooth side (discovery, picking a charger heard, reconfigure, the
settings, the broker check, the session) is ``provisioning_flow``, which this
flow extends. Here: the user's menu, adoption of a charger that already reports
to the broker (no Bluetooth needed), the claim window that waits for a
provisioned charger's first report, and the entry. The steps ask, show progress
and route: ``report_listener`` listens on the broker, ``charger_setup`` says
what the entry keeps, ``options_form`` what the options form asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigFlowResult
from homeassistant.core import callback

from .const import CONF_GATEWAY, CONF_SERIAL_NUMBER, DOMAIN
from .coordinator import CLAIMED_STATUS, NovabotConfigEntry
from .flow.charger_setup import adopted_entry_data
from .flow.options import NovabotOptionsFlow
from .flow.pick_form import pick_one_schema
from .flow.provisioning_flow import ProvisioningFlow
from .flow.report_listener import LISTEN_TIME, async_claim, async_listen
from .gateway import shared_gateway_settings

if TYPE_CHECKING:
    import asyncio

    from .protocol import ChargerStatus

CLAIM_TIMEOUT = 120.0  # the charger reboots, joins WiFi and connects: ~30 s usually


class NovabotConfigFlow(ProvisioningFlow, domain=DOMAIN):
    """Provision a charger over Bluetooth, or adopt one that already reports."""

    VERSION = 1
    MINOR_VERSION = 3

    def __init__(self) -> None:
        super().__init__()
        self._task: asyncio.Task[Any] | None = None  # listening, or the claim
        self._reports: dict[str, ChargerStatus] = {}  # chargers heard, to adopt
        self._claimed: ChargerStatus | None = None  # the report the entry starts from

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: NovabotConfigEntry) -> NovabotOptionsFlow:
        """Options: the stale timeout, the mower's start, the gateway's place."""
        return NovabotOptionsFlow()

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

    async def async_step_find_reporting(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Listen for chargers that already report to the broker."""
        if self._task is None:
            self._task = self.hass.async_create_task(
                async_listen(self.hass, self._configured_serials(), LISTEN_TIME)
            )
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
            return self._async_finish(adopted_entry_data(self.hass, serial_number))
        if not self._reports:
            bluetooth_too = bool(self._bluetooth_chargers())
            return self.async_abort(
                reason="no_reporting_chargers" if bluetooth_too else "no_chargers_found"
            )
        serial_numbers = {serial: serial for serial in sorted(self._reports)}
        return self.async_show_form(
            step_id="adopt",
            data_schema=pick_one_schema(CONF_SERIAL_NUMBER, serial_numbers),
        )

    async def async_step_claim(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Wait for the provisioned charger's first valid report on MQTT."""
        assert self._setup is not None
        if self._task is None:
            serial_number = self._setup.settings.serial_number
            self._task = self.hass.async_create_task(
                async_claim(
                    self.hass, serial_number, self._configured_serials(), CLAIM_TIMEOUT
                )
            )
        if not self._task.done():
            return self.async_show_progress(
                step_id="claim",
                progress_action="claim_radio_kept"
                if self._setup.radio_kept
                else "claim",
                progress_task=self._task,
                description_placeholders=self._setup.claim_placeholders(CLAIM_TIMEOUT),
            )
        claim, self._task = self._task.result(), None
        self._claimed, self._setup.others = claim.status, claim.others
        if self._claimed:
            return self.async_show_progress_done(next_step_id="finish")
        if self._setup.others:
            return self.async_show_progress_done(next_step_id="claim_timeout_other")
        return self.async_show_progress_done(next_step_id="claim_timeout")

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
        """The choices after a claim without our charger's report."""
        assert self._setup is not None
        return self.async_show_menu(
            step_id=step_id,
            menu_options=["claim", "finish", "settings"],
            description_placeholders=self._setup.timeout_placeholders(CLAIM_TIMEOUT),
        )

    async def async_step_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Create (or update) the entry with what the charger was told."""
        assert self._setup is not None
        return self._async_finish(self._setup.entry_data())

    def _async_finish(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry, or update the reconfigured one, with ``data``."""
        serial_number: str = data[CONF_SERIAL_NUMBER]
        if self._claimed:
            # The entry's coordinator starts from the report the flow heard.
            self.hass.data.setdefault(CLAIMED_STATUS, {})[serial_number] = self._claimed
        if self.source == SOURCE_RECONFIGURE:
            return self._async_update_reload_and_abort(
                self._get_reconfigure_entry(), data
            )
        # A new gateway-mode charger shares the gateway's settings with the others.
        gateway = shared_gateway_settings(self.hass) if data[CONF_GATEWAY] else None
        return self.async_create_entry(
            title=f"Novabot charger {serial_number}",
            data=data,
            options=gateway.as_options() if gateway else {},
        )

    def _configured_serials(self) -> set[str]:
        """The serial numbers of the chargers set up already."""
        return {id_ for id_ in self._async_current_ids(include_ignore=False) if id_}

    @callback
    def async_remove(self) -> None:
        """Stop listening, provisioning or waiting; give the gateway back."""
        if self._task and not self._task.done():
            self._task.cancel()
        super().async_remove()
