"""The pick-one form: a charger heard over Bluetooth, or one heard on the broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)
import probatio

if TYPE_CHECKING:
    from collections.abc import Mapping


def pick_one_schema(key: str, options: Mapping[str, str]) -> probatio.Schema:
    """One required field ``key``: a list of ``options`` (value: label), in order."""
    return probatio.Schema(
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
    )
