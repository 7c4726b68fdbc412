"""The radio pairing: left alone unless the owner asks, and then pinned.

docs/charger-protocol.md §1 "The radio pairing": every charger has its own
LoRa address and channel, and its mower is paired to both. ``set_lora_info``
with another address, or a channel range to scan, cuts the mower off its
charger, and nothing in Home Assistant can repair that. So a setup sends no
``set_lora_info`` unless the "Pair the radio" section is filled in; a pairing
given is sent with the channel pinned; a scan that times out stores nothing,
and the setup goes on. The charger behind the fake radio is the virtual one,
whose LoRa link and mower show what provisioning did to them.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.novabot.protocol import COMMAND_CHARACTERISTIC, encode_frame
from custom_components.novabot.protocol.commands import set_wifi_info

from ..common import LORA_ADDRESS, LORA_CHANNEL
from ..flow_helpers import (
    PAIRING_ACTIONS,
    PASSWORD,
    PROVISIONING_ACTIONS,
    SERIAL_NUMBER,
    SSID,
    form_section,
    paired_firmware,
    pairing,
    suggested_values,
)
from ..virtual_charger import FirmwareTimings, LoraReply, VirtualCharger
from . import STRINGS, configured_entry, rendered

if TYPE_CHECKING:
    from unittest.mock import MagicMock

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto

    from . import SetupDialog

pytestmark = pytest.mark.usefixtures("mqtt_mock")

SEED = 20  # the virtual charger's factory address and channel, repeatable
# What provisioning told every charger before: one real charger's own address,
# and a range of channels to scan.
OLD_PAIRING = {"addr": 718, "channel": 16, "hc": 20, "lc": 14}
# Long enough for the charger to have polled its mower many times (every 1.5 s).
A_MINUTE = 60.0
# Each step takes a moment, as on the real charger, so each one is on screen.
VISIBLE_STEPS = FirmwareTimings(wifi_join=0.02, rtk_setup=0.02, lora_scan=0.02)
VISIBLE_CONNECT = 0.02  # seconds the Bluetooth connection takes


def now() -> float:
    """The event loop's clock, which the virtual charger's radio runs on."""
    return asyncio.get_running_loop().time()


def mower_error(charger: VirtualCharger, at: float) -> int:
    """``mower_error`` in the report the charger publishes ``at`` that time."""
    report: dict[str, dict[str, int]] = json.loads(charger.firmware.report(at))
    return report["up_status_info"]["mower_error"]


def mower_acknowledges(charger: VirtualCharger, at: float) -> bool:
    """Whether the charger says its mower acknowledged a ``go_pile`` sent ``at``."""
    answer = charger.firmware.receive(b'{"go_pile":{}}', at)
    assert answer is not None
    reply: dict[str, Any] = json.loads(answer[1])
    return reply["message"]["result"] == 0


def assert_mower_still_answers(charger: VirtualCharger) -> None:
    """A minute on, the mower answers its charger's polls and its commands."""
    later = now() + A_MINUTE
    assert charger.link.mower_answers(later)
    assert mower_error(charger, later) == 0
    assert mower_acknowledges(charger, later)


def charger_taking_its_time(dialog: SetupDialog, **options: Any) -> VirtualCharger:
    """The charger the dialog reaches next, each step of it on screen a moment."""
    dialog.radio.connect_delay = VISIBLE_CONNECT
    return dialog.radio.queue(timings=VISIBLE_STEPS, **options)


def sent_pairings(charger: VirtualCharger) -> list[Any]:
    """The values of every ``set_lora_info`` the charger received."""
    return [m["set_lora_info"] for m in charger.received if "set_lora_info" in m]


# --- Left alone by default ---------------------------------------------------------


async def test_a_setup_sends_no_pairing_and_the_chargers_mower_still_answers(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    charger = discovered.radio.queue(seed=SEED)
    factory_pairing = charger.link.pairing

    await discovered.provision(open_broker.port)
    result = await discovered.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert sent_pairings(charger) == []
    assert charger.commands == PROVISIONING_ACTIONS[1:]
    assert charger.link.pairing == factory_pairing
    assert_mower_still_answers(charger)


async def test_a_charger_told_another_address_loses_its_mower() -> None:
    """What provisioning did before: every charger told 718, channels 14..20."""
    charger = VirtualCharger(seed=SEED)
    assert charger.link.mower_answers(now())

    for command in (
        set_wifi_info(SERIAL_NUMBER, SSID, PASSWORD),
        {"set_lora_info": OLD_PAIRING},
    ):
        for chunk in encode_frame(command):
            await charger.write_gatt_char(COMMAND_CHARACTERISTIC, chunk)
        await charger.wait_idle()

    later = now() + A_MINUTE
    assert charger.link.pairing.address == 718
    assert not charger.link.mower_answers(later)
    assert mower_error(charger, later) >= 2
    assert not mower_acknowledges(charger, later)
    await charger.disconnect()


@pytest.mark.parametrize(
    "command",
    [
        pytest.param({}, id="radio-left-alone"),
        pytest.param(pairing(4242, 15), id="radio-paired"),
    ],
)
async def test_the_session_never_erases_the_chargers_settings(
    open_broker: Mosquitto, discovered: SetupDialog, command: dict[str, int]
) -> None:
    """``set_cfg_info`` 0 erases everything stored, the pairing included."""
    charger = discovered.radio.queue(seed=SEED)

    await discovered.provision(open_broker.port, radio=command)

    assert {"set_cfg_info": 0} not in charger.received
    assert charger.received[-1] == {"set_cfg_info": 1}
    assert charger.committed is not None
    await discovered.close()


# --- "Pair the radio", on purpose ----------------------------------------------------


async def test_the_radio_section_is_collapsed_and_empty_on_a_new_setup(
    discovered: SetupDialog,
) -> None:
    result = discovered.shown[-1]

    assert form_section(result["data_schema"], "radio").options["collapsed"] is True
    assert suggested_values(result["data_schema"])["radio"] == {}
    await discovered.close()


@pytest.mark.parametrize(
    ("address", "channel"),
    [(4242, 15), (0, 0), (65535, 80), pytest.param(1234.0, 7.0, id="as-floats")],
)
async def test_a_pairing_given_is_sent_pinned_and_the_entry_keeps_it(
    open_broker: Mosquitto,
    discovered: SetupDialog,
    *,
    address: float,
    channel: float,
) -> None:
    charger = charger_taking_its_time(discovered, seed=SEED)
    whole_address, whole_channel = int(address), int(channel)

    await discovered.provision(open_broker.port, radio=pairing(address, channel))
    result = await discovered.report()

    assert sent_pairings(charger) == [
        {
            "addr": whole_address,
            "channel": whole_channel,
            "hc": whole_channel,
            "lc": whole_channel,
        }
    ]
    assert discovered.watcher.actions() == [*PAIRING_ACTIONS, "claim"]
    pairing_step = discovered.watcher.shown("set_lora_info")
    assert pairing_step["description_placeholders"] == {
        "lora_address": str(whole_address),
        "lora_channel": str(whole_channel),
    }
    assert f"address {whole_address}, channel {whole_channel}" in rendered(pairing_step)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["charger_address"] == whole_address
    assert result["data"]["charger_channel"] == whole_channel
    assert charger.link.pairing.address == whole_address
    assert charger.link.pairing.channel == whole_channel  # pinned: no scan


async def test_the_chargers_own_pairing_given_keeps_its_mower(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    """The pair the vendor app shows, typed in: the mower stays paired."""
    charger = discovered.radio.queue(firmware=paired_firmware(4242, 15))

    await discovered.provision(open_broker.port, radio=pairing(4242, 15))
    await discovered.report()

    assert sent_pairings(charger) == [{"addr": 4242, "channel": 15, "hc": 15, "lc": 15}]
    assert_mower_still_answers(charger)


@pytest.mark.parametrize(
    "reply", [LoraReply.INTEGER, LoraReply.NO_RESULT, LoraReply.OBJECT]
)
async def test_the_pairing_stored_is_kept_whatever_the_replys_shape(
    open_broker: Mosquitto, discovered: SetupDialog, reply: LoraReply
) -> None:
    discovered.radio.queue(seed=SEED, lora_reply=reply)
    await discovered.provision(open_broker.port, radio=pairing(4242, 21))

    result = await discovered.report()

    assert result["data"]["charger_address"] == 4242
    assert result["data"]["charger_channel"] == 21


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        pytest.param(pairing(4242, None), "lora_pair_incomplete", id="no-channel"),
        pytest.param(pairing(None, 15), "lora_pair_incomplete", id="no-address"),
        pytest.param(pairing(65536, 15), "lora_address_range", id="address-65536"),
        pytest.param(pairing(-1, 15), "lora_address_range", id="address-negative"),
        pytest.param(pairing(4242.5, 15), "lora_address_range", id="address-fraction"),
        pytest.param(pairing(4242, 81), "lora_channel_range", id="channel-81"),
        pytest.param(pairing(4242, -1), "lora_channel_range", id="channel-negative"),
    ],
)
async def test_an_unusable_pairing_is_reported_on_the_radio_section_before_anything(
    discovered: SetupDialog,
    probe: MagicMock,
    *,
    typed: dict[str, float],
    error: str,
) -> None:
    result = await discovered.enter_settings(1883, radio=typed)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {"radio": error}
    assert STRINGS["config"]["error"][error] in rendered(result)
    probe.assert_not_called()
    assert discovered.radio.connect_calls == []
    # What was typed is shown again.
    assert suggested_values(result["data_schema"])["radio"] == typed


# --- A scan that times out (result 1) ----------------------------------------------


async def test_a_scan_that_times_out_keeps_the_pairing_and_the_setup_goes_on(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    charger = charger_taking_its_time(
        discovered, seed=SEED, results={"set_lora_info": 1}
    )
    factory_pairing = charger.link.pairing

    await discovered.provision(open_broker.port, radio=pairing(4242, 15))
    claim = discovered.watcher.shown("claim_radio_kept")
    result = await discovered.report()

    assert discovered.watcher.actions() == [
        "connect",
        "set_wifi_info",
        "set_rtk_info",
        "set_lora_info",
        "set_mqtt_info_radio_kept",
        "set_cfg_info_radio_kept",
        "claim_radio_kept",
    ]
    for action in discovered.watcher.actions():
        assert rendered(discovered.watcher.shown(action))  # every placeholder given
    assert "scan timed out" in rendered(claim)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # Nothing stored, and none known before: the entry knows no pairing.
    assert result["data"]["charger_address"] is None
    assert result["data"]["charger_channel"] is None
    assert charger.committed is not None
    assert charger.link.pairing == factory_pairing
    assert_mower_still_answers(charger)


async def test_a_scan_that_times_out_on_reconfigure_keeps_the_pairing_known(
    hass: HomeAssistant, open_broker: Mosquitto, dialog: SetupDialog
) -> None:
    entry = configured_entry(hass)  # its pairing: LORA_ADDRESS, LORA_CHANNEL
    dialog.radio.queue(
        firmware=paired_firmware(LORA_ADDRESS, LORA_CHANNEL),
        results={"set_lora_info": 1},
    )
    await dialog.reconfigure(entry)
    await dialog.submit({"address": entry.data["address"]})

    await dialog.provision(open_broker.port, radio=pairing(4242, 20))
    result = await dialog.report()
    await dialog.settle()  # the entry reloads

    assert result["reason"] == "reconfigure_successful"
    assert "claim_radio_kept" in dialog.watcher.actions()
    assert entry.data["charger_address"] == LORA_ADDRESS
    assert entry.data["charger_channel"] == LORA_CHANNEL


# --- Reconfigure: the pairing known ----------------------------------------------------


async def test_reconfigure_suggests_the_known_pairing_in_an_open_section(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    entry = configured_entry(hass)
    await dialog.reconfigure(entry)

    result = await dialog.submit({"address": entry.data["address"]})

    assert result["step_id"] == "settings"
    assert form_section(result["data_schema"], "radio").options["collapsed"] is False
    assert suggested_values(result["data_schema"])["radio"] == pairing(
        LORA_ADDRESS, LORA_CHANNEL
    )
    await dialog.close()


async def test_reconfigure_of_a_charger_whose_pairing_is_unknown_leaves_it_closed(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    entry = configured_entry(hass, charger_address=None, charger_channel=None)
    await dialog.reconfigure(entry)

    result = await dialog.submit({"address": entry.data["address"]})

    assert form_section(result["data_schema"], "radio").options["collapsed"] is True
    assert suggested_values(result["data_schema"])["radio"] == {}
    await dialog.close()


async def test_reconfigure_sends_the_known_pairing_again_pinned(
    hass: HomeAssistant, open_broker: Mosquitto, dialog: SetupDialog
) -> None:
    entry = configured_entry(hass)
    charger = dialog.radio.queue(firmware=paired_firmware(LORA_ADDRESS, LORA_CHANNEL))
    await dialog.reconfigure(entry)
    form = await dialog.submit({"address": entry.data["address"]})

    await dialog.provision(
        open_broker.port, radio=suggested_values(form["data_schema"])["radio"]
    )
    await dialog.report()
    await dialog.settle()  # the entry reloads

    assert sent_pairings(charger) == [
        {
            "addr": LORA_ADDRESS,
            "channel": LORA_CHANNEL,
            "hc": LORA_CHANNEL,
            "lc": LORA_CHANNEL,
        }
    ]
    assert entry.data["charger_address"] == LORA_ADDRESS
    assert entry.data["charger_channel"] == LORA_CHANNEL
    assert_mower_still_answers(charger)


async def test_reconfigure_with_the_pairing_cleared_sends_none(
    hass: HomeAssistant, open_broker: Mosquitto, dialog: SetupDialog
) -> None:
    entry = configured_entry(hass)
    charger = dialog.radio.queue(firmware=paired_firmware(LORA_ADDRESS, LORA_CHANNEL))
    await dialog.reconfigure(entry)
    await dialog.submit({"address": entry.data["address"]})

    await dialog.provision(open_broker.port, radio={})
    await dialog.report()
    await dialog.settle()  # the entry reloads

    assert sent_pairings(charger) == []
    # The charger keeps its pairing, and its entry goes on knowing it.
    assert entry.data["charger_address"] == LORA_ADDRESS
    assert entry.data["charger_channel"] == LORA_CHANNEL
    assert_mower_still_answers(charger)
