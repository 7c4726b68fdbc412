"""Why the gateway cannot run, in words Home Assistant can translate."""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError

from ..const import DOMAIN


class GatewayError(HomeAssistantError):
    """The gateway cannot run; its subclasses say why."""


class GatewayPortInUseError(GatewayError):
    """The gateway's port is taken by another program."""

    def __init__(self, port: int) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key="gateway_port_in_use",
            translation_placeholders={"port": str(port)},
        )
        self.port = port


class GatewayStartError(GatewayError):
    """The gateway could not listen on its address for another reason."""

    def __init__(self, bind_address: str, port: int, error: OSError) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key="gateway_start_failed",
            translation_placeholders={
                "address": bind_address,
                "port": str(port),
                "error": error.strerror or str(error),
            },
        )
        self.port = port


class GatewayMqttUnavailableError(GatewayError):
    """Home Assistant's MQTT integration, which the gateway relays through, is not set up."""

    def __init__(self) -> None:
        super().__init__(
            translation_domain=DOMAIN, translation_key="gateway_mqtt_unavailable"
        )
