"""The virtual charger's radio pairing, set over Bluetooth and seen on MQTT.

docs/charger-protocol.md §1 "The radio pairing": each charger has its own LoRa
address and channel, its mower paired to both; ``set_lora_info`` can cut the
mower off. Each test provisions the Bluetooth side (``VirtualCharger``) and
reads the MQTT side of the same charger (its ``ChargerFirmware``), on a virtual
clock where time matters.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

from custom_components.novabot.protocol import FrameAssembler, encode_frame
from tests.charger_firmware import ChargerFirmware
from tests.lora_link import FACTORY_ADDRESSES, LoraLink
from tests.virtual_charger import (
    COMMAND_CHARACTERISTIC,
    SERIAL_NUMBER,
    SLOWEST,
    FirmwareTimings,
    VirtualCharger,
)
from tests.virtual_time import run_in_virtual_time

if TYPE_CHECKING:
    from collections.abc import Sequence

WIFI = {
    "set_wifi_info": {
        "sta": {"ssid": "Home", "passwd": "secret123", "encrypt": 0},
        "ap": {"ssid": SERIAL_NUMBER, "passwd": "12345678", "encrypt": 0},
    }
}
RTK = {"set_rtk_info": 0}
MQTT = {"set_mqtt_info": {"addr": "192.168.1.10", "port": 1883}}
COMMIT = {"set_cfg_info": 1}


def set_lora_info(address: int, channel: int, low: int, high: int) -> dict[str, Any]:
    return {
        "set_lora_info": {"addr": address, "channel": channel, "hc": high, "lc": low}
    }


def pinned(address: int, channel: int) -> dict[str, Any]:
    """``set_lora_info`` with ``hc`` = ``lc`` = channel: no scan."""
    return set_lora_info(address, channel, channel, channel)


async def provision(charger: VirtualCharger, *messages: dict[str, Any]) -> list[Any]:
    """Send each message over Bluetooth, one after the other's reply; the replies."""
    replies: list[Any] = []
    assembler = FrameAssembler()

    def listen(_sender: Any, data: bytearray) -> None:
        if (message := assembler.feed(data)) is not None:
            replies.append(message["message"])

    await charger.start_notify(COMMAND_CHARACTERISTIC, listen)
    for message in messages:
        for chunk in encode_frame(message):
            await charger.write_gatt_char(COMMAND_CHARACTERISTIC, chunk)
        await charger.wait_idle()
    return replies


def mower_error(firmware: ChargerFirmware, now: float) -> int:
    """``mower_error`` of the report the charger publishes at ``now``."""
    report: dict[str, dict[str, int]] = json.loads(firmware.report(now))
    return report["up_status_info"]["mower_error"]


def charger_status(firmware: ChargerFirmware, now: float) -> int:
    report: dict[str, dict[str, int]] = json.loads(firmware.report(now))
    return report["up_status_info"]["charger_status"]


def lora_info(firmware: ChargerFirmware, now: float) -> dict[str, int]:
    """What the charger answers to ``{"get_lora_info": null}`` over MQTT."""
    answer = firmware.receive(b'{"get_lora_info":null}', now)
    assert answer is not None
    value: dict[str, int] = json.loads(answer[1])["message"]["value"]
    return value


def relay(firmware: ChargerFirmware, now: float) -> tuple[float, int]:
    """Send ``go_pile`` over MQTT: after how long it is answered, and its result."""
    answer = firmware.receive(b'{"go_pile":{}}', now)
    assert answer is not None
    when, reply = answer
    return when - now, json.loads(reply)["message"]["result"]


# --- Each charger its own pairing --------------------------------------------------


def test_each_charger_has_its_own_factory_address_never_718() -> None:
    links = [VirtualCharger(seed=seed).link for seed in range(100)]

    addresses = {link.address for link in links}
    assert len(addresses) == len(links)
    assert 718 not in addresses
    assert addresses <= set(FACTORY_ADDRESSES)  # 16..65485, as in the cloud's records


def test_718_is_never_drawn_as_a_factory_address() -> None:
    class Unlucky(random.Random):
        """Draws 718 first, as any random source may."""

        def __init__(self) -> None:
            super().__init__(1)
            self.draws = 0

        def choice(self, seq: Sequence[Any]) -> Any:
            self.draws += 1
            return 718 if self.draws == 1 else super().choice(seq)

    assert LoraLink.factory(Unlucky()).address != 718


def test_the_factory_channel_is_random_and_the_mower_paired_to_both() -> None:
    links = [VirtualCharger(seed=seed).link for seed in range(100)]

    assert all(0 <= link.channel <= 80 for link in links)
    assert len({link.channel for link in links}) > 20
    assert all(link.mower_pairing == link.pairing for link in links)


def test_the_same_seed_makes_the_same_charger() -> None:
    assert VirtualCharger(seed=7).link.pairing == VirtualCharger(seed=7).link.pairing


def test_get_lora_info_answers_the_chargers_own_address_and_channel() -> None:
    firmware = ChargerFirmware(SERIAL_NUMBER, seed=3)

    assert lora_info(firmware, now=0.0) == {
        "channel": 17,
        "addr": firmware.link.address,
        "rssi": 157,
    }
    assert firmware.link.address != 718


def test_a_factory_fresh_charger_has_its_mower_answering() -> None:
    charger = VirtualCharger(seed=1)

    assert mower_error(charger.firmware, now=600.0) == 0
    assert relay(charger.firmware, now=600.0) == (0.5, 0)


# --- Provisioning without and with set_lora_info ----------------------------------


async def test_provisioning_without_set_lora_info_keeps_the_pairing_and_the_mower() -> (
    None
):
    charger = VirtualCharger(seed=2)
    factory = charger.link.pairing

    await provision(charger, WIFI, RTK, MQTT, COMMIT)

    assert charger.committed is not None
    assert charger.link.pairing == factory
    now = asyncio.get_running_loop().time()
    assert mower_error(charger.firmware, now + 60) == 0


def test_a_mower_stops_answering_when_the_chargers_address_changes() -> None:
    async def scenario() -> list[int]:
        charger = VirtualCharger(seed=4)
        await provision(charger, pinned(charger.link.address + 1, charger.link.channel))
        return [mower_error(charger.firmware, now) for now in (1.5, 3.0, 30.0, 3000.0)]

    misses, _ = run_in_virtual_time(scenario())

    assert misses == [0, 2, 20, 2000]


def test_a_mower_stops_answering_when_the_chargers_channel_changes() -> None:
    async def scenario() -> list[int]:
        charger = VirtualCharger(firmware=ChargerFirmware(SERIAL_NUMBER, seed=5))
        await provision(charger, pinned(charger.link.address, 18))  # it was on 17
        return [mower_error(charger.firmware, now) for now in (3.0, 30.0)]

    misses, _ = run_in_virtual_time(scenario())

    assert misses == [2, 20]


async def test_a_pinned_channel_keeps_the_mower_paired() -> None:
    charger = VirtualCharger(seed=6)
    factory = charger.link.pairing

    replies = await provision(charger, pinned(factory.address, factory.channel))

    assert replies == [{"value": factory.channel}]
    assert charger.link.pairing == factory
    now = asyncio.get_running_loop().time()
    assert mower_error(charger.firmware, now + 60) == 0
    assert relay(charger.firmware, now + 60) == (0.5, 0)


async def test_a_channel_range_lets_the_scan_land_elsewhere_and_cut_the_mower_off() -> (
    None
):
    firmware = ChargerFirmware(SERIAL_NUMBER, lora_channel=16, seed=8)
    charger = VirtualCharger(firmware=firmware)
    address = firmware.link.address

    # Its own address and channel, but 14..20 to scan: 15 is the quietest.
    replies = await provision(charger, set_lora_info(address, 16, low=14, high=20))

    assert replies == [{"value": 15}]
    now = asyncio.get_running_loop().time()
    assert lora_info(firmware, now) == {"channel": 15, "addr": address, "rssi": 120}
    assert mower_error(firmware, now + 30) == 20


async def test_a_scan_lands_on_the_quietest_quiet_channel_of_its_range() -> None:
    charger = VirtualCharger(seed=9, quiet_channels=[30, 18, 19])

    replies = await provision(charger, set_lora_info(4242, 16, low=14, high=20))

    assert replies == [{"value": 18}]  # 30 is quieter, but out of the range
    assert charger.link.pairing.channel == 18


def test_a_scan_that_times_out_replies_result_1_and_stores_nothing() -> None:
    async def scenario() -> tuple[list[Any], float, VirtualCharger]:
        charger = VirtualCharger(seed=10, quiet_channels=[40], timings=SLOWEST)
        factory = charger.link.pairing
        replies = await provision(charger, set_lora_info(4242, 16, low=14, high=20))
        assert charger.link.pairing == factory
        return replies, asyncio.get_running_loop().time(), charger

    (replies, answered, charger), _ = run_in_virtual_time(scenario())

    assert replies == [{"result": 1}]
    assert round(answered) == 60  # the firmware's limit
    assert "set_lora_info" not in charger.settings
    assert mower_error(charger.firmware, answered + 30) == 0


def test_the_new_pairing_takes_effect_when_the_scan_ends() -> None:
    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        charger = VirtualCharger(seed=11, timings=SLOWEST)
        firmware = charger.firmware
        scan = asyncio.create_task(provision(charger, pinned(4242, 18)))
        await asyncio.sleep(59)
        during = lora_info(firmware, loop.time())["addr"]
        await scan
        return [during, lora_info(firmware, loop.time())["addr"]]

    (during, after), _ = run_in_virtual_time(scenario())

    assert during != 4242
    assert after == 4242


def test_heartbeats_pause_during_a_channel_scan() -> None:
    async def scenario() -> dict[float, int]:
        loop = asyncio.get_running_loop()
        charger = VirtualCharger(seed=12, timings=SLOWEST)
        own = charger.link.pairing
        charger.link.mower_out_of_range(loop.time())  # misses count from 0 s
        misses: dict[float, int] = {}

        async def report_at(moment: float) -> None:
            await asyncio.sleep(moment - loop.time())
            misses[moment] = mower_error(charger.firmware, loop.time())

        await report_at(30.0)
        scan = asyncio.create_task(  # from 30 s to 90 s
            provision(charger, set_lora_info(own.address, own.channel, 0, 80))
        )
        await report_at(60.0)
        await report_at(89.0)
        await scan
        await report_at(93.0)
        return misses

    misses, _ = run_in_virtual_time(scenario())

    assert misses == {30.0: 20, 60.0: 20, 89.0: 20, 93.0: 22}


async def test_a_mower_cut_off_never_acknowledges_a_command() -> None:
    charger = VirtualCharger(seed=13)
    mower = charger.firmware.mower
    assert mower is not None
    await provision(charger, pinned(charger.link.address + 1, charger.link.channel))

    now = asyncio.get_running_loop().time()
    assert relay(charger.firmware, now) == (4.0, 1)  # nothing heard in 4 s
    assert mower.work_status == 0  # still docked


def test_the_rtk_survey_starts_again_when_provisioning_reboots_the_charger() -> None:
    async def scenario() -> tuple[float, ChargerFirmware]:
        firmware = ChargerFirmware(SERIAL_NUMBER, seed=14, started=-600.0)
        assert charger_status(firmware, 0.0) & 0x100  # surveyed long ago
        charger = VirtualCharger(firmware=firmware, timings=FirmwareTimings(reboot=1))
        await provision(charger, WIFI, RTK, MQTT, COMMIT)
        return asyncio.get_running_loop().time(), firmware

    (rebooted, firmware), _ = run_in_virtual_time(scenario())

    assert firmware.started == rebooted
    assert not charger_status(firmware, rebooted + 59) & 0x100
    assert charger_status(firmware, rebooted + 60) & 0x100
