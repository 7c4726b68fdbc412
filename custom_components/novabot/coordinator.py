"""Push coordinator: the charger's MQTT reports become a ChargerStatus.

Reports arrive through Home Assistant's MQTT; replies to commands go to the
charger's command channel (``charger_commands``), what the charger says about
itself (firmware, LoRa radio) is kept by ``charger_details``, and whether it
relays a mower by :class:`MowerPresence`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .charger_commands import ChargerCommands
from .charger_details import ChargerDetails
from .const import (
    CONF_MQTT_HOST,
    CONF_MQTT_PORT,
    CONF_SERIAL_NUMBER,
    CONF_STALE_TIMEOUT,
    DEFAULT_STALE_TIMEOUT,
    DOMAIN,
    LOGGER,
    LORA_FIELD,
    SILENCE_REPAIR_AFTER,
)
from .protocol import (
    REPORT_FIELDS,
    ChargerStatus,
    InvalidMessageError,
    PayloadCodec,
    decode_message,
    parse_status,
    status_topic,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.service_info.mqtt import ReceivePayloadType

type NovabotConfigEntry = ConfigEntry[NovabotCoordinator]

# Everything an entity may read: what a change of availability concerns.
EVERYTHING = REPORT_FIELDS | {LORA_FIELD}

# A status heard by the config flow's claim window, handed to the entry it creates.
CLAIMED_STATUS: HassKey[dict[str, ChargerStatus]] = HassKey(f"{DOMAIN}_claimed_status")


def no_reports_issue_id(serial_number: str) -> str:
    """The id of a charger's "no reports" repair issue."""
    return f"no_reports_{serial_number}"


def payload_bytes(payload: ReceivePayloadType) -> bytes:
    """The raw bytes of an MQTT payload, however the subscription decoded it."""
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def mower_identifier(serial_number: str) -> tuple[str, str]:
    """The mower's device identifier: its charger's serial number, and "mower"."""
    return DOMAIN, f"{serial_number}_mower"


def stale_after(options: Mapping[str, Any]) -> timedelta:
    """How long the charger may be silent before its entities are unavailable."""
    return timedelta(seconds=options.get(CONF_STALE_TIMEOUT, DEFAULT_STALE_TIMEOUT))


class MowerPresence:
    """Whether the charger relays a mower, and who waits for one to appear.

    Known from the start when the mower's device exists from an earlier run;
    otherwise found with the first report of a mower that answers. Forgotten
    when its device is removed, and found again if it answers again.
    """

    def __init__(self, *, known: bool) -> None:
        self.present = known
        self._waiting: list[CALLBACK_TYPE] = []

    @callback
    def async_when_present(self, found: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``found`` now if the mower is there, and whenever it appears."""
        self._waiting.append(found)
        if self.present:
            found()
        return lambda: self._waiting.remove(found)

    @callback
    def status_received(self, status: ChargerStatus) -> None:
        """Look for the mower in a report."""
        if not self.present and status.mower_heard:
            self.present = True
            for found in list(self._waiting):
                found()

    @callback
    def forget(self) -> None:
        """Its device was removed: wait for it to answer again."""
        self.present = False


class NovabotCoordinator(DataUpdateCoordinator[ChargerStatus]):
    """Turn reports on ``Dart/Receive_mqtt/<SN>`` into data, without polling.

    Only a changed status reaches the entities. Silence longer than the stale
    timeout makes them unavailable; ten minutes of it raise a repair issue.
    """

    config_entry: NovabotConfigEntry

    def __init__(self, hass: HomeAssistant, entry: NovabotConfigEntry) -> None:
        self.serial_number: str = entry.data[CONF_SERIAL_NUMBER]
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {self.serial_number}",
            always_update=False,
        )
        self._codec = PayloadCodec(self.serial_number)
        self.stale_after = stale_after(entry.options)
        self._last_payload: bytes | None = None
        self._cancel_stale: CALLBACK_TYPE | None = None
        self._cancel_repair: CALLBACK_TYPE | None = None
        # Silence counts from the last report, or from setup before the first.
        self._listening_since = dt_util.utcnow()
        self.online = False
        # What the last update changed: entities reading other fields skip it.
        self.changed_fields = EVERYTHING
        self.encrypted: bool | None = None
        self.last_report: datetime | None = None
        self.reports_accepted = 0
        self.reports_ignored: Counter[str] = Counter()
        self.commands = ChargerCommands(hass, self.serial_number)
        self.details = ChargerDetails(self)
        self.mower = MowerPresence(
            known=dr.async_get(hass).async_get_device_by_identifier(
                mower_identifier(self.serial_number), entry.entry_id
            )
            is not None
        )
        if claimed := hass.data.get(CLAIMED_STATUS, {}).pop(self.serial_number, None):
            self.data = claimed
            self.online = True
            self.last_report = dt_util.utcnow()
            self.mower.status_received(claimed)

    @property
    def repair_issue_id(self) -> str:
        """The id of this charger's "no reports" repair issue."""
        return no_reports_issue_id(self.serial_number)

    async def async_start(self) -> None:
        """Subscribe to the charger's reports and start watching for silence."""
        unsubscribe = await mqtt.async_subscribe(
            self.hass,
            status_topic(self.serial_number),
            self._handle_message,
            encoding=None,
        )
        self.config_entry.async_on_unload(unsubscribe)
        self.config_entry.async_on_unload(self._async_stop)
        self.details.async_start()
        self._watch_for_silence()

    @callback
    def _handle_message(self, message: mqtt.ReceiveMessage) -> None:
        payload = payload_bytes(message.payload)
        if payload == self._last_payload:
            # The charger repeats itself every ~2 s: no need to decode again.
            self._report_accepted()
            # Its mower may be there still, its device removed since.
            self.mower.status_received(self.data)
            return
        try:
            decoded = decode_message(payload, self._codec)
            if self.commands.channel.reply_received(decoded.document):
                return
            status = parse_status(decoded.document)
        except InvalidMessageError as err:
            self.reports_ignored[err.reason] += 1
            LOGGER.debug("Ignoring message from %s: %s", self.serial_number, err.reason)
            return
        self._last_payload = payload
        if self.encrypted is not None and decoded.encrypted != self.encrypted:
            # Plain to encrypted is what an update to v0.4.0 looks like.
            self.details.charger_changed()
        self.encrypted = decoded.encrypted
        # Firmware v0.4.0 drops commands that are not encrypted.
        self.commands.channel.codec = self._codec if decoded.encrypted else None
        self._report_accepted()
        if status != self.data:
            # The first status makes every entity available: all look at it.
            first = self.data is None
            self.changed_fields = (
                EVERYTHING if first else status.changed_fields(self.data)
            )
            self.async_set_updated_data(status)
            # After the update: the mower's entities, if they appear now, begin
            # with this status (its events compare the next ones with it).
            self.mower.status_received(status)

    def _report_accepted(self) -> None:
        # Offline after an earlier report means the charger went silent.
        returning = not self.online and self.last_report is not None
        self.reports_accepted += 1
        self.last_report = dt_util.utcnow()
        self._watch_for_silence()
        if self._cancel_repair:
            self._cancel_repair()
            self._cancel_repair = None
        if not self.online:
            self.online = True
            if returning:
                LOGGER.info("Charger %s is reporting again", self.serial_number)
                self.details.charger_changed()  # it may have been updated meanwhile
            ir.async_delete_issue(self.hass, DOMAIN, self.repair_issue_id)
            self.async_update_fields(EVERYTHING)
        self.details.report_accepted()

    def _watch_for_silence(self) -> None:
        """Check for silence once the stale timeout has passed.

        One timer at a time: a report only notes its time, and the check moves
        itself on while reports keep coming (a report every ~2 s would otherwise
        cancel and start a timer each time).
        """
        if self._cancel_stale is None:
            self._cancel_stale = async_call_later(
                self.hass, self.stale_after, self._check_silence
            )

    @callback
    def _check_silence(self, now: datetime) -> None:
        self._cancel_stale = None
        quiet = now - (self.last_report or self._listening_since)
        if quiet < self.stale_after:
            self._cancel_stale = async_call_later(
                self.hass, self.stale_after - quiet, self._check_silence
            )
            return
        self._cancel_repair = async_call_later(
            self.hass,
            max(SILENCE_REPAIR_AFTER - self.stale_after, timedelta()),
            self._raise_repair,
        )
        if self.online:
            self.online = False
            LOGGER.info(
                "Charger %s sent no report for %s; its entities are unavailable",
                self.serial_number,
                self.stale_after,
            )
            self.async_update_fields(EVERYTHING)

    @callback
    def async_update_fields(self, changed: frozenset[str]) -> None:
        """Tell the entities reading ``changed`` to look again (all: availability)."""
        self.changed_fields = changed
        self.async_update_listeners()

    @callback
    def _raise_repair(self, _now: datetime) -> None:
        self._cancel_repair = None
        data = self.config_entry.data
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.repair_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="no_reports",
            translation_placeholders={
                "serial_number": self.serial_number,
                "host": data[CONF_MQTT_HOST],
                "port": str(data[CONF_MQTT_PORT]),
            },
        )

    @callback
    def async_options_updated(self) -> None:
        """Take the options as they are now (no reload: nothing disconnects)."""
        self.stale_after = stale_after(self.config_entry.options)
        if self._cancel_stale:
            # The check was timed for the old timeout: time it for the new one.
            self._cancel_stale()
            self._check_silence(dt_util.utcnow())

    @callback
    def _async_stop(self) -> None:
        """Cancel the timers; the repair issue is about a loaded entry only."""
        for cancel in (self._cancel_stale, self._cancel_repair):
            if cancel:
                cancel()
        self._cancel_stale = self._cancel_repair = None
        ir.async_delete_issue(self.hass, DOMAIN, self.repair_issue_id)
