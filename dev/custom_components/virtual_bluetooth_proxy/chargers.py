"""Chargers described in YAML: firmware timing presets and misbehaviour options.

Each option maps onto a :class:`VirtualCharger` argument of the same name, so
what ``tests/virtual_charger.py`` documents holds here. A charger keeps its
radio (its LoRa address, channel and mower pairing) from one power-on to the
next, as a real one stores it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import CONF_ADDRESS
from homeassistant.helpers import config_validation as cv
import probatio as vol

from tests.lora_link import CHANNELS
from tests.virtual_charger import (
    INSTANT,
    SLOWEST,
    STEPS as PROVISIONING_STEPS,
    FirmwareTimings,
    LoraReply,
    VirtualCharger,
    factory_firmware,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

CONF_RSSI: Final = "rssi"
CONF_TIMINGS: Final = "timings"
CONF_QUIET_CHANNELS: Final = "quiet_channels"
CONF_SEED: Final = "seed"
CONF_LORA_REPLY: Final = "lora_reply"
CONF_RESULTS: Final = "results"
CONF_SILENT: Final = "silent"

# A few seconds per step: a person watching the setup dialog sees each one.
DEMO: Final = FirmwareTimings(
    wifi_join=4.0,
    wifi_give_up=10.0,
    rtk_setup=3.0,
    lora_scan=5.0,
    signal_measurement=3.0,
    reboot=1.0,
    notification_interval=0.03,
)
TIMINGS: Final[Mapping[str, FirmwareTimings]] = {
    "instant": INSTANT,
    "demo": DEMO,
    "slowest": SLOWEST,  # the longest the protocol document allows
}
# The commands a YAML option may name: the provisioning steps and the trap.
STEPS: Final = (*PROVISIONING_STEPS, "get_signal_info")
_BLUETOOTH_ADDRESS = r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$"

CHARGER_SCHEMA: Final = vol.Schema(
    {
        vol.Required(CONF_ADDRESS): vol.All(
            cv.string, vol.Upper, vol.Match(_BLUETOOTH_ADDRESS)
        ),
        vol.Optional(CONF_RSSI): vol.All(vol.Coerce(int), vol.Range(-127, 20)),
        vol.Optional(CONF_TIMINGS, default="demo"): vol.In(list(TIMINGS)),
        # The only channels a LoRa scan finds quiet enough, the quietest first.
        vol.Optional(CONF_QUIET_CHANNELS): vol.All(
            cv.ensure_list,
            [vol.All(vol.Coerce(int), vol.Range(CHANNELS.start, CHANNELS.stop - 1))],
        ),
        # Repeatable random draws: the factory LoRa address and channel.
        vol.Optional(CONF_SEED): vol.Coerce(int),
        vol.Optional(CONF_LORA_REPLY, default=LoraReply.NO_RESULT.value): vol.In(
            [reply.value for reply in LoraReply]
        ),
        # A non-zero result code for a step: e.g. {set_rtk_info: 1}.
        vol.Optional(CONF_RESULTS, default={}): {vol.In(STEPS): vol.Coerce(int)},
        # Steps the charger never answers.
        vol.Optional(CONF_SILENT, default=[]): vol.All(cv.ensure_list, [vol.In(STEPS)]),
    }
)


def charger_factory(config: Mapping[str, Any]) -> Callable[[], VirtualCharger]:
    """Make a fresh charger per power-on from one validated ``CHARGER_SCHEMA``."""
    return partial(
        VirtualCharger,
        firmware=factory_firmware(config.get(CONF_SEED)),
        quiet_channels=config.get(CONF_QUIET_CHANNELS),
        timings=TIMINGS[config[CONF_TIMINGS]],
        lora_reply=LoraReply(config[CONF_LORA_REPLY]),
        results=dict(config[CONF_RESULTS]),
        silent=list(config[CONF_SILENT]),
    )
