"""Exceptions raised by the charger protocol library."""

from __future__ import annotations


class NovabotError(Exception):
    """Base class of every error this library raises on purpose."""


class FrameError(NovabotError):
    """A Bluetooth frame could not be turned into a JSON object."""


class FrameTooLargeError(FrameError):
    """A Bluetooth frame grew past the size limit; it was discarded."""


class InvalidInputError(NovabotError, ValueError):
    """A provisioning setting breaks one of the charger's rules.

    ``field`` is the setting's name (``ssid``, ``mqtt_port``...) and ``code`` a
    stable identifier of the broken rule, suitable as a translation key.
    """

    def __init__(self, field: str, code: str) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


class InvalidSettingsError(NovabotError, ValueError):
    """One or more provisioning settings are invalid; ``errors`` maps field to code."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            ", ".join(f"{field}: {code}" for field, code in errors.items())
        )
        self.errors = errors


class InvalidMessageError(NovabotError):
    """A message from the charger is not one we understand; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProvisioningError(NovabotError):
    """The Bluetooth provisioning session failed at ``step``."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step


class StepFailedError(ProvisioningError):
    """The charger answered a command with a non-zero result."""

    def __init__(self, step: str, result: int) -> None:
        super().__init__(step, f"charger answered result {result}")
        self.result = result


class NoReplyError(ProvisioningError):
    """The charger did not answer a command in time."""

    def __init__(self, step: str, timeout: float) -> None:
        super().__init__(step, f"no reply within {timeout:g} s")
        self.timeout = timeout


class LinkLostError(ProvisioningError):
    """The Bluetooth link dropped before the charger committed its settings."""

    def __init__(self, step: str) -> None:
        super().__init__(step, "Bluetooth link lost")
