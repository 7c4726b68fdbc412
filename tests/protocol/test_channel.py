"""One command at a time: the command channel, against a charger played here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.novabot.protocol import (
    CommandChannel,
    CommandTooLongError,
    PayloadCodec,
    Reply,
    decode_message,
)
from custom_components.novabot.protocol.channel import MAX_COMMAND_BYTES, REPLY_TIMEOUT
from custom_components.novabot.protocol.framing import encode_json
from tests.virtual_time import run_in_virtual_time

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


def command_of(size: int) -> dict[str, Any]:
    """A mower command whose JSON text is exactly ``size`` bytes."""
    command: dict[str, Any] = {"start_run": {"mapName": 0, "area": 1, "pad": ""}}
    command["start_run"]["pad"] = "x" * (size - len(encode_json(command)))
    assert len(encode_json(command)) == size
    return command


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_a_command_of_255_bytes_goes_out_and_one_of_256_is_refused(
    channel: CommandChannel, charger: Charger, encrypted: bool
) -> None:
    # v0.4.0 decrypts into a 256-byte buffer: the text must be shorter.
    channel.codec = CODEC if encrypted else None

    with pytest.raises(CommandTooLongError):
        await channel.request(command_of(MAX_COMMAND_BYTES + 1))
    assert charger.received == []

    request = asyncio.create_task(channel.request(command_of(MAX_COMMAND_BYTES)))
    payload = await charger.next_message()
    channel.reply_received(respond("start_run"))
    assert (await request).ok
    text = CODEC.decrypt(payload) if encrypted else payload
    assert len(text) == MAX_COMMAND_BYTES == 255


async def reply_after(seconds: float, result: int = 0) -> Reply | None:
    """A mower command whose reply the charger sends ``seconds`` later."""
    channel = CommandChannel(Charger().publish)
    asyncio.get_running_loop().call_later(
        seconds, channel.reply_received, respond("go_pile", result)
    )
    return await channel.request({"go_pile": {}})


def test_a_mower_command_waits_more_than_6_s_for_its_reply() -> None:
    # The charger waits up to 1 s for the frame to go out, then checks three
    # times, a second apart: its reply can come 4 s later, sometimes more.
    reply, waited = run_in_virtual_time(reply_after(5.9))
    nothing, gave_up = run_in_virtual_time(reply_after(60))

    assert reply == Reply("go_pile_respond", 0, None)
    assert waited == pytest.approx(5.9)
    assert nothing is None
    assert gave_up == pytest.approx(REPLY_TIMEOUT)
    assert REPLY_TIMEOUT >= 6


def test_an_early_refusal_is_taken_at_once() -> None:
    reply, waited = run_in_virtual_time(reply_after(1.0, result=1))

    assert reply == Reply("go_pile_respond", 1, None)
    assert waited == pytest.approx(1.0)


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
