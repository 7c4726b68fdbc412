"""One command at a time: the command channel, against a charger played here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.novabot.protocol import (
    CommandChannel,
    PayloadCodec,
    Reply,
    decode_message,
)
from custom_components.novabot.protocol.framing import encode_json

SERIAL = "LFIC1230700123"
CODEC = PayloadCodec(SERIAL)


def respond(command: str, result: int = 0, value: Any = None) -> dict[str, Any]:
    return {"type": f"{command}_respond", "message": {"result": result, "value": value}}


class Charger:
    """Records what it receives; the test decides what it answers, and when."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived = asyncio.Event()

    async def publish(self, payload: bytes) -> None:
        self.received.append(payload)
        self.arrived.set()

    async def next_message(self) -> bytes:
        await asyncio.wait_for(self.arrived.wait(), 1)
        self.arrived.clear()
        return self.received[-1]


@pytest.fixture
def charger() -> Charger:
    return Charger()


@pytest.fixture
def channel(charger: Charger) -> CommandChannel:
    return CommandChannel(charger.publish, reply_timeout=0.5)


async def test_a_reply_is_matched_to_its_command(
    channel: CommandChannel, charger: Charger
) -> None:
    request = asyncio.create_task(channel.request({"get_lora_info": None}))
    assert await charger.next_message() == b'{"get_lora_info":null}'

    assert channel.reply_received(respond("get_lora_info", value={"channel": 17}))

    assert await request == Reply("get_lora_info_respond", 0, {"channel": 17})


async def test_commands_go_out_one_at_a_time_in_the_order_asked(
    channel: CommandChannel, charger: Charger
) -> None:
    first = asyncio.create_task(channel.request({"pause_run": {}}))
    second = asyncio.create_task(channel.request({"go_pile": {}}))
    await charger.next_message()
    await asyncio.sleep(0.05)

    assert charger.received == [b'{"pause_run":{}}']  # the second waits its turn
    channel.reply_received(respond("pause_run"))
    assert await charger.next_message() == b'{"go_pile":{}}'
    channel.reply_received(respond("go_pile", result=1))

    assert (await first).ok
    assert not (await second).ok


async def test_a_reply_to_another_command_is_not_taken(
    channel: CommandChannel, charger: Charger
) -> None:
    request = asyncio.create_task(channel.request({"go_pile": {}}))
    await charger.next_message()

    assert channel.reply_received(respond("pause_run"))  # a reply, but not ours

    assert await request is None


async def test_without_a_reply_the_next_command_goes_after_the_timeout(
    channel: CommandChannel, charger: Charger
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(channel.request({"go_pile": {}}))
    second = asyncio.create_task(channel.request({"get_lora_info": None}))
    await charger.next_message()

    await charger.next_message()

    assert loop.time() - started >= 0.5
    assert await first is None
    channel.reply_received(respond("get_lora_info"))
    assert await second is not None


async def test_a_late_reply_is_dropped(channel: CommandChannel) -> None:
    assert await channel.request({"go_pile": {}}) is None

    assert channel.reply_received(respond("go_pile"))  # nobody waits for it


def test_reports_and_commands_are_not_replies(channel: CommandChannel) -> None:
    assert not channel.reply_received({"up_status_info": {"charger_status": 1}})
    assert not channel.reply_received({"type": "up_status_info", "message": {}})
    assert not channel.reply_received({"go_pile": {}})
    assert channel.reply_received({"type": "go_pile_respond", "message": "garbled"})


async def test_commands_are_encrypted_once_the_charger_encrypts(
    channel: CommandChannel, charger: Charger
) -> None:
    channel.codec = CODEC
    request = asyncio.create_task(channel.request({"get_lora_info": None}))

    payload = await charger.next_message()

    assert len(payload) % 16 == 0
    assert decode_message(payload, CODEC).document == {"get_lora_info": None}
    channel.reply_received(respond("get_lora_info"))
    await request


async def test_an_encrypted_command_of_1024_bytes_is_refused(
    channel: CommandChannel, charger: Charger
) -> None:
    channel.codec = CODEC

    with pytest.raises(ValueError, match="too long"):
        await channel.request({"start_run": {"padding": "x" * 1000}})
    assert charger.received == []


async def test_a_failed_publish_frees_the_channel_for_the_next_command(
    charger: Charger,
) -> None:
    calls = 0

    async def publish(payload: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("broker gone")
        await charger.publish(payload)

    channel = CommandChannel(publish, reply_timeout=0.05)

    with pytest.raises(OSError, match="broker gone"):
        await channel.request({"go_pile": {}})
    assert await channel.request({"go_pile": {}}) is None
    assert charger.received == [encode_json({"go_pile": {}})]
