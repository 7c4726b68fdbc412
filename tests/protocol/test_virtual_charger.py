"""The virtual charger itself behaves like the firmware the protocol document describes.

Other tests (and the config flow's) trust it; these pin down its behaviour.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from bleak.exc import BleakError
import pytest

from custom_components.novabot.protocol import FrameAssembler, encode_frame
from tests.virtual_charger import (
    COMMAND_CHARACTERISTIC,
    SLOWEST,
    ChargerState,
    FirmwareTimings,
    LinkLoss,
    LoraReply,
    VirtualCharger,
)
from tests.virtual_time import run_in_virtual_time

WIFI = {
    "set_wifi_info": {
        "sta": {"ssid": "Home", "passwd": "secret123", "encrypt": 0},
        "ap": {"ssid": "LFIC1230700123", "passwd": "12345678", "encrypt": 0},
    }
}
WIFI_JSON = json.dumps(WIFI).encode()


class Listener:
    """Subscribes to the charger and decodes its replies."""

    def __init__(self) -> None:
        self.assembler = FrameAssembler()
        self.replies: list[dict[str, Any]] = []
        self.raw: list[bytes] = []

    def __call__(self, _sender: Any, data: bytearray) -> None:
        self.raw.append(bytes(data))
        if (message := self.assembler.feed(data)) is not None:
            self.replies.append(message)


async def connected(**options: Any) -> tuple[VirtualCharger, Listener]:
    charger = VirtualCharger(**options)
    listener = Listener()
    await charger.start_notify(COMMAND_CHARACTERISTIC, listener)
    return charger, listener


async def send(charger: VirtualCharger, message: dict[str, Any]) -> None:
    for chunk in encode_frame(message):
        await charger.write_gatt_char(COMMAND_CHARACTERISTIC, chunk, response=False)
    await charger.wait_idle()


RTK = {"set_rtk_info": 0}
LORA = {"set_lora_info": {"addr": 4242, "channel": 16, "hc": 20, "lc": 14}}
MQTT = {"set_mqtt_info": {"addr": "192.168.1.10", "port": 1883}}


async def send_all(charger: VirtualCharger, *messages: dict[str, Any]) -> None:
    for message in messages:
        await send(charger, message)


def reply(command: str, result: int = 0, value: Any = None) -> dict[str, Any]:
    return {"type": f"{command}_respond", "message": {"result": result, "value": value}}


async def test_commands_are_answered_in_frames_of_20_byte_notifications() -> None:
    charger, listener = await connected()

    await send(charger, WIFI)

    assert listener.replies == [reply("set_wifi_info")]
    assert listener.raw[0] == b"ble_start"
    assert listener.raw[-1] == b"ble_end"
    assert all(len(data) <= 20 for data in listener.raw)
    assert listener.raw[-2].endswith(b"\x00")  # the last chunk is NUL-padded
    assert charger.state is ChargerState.CONFIGURING


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (LoraReply.INTEGER, {"result": 0, "value": 20}),
        (LoraReply.NO_RESULT, {"value": 20}),
        (LoraReply.OBJECT, {"result": 0, "value": {"addr": 4242, "channel": 20}}),
    ],
)
async def test_a_lora_reply_names_the_channel_scanned_to_in_each_shape_allowed(
    shape: LoraReply, message: dict[str, Any]
) -> None:
    charger, listener = await connected(lora_reply=shape, quiet_channels=[20])
    await send_all(charger, WIFI, RTK)

    await send(charger, LORA)

    assert listener.replies[-1] == {"type": "set_lora_info_respond", "message": message}
    assert charger.settings["set_lora_info"] == LORA["set_lora_info"]


async def test_a_failed_lora_scan_answers_its_result_without_a_channel() -> None:
    charger, listener = await connected(results={"set_lora_info": 1})
    await send_all(charger, WIFI, RTK)

    await send(charger, LORA)

    assert listener.replies[-1]["message"] == {"result": 1}
    assert "set_lora_info" not in charger.settings


def test_each_step_takes_as_long_as_the_firmware() -> None:
    async def exchange() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        charger, listener = await connected(timings=SLOWEST)
        answered: list[tuple[str, float]] = []
        for message in (WIFI, {"set_rtk_info": 0}, LORA):
            started = loop.time()
            await send(charger, message)
            answered.append((listener.replies[-1]["type"], loop.time() - started))
        return answered

    answered, _ = run_in_virtual_time(exchange())

    # Each reply is 3 to 6 notifications, 30 ms apart.
    assert [(kind, round(seconds)) for kind, seconds in answered] == [
        ("set_wifi_info_respond", 55),
        ("set_rtk_info_respond", 30),
        ("set_lora_info_respond", 60),
    ]


def test_a_join_that_never_succeeds_is_answered_with_a_failure_when_it_gives_up() -> (
    None
):
    async def exchange() -> tuple[dict[str, Any], float, ChargerState]:
        charger, listener = await connected(
            timings=FirmwareTimings(wifi_join=5, wifi_give_up=55),
            results={"set_wifi_info": 1},
        )
        await send(charger, WIFI)
        return listener.replies[-1], asyncio.get_running_loop().time(), charger.state

    (answer, elapsed, state), _ = run_in_virtual_time(exchange())

    assert answer == reply("set_wifi_info", result=1)
    assert elapsed == 55
    assert state is ChargerState.AWAITING_WIFI  # still waiting for good settings


def test_notifications_are_30_ms_apart() -> None:
    async def exchange() -> list[float]:
        loop = asyncio.get_running_loop()
        charger = VirtualCharger(timings=SLOWEST)
        stamps: list[float] = []
        await charger.start_notify(
            COMMAND_CHARACTERISTIC, lambda _sender, _data: stamps.append(loop.time())
        )
        await send(charger, WIFI)
        return stamps

    stamps, _ = run_in_virtual_time(exchange())

    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([0.03] * len(gaps))


def test_the_link_drops_a_second_after_set_cfg_info_is_answered() -> None:
    async def exchange() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        moments: dict[str, float] = {}
        charger = VirtualCharger(
            timings=FirmwareTimings(reboot=1.0),
            disconnected_callback=lambda _charger: moments.setdefault(
                "dropped", loop.time()
            ),
        )

        def listener(_sender: Any, data: bytearray) -> None:
            if bytes(data) == b"ble_end":
                moments["answered"] = loop.time()

        await charger.start_notify(COMMAND_CHARACTERISTIC, listener)
        await send_all(charger, WIFI, RTK, LORA, MQTT, {"set_cfg_info": 1})
        return moments

    moments, _ = run_in_virtual_time(exchange())

    assert moments["dropped"] - moments["answered"] == 1.0


async def test_a_message_over_the_1024_byte_receive_buffer_is_dropped() -> None:
    charger, listener = await connected()
    padded = {"set_wifi_info": {**WIFI["set_wifi_info"], "pad": "x" * 1024}}

    await send(charger, padded)

    assert listener.replies == []
    assert charger.received == []
    assert len(charger.garbage) == 1
    assert charger.state is ChargerState.AWAITING_WIFI


def test_a_query_before_set_wifi_info_blocks_for_a_minute() -> None:
    async def exchange() -> float:
        charger, _ = await connected(timings=SLOWEST)
        await send(charger, {"get_signal_info": 0})
        return asyncio.get_running_loop().time()

    elapsed, _ = run_in_virtual_time(exchange())

    assert round(elapsed) == 60


async def test_query_before_set_wifi_info_springs_the_trap() -> None:
    charger, listener = await connected()

    await send(charger, {"get_signal_info": 0})
    await send(charger, WIFI)
    await send(charger, {"set_rtk_info": 0})
    await send(charger, {"set_cfg_info": 1})

    assert charger.state is ChargerState.LOCKED
    assert [message["type"] for message in listener.replies] == [
        "get_signal_info_respond"
    ]
    assert charger.commands == [
        "get_signal_info",
        "set_wifi_info",
        "set_rtk_info",
        "set_cfg_info",
    ]
    assert charger.settings == {}
    assert charger.is_connected


async def test_locked_charger_still_answers_queries() -> None:
    charger, listener = await connected()

    await send(charger, {"get_lora_info": None})
    await send(charger, {"ota_version_info": None})

    assert [message["type"] for message in listener.replies] == [
        "get_lora_info_respond",
        "ota_version_info_respond",
    ]


async def test_query_after_set_wifi_info_is_harmless() -> None:
    charger, listener = await connected()
    await send(charger, WIFI)

    await send(charger, {"get_signal_info": 0})
    await send(charger, {"set_rtk_info": 0})

    assert charger.state is ChargerState.CONFIGURING
    assert listener.replies[-1] == reply("set_rtk_info")


async def test_the_firmware_enforces_no_order_between_the_settings() -> None:
    charger, listener = await connected()

    await send(charger, RTK)  # before set_wifi_info
    await send_all(charger, WIFI, MQTT)  # set_lora_info left out
    await send(charger, {"set_cfg_info": 1})

    assert [message["type"] for message in listener.replies] == [
        "set_rtk_info_respond",
        "set_wifi_info_respond",
        "set_mqtt_info_respond",
        "set_cfg_info_respond",
    ]
    assert charger.committed == {**RTK, **WIFI, **MQTT, "set_cfg_info": 1}


async def test_set_cfg_info_0_erases_the_stored_settings_and_does_not_reboot() -> None:
    charger, listener = await connected()
    await send_all(charger, WIFI, RTK, MQTT)

    await send(charger, {"set_cfg_info": 0})

    assert listener.replies[-1] == reply("set_cfg_info")
    assert charger.settings == {}
    assert charger.committed is None
    assert charger.is_connected


async def test_set_cfg_info_replies_then_drops_the_link_and_reboots() -> None:
    dropped: list[VirtualCharger] = []
    charger = VirtualCharger(disconnected_callback=dropped.append)
    listener = Listener()
    await charger.start_notify(COMMAND_CHARACTERISTIC, listener)
    await send_all(charger, WIFI, RTK, LORA, MQTT)

    await send(charger, {"set_cfg_info": 1})

    assert listener.replies[-1] == reply("set_cfg_info")
    assert dropped == [charger]
    assert not charger.is_connected
    assert charger.state is ChargerState.REBOOTED
    assert charger.committed == {
        **WIFI,
        **RTK,
        **LORA,
        **MQTT,
        "set_cfg_info": 1,
    }
    with pytest.raises(BleakError):
        await charger.write_gatt_char(COMMAND_CHARACTERISTIC, b"ble_start")
    await charger.disconnect()
    assert dropped == [charger]  # called once only


async def test_reboot_without_reply_when_configured() -> None:
    charger, listener = await connected()
    charger.reply_to_cfg = False
    await send_all(charger, WIFI, RTK, LORA, MQTT)

    await send(charger, {"set_cfg_info": 1})

    assert [message["type"] for message in listener.replies] == [
        "set_wifi_info_respond",
        "set_rtk_info_respond",
        "set_lora_info_respond",
        "set_mqtt_info_respond",
    ]
    assert not charger.is_connected
    assert charger.committed is not None


@pytest.mark.parametrize(
    ("loss", "replies"), [(LinkLoss.BEFORE_REPLY, 0), (LinkLoss.AFTER_REPLY, 1)]
)
async def test_link_loss_before_or_after_the_reply(
    loss: LinkLoss, replies: int
) -> None:
    charger, listener = await connected()
    charger.lose_link["set_wifi_info"] = loss

    await send(charger, WIFI)

    assert len(listener.replies) == replies
    assert not charger.is_connected


async def test_silent_step_is_never_answered_and_not_stored() -> None:
    charger, listener = await connected()
    charger.silent.add("set_wifi_info")

    await send(charger, WIFI)

    assert listener.replies == []
    assert charger.state is ChargerState.AWAITING_WIFI


async def test_a_write_outside_a_frame_is_dropped() -> None:
    charger, listener = await connected()

    await charger.write_gatt_char(COMMAND_CHARACTERISTIC, WIFI_JSON)
    await charger.write_gatt_char(COMMAND_CHARACTERISTIC, b"ble_end")
    await charger.wait_idle()

    assert charger.received == []
    assert charger.garbage == [WIFI_JSON, b"ble_end"]
    assert listener.replies == []


async def test_a_repeated_step_is_answered_again() -> None:
    charger, listener = await connected()
    await send(charger, WIFI)

    await send_all(charger, RTK, RTK)

    assert [message["type"] for message in listener.replies] == [
        "set_wifi_info_respond",
        "set_rtk_info_respond",
        "set_rtk_info_respond",
    ]


async def test_writes_to_other_characteristics_are_recorded_but_not_commands() -> None:
    charger, _ = await connected()

    await charger.write_gatt_char("00003333-0000-1000-8000-00805f9b34fb", b"{}")

    assert charger.writes == [b"{}"]
    assert charger.received == []


async def test_failing_write_raises_without_dropping_the_link() -> None:
    charger, _ = await connected()
    charger.failing_write = 1

    await charger.write_gatt_char(COMMAND_CHARACTERISTIC, b"ble_start")
    with pytest.raises(BleakError):
        await charger.write_gatt_char(COMMAND_CHARACTERISTIC, b"{}")

    assert charger.is_connected


async def test_disconnect_cancels_pending_replies() -> None:
    charger, listener = await connected()
    charger.timings = FirmwareTimings(wifi_join=60)
    for chunk in encode_frame(WIFI):
        await charger.write_gatt_char(COMMAND_CHARACTERISTIC, chunk)

    await asyncio.wait_for(charger.disconnect(), 1)

    assert listener.replies == []
    assert charger.disconnect_calls == 1
    assert not charger.is_connected


async def test_coroutine_notification_callbacks_are_awaited() -> None:
    charger = VirtualCharger()
    received: list[bytes] = []

    async def callback(_sender: Any, data: bytearray) -> None:
        await asyncio.sleep(0)
        received.append(bytes(data))

    await charger.start_notify(COMMAND_CHARACTERISTIC, callback)
    await send(charger, WIFI)

    assert received[0] == b"ble_start"
    assert received[-1] == b"ble_end"


async def test_replies_without_a_subscriber_are_lost() -> None:
    charger = VirtualCharger()

    await send(charger, WIFI)

    assert charger.notifications[0] == b"ble_start"  # sent into the void
    assert charger.state is ChargerState.CONFIGURING


async def test_start_notify_on_a_dropped_link_fails() -> None:
    charger = VirtualCharger()
    charger.break_link()

    with pytest.raises(BleakError):
        await charger.start_notify(COMMAND_CHARACTERISTIC, Listener())
