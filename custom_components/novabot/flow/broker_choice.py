"""Direct or gateway: probe the broker the ways chargers log in, and decide.

Firmware v0.3.6 connects anonymously, v0.4.0 and later with a fixed login, and
a charger can move from one to the other with an update. Direct mode only when
the broker admits both; when it would refuse either for want of a login, the
charger goes through the integration's gateway, which admits both. One gateway
serves every charger of a Home Assistant: a new charger joins it where it
listens (:func:`shared_gateway_endpoint`), and must not move it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.exceptions import HomeAssistantError

from ..const import CONF_GATEWAY, CONF_GATEWAY_BIND_ADDRESS, LOGGER
from ..gateway import (
    DEFAULT_BIND_ADDRESS,
    DEFAULT_GATEWAY_PORT,
    async_use_gateway,
    gateway_endpoint,
)
from ..protocol import ProbeOutcome, probe_charger_logins

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from ..protocol import ChargerLogin, ProbeResult, ProvisioningSettings


@dataclass(frozen=True, slots=True)
class BrokerChoice:
    """Where the charger will report, and why."""

    gateway: bool
    charger_port: int  # the port the charger is told: the gateway's or the broker's
    refused: tuple[ChargerLogin, ...] = ()  # the logins the broker would turn away

    @property
    def refused_firmware(self) -> str:
        """The firmware the broker would have refused, for the explanation."""
        return ", ".join(login.firmware for login in self.refused)


class BrokerChoiceError(Exception):
    """No way to the broker; ``errors`` and ``placeholders`` are for the form."""

    def __init__(self, error: str, **placeholders: str) -> None:
        super().__init__(error)
        self.error = error
        self.placeholders = placeholders


class BrokerChooser:
    """Chooses the mode for one config flow, and holds its gateway lease.

    The gateway starts as soon as gateway mode is chosen (the charger must find
    it right after its reboot) and is given back by :meth:`async_release`.
    """

    def __init__(
        self, hass: HomeAssistant, gateway_port: int, bind_address: str
    ) -> None:
        self._hass = hass
        self._gateway_port = gateway_port
        self._bind_address = bind_address
        self._release_gateway: Callable[[], Awaitable[None]] | None = None

    async def async_choose(self, settings: ProvisioningSettings) -> BrokerChoice:
        """Probe ``settings``' broker as the charger will; raise BrokerChoiceError."""
        host, port = settings.mqtt_host, settings.mqtt_port
        admission = await probe_charger_logins(host, port)
        LOGGER.debug("Broker %s:%s answered the probes: %s", host, port, admission)
        if failure := admission.failure:
            raise _broker_error(failure)
        if admission.admits_every_charger:
            await self.async_release()  # an earlier attempt may have needed it
            return BrokerChoice(gateway=False, charger_port=port)
        await self._async_open_gateway(settings)
        return BrokerChoice(
            gateway=True,
            charger_port=self._gateway_port,
            refused=admission.refused_logins,
        )

    async def async_release(self) -> None:
        """Give the gateway lease back, if this flow holds one."""
        if release := self._release_gateway:
            self._release_gateway = None
            await release()

    async def _async_open_gateway(self, settings: ProvisioningSettings) -> None:
        """Admit the charger to the gateway, and check the gateway admits it."""
        unreachable = BrokerChoiceError(
            "gateway_unreachable",
            host=settings.mqtt_host,
            gateway_port=str(self._gateway_port),
        )
        # Admit the new serial number before letting go of a previous attempt's,
        # so the gateway keeps running between two tries.
        release_previous = self._release_gateway
        try:
            self._release_gateway = await async_use_gateway(
                self._hass,
                settings.serial_number,
                port=self._gateway_port,
                bind_address=self._bind_address,
            )
        except HomeAssistantError as err:  # port in use, or cannot listen at all
            LOGGER.debug(
                "The gateway could not start on port %s: %s", self._gateway_port, err
            )
            self._release_gateway = None
            raise unreachable from err
        finally:
            if release_previous:
                await release_previous()
        gateway = await probe_charger_logins(settings.mqtt_host, self._gateway_port)
        if not gateway.admits_every_charger:
            raise unreachable


def _broker_error(failure: ProbeResult) -> BrokerChoiceError:
    if failure.outcome is ProbeOutcome.REFUSED:
        return BrokerChoiceError("broker_refused", return_code=str(failure.return_code))
    if failure.outcome is ProbeOutcome.NOT_MQTT:
        return BrokerChoiceError("broker_not_mqtt")
    return BrokerChoiceError("broker_unreachable")


def shared_gateway_endpoint(entries: Iterable[ConfigEntry]) -> tuple[int, str]:
    """The port and address of the gateway the chargers of ``entries`` use.

    The first gateway-mode entry's, as its options or data say; the defaults
    when no charger uses the gateway yet.
    """
    for entry in entries:
        if entry.data.get(CONF_GATEWAY):
            return gateway_endpoint(entry)
    return DEFAULT_GATEWAY_PORT, DEFAULT_BIND_ADDRESS


def new_entry_options(entries: Iterable[ConfigEntry]) -> dict[str, str]:
    """The options of a new gateway-mode charger's entry, beside ``entries``.

    The address the shared gateway listens on, as its other chargers say,
    unless it is the default; its port is in the entry's data already.
    """
    _, address = shared_gateway_endpoint(entries)
    if address == DEFAULT_BIND_ADDRESS:
        return {}
    return {CONF_GATEWAY_BIND_ADDRESS: address}
