"""Direct or gateway: probe the broker the ways chargers log in, and decide.

Firmware v0.3.6 connects without a login; what v0.4.0 sends is disputed, and a
charger can be updated at any time. So direct mode only when the broker admits
any login (none, and one made up for the probe); when it would refuse either,
the charger goes through the integration's gateway, which admits any login.
The probe opens nothing: the gateway's port is opened once the owner has read
why (:meth:`BrokerChooser.async_open_gateway`), on the port the shared gateway
settings give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.exceptions import HomeAssistantError

from ..const import LOGGER
from ..gateway import async_use_gateway, shared_gateway_settings
from ..protocol import ProbeOutcome, probe_charger_logins

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

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
    """No way to the broker; ``error`` and ``placeholders`` are for the form."""

    def __init__(self, error: str, **placeholders: str) -> None:
        super().__init__(error)
        self.error = error
        self.placeholders = placeholders


class BrokerChooser:
    """Chooses the mode for one config flow, and holds its gateway lease.

    The lease is taken by :meth:`async_open_gateway` (the charger must find the
    gateway right after its reboot) and given back by :meth:`async_release`.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
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
        return BrokerChoice(
            gateway=True,
            charger_port=shared_gateway_settings(self._hass).port,
            refused=admission.refused_logins,
        )

    async def async_open_gateway(
        self, settings: ProvisioningSettings, choice: BrokerChoice
    ) -> None:
        """Admit the charger to the gateway, and check the gateway admits it."""
        port = choice.charger_port
        unreachable = BrokerChoiceError(
            "gateway_unreachable", host=settings.mqtt_host, gateway_port=str(port)
        )
        # Admit the new serial number before letting go of a previous attempt's,
        # so the gateway keeps running between two tries.
        release_previous = self._release_gateway
        try:
            self._release_gateway = await async_use_gateway(
                self._hass, settings.serial_number, port
            )
        except HomeAssistantError as err:  # port in use, or cannot listen at all
            LOGGER.debug("The gateway could not listen on port %s: %s", port, err)
            self._release_gateway = None
            raise unreachable from err
        finally:
            if release_previous:
                await release_previous()
        gateway = await probe_charger_logins(settings.mqtt_host, port)
        if not gateway.admits_every_charger:
            raise unreachable

    async def async_release(self) -> None:
        """Give the gateway lease back, if this flow holds one."""
        if release := self._release_gateway:
            self._release_gateway = None
            await release()


def _broker_error(failure: ProbeResult) -> BrokerChoiceError:
    if failure.outcome is ProbeOutcome.REFUSED:
        return BrokerChoiceError("broker_refused", return_code=str(failure.return_code))
    if failure.outcome is ProbeOutcome.NOT_MQTT:
        return BrokerChoiceError("broker_not_mqtt")
    return BrokerChoiceError("broker_unreachable")
