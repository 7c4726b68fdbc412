"""The provisioning session, against a virtual charger (tests/virtual_charger.py)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
from typing import TYPE_CHECKING, Any

from bleak.exc import BleakError
import pytest

from custom_components.novabot.protocol import (
    Command,
    LinkLostError,
    NoReplyError,
    ProvisioningResult,
    ProvisioningSession,
    ProvisioningSettings,
    RadioPairing,
    StepFailedError,
)
from custom_components.novabot.protocol.commands import (
    set_cfg_info,
    set_lora_info,
    set_mqtt_info,
    set_rtk_info,
    set_wifi_info,
)
from custom_components.novabot.protocol.provision import (
    REPLY_PAUSE,
    STEP_TIMEOUTS,
    WRITE_INTERVAL,
)
from tests.virtual_charger import (
    SLOWEST,
    ChargerState,
    FirmwareTimings,
    LinkLoss,
    LoraReply,
    VirtualCharger,
)
from tests.virtual_time import run_in_virtual_time

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

SERIAL = "LFIC1230700123"
PASSWORD = "pa55-w0rd-only-for-wifi"
# What a setup sends by default: the radio pairing is left alone.
SETTINGS = ProvisioningSettings.create(
    serial_number=SERIAL,
    ssid="Home",
    password=PASSWORD,
    mqtt_host="192.168.1.10",
    mqtt_port=1883,
)
DEFAULT_ORDER = [
    Command.SET_WIFI_INFO,
    Command.SET_RTK_INFO,
    Command.SET_MQTT_INFO,
    Command.SET_CFG_INFO,
]
# When the owner pairs the radio: every command, the radio's in its place.
PAIRING = RadioPairing(address=3251, channel=15)
PAIRED = ProvisioningSettings.create(
    serial_number=SERIAL,
    ssid="Home",
    password=PASSWORD,
    mqtt_host="192.168.1.10",
    mqtt_port=1883,
    lora_address=PAIRING.address,
    lora_channel=PAIRING.channel,
)
ORDER = list(Command)
EARLIER_STEPS = ORDER[:-1]  # every step before set_cfg_info
TIMEOUTS = dict.fromkeys(Command, 1.0)  # generous: the virtual charger answers at once
SHORT_TIMEOUTS = dict.fromkeys(Command, 0.05)


def session_for(
    charger: VirtualCharger,
    timeouts: dict[Command, float] = TIMEOUTS,
    write_interval: float = 0,
    reply_pause: float = 0,
    **options: Any,
) -> ProvisioningSession:
    """A session wired to the charger's disconnect callback, as the flow does it.

    Without pacing and with short timeouts, unless asked: the tests of the
    firmware's timings use the session's defaults, in virtual time.
    """
    session = ProvisioningSession(
        charger,
        timeouts=timeouts,
        write_interval=write_interval,
        reply_pause=reply_pause,
        **options,
    )
    charger.set_disconnected_callback(lambda _client: session.connection_lost())
    return session


async def provision(
    charger: VirtualCharger,
    settings: ProvisioningSettings = PAIRED,
    **options: Any,
) -> ProvisioningResult:
    """Provision, the radio paired unless other ``settings`` say."""
    return await session_for(charger, **options).run(settings)


def frames_of(writes: list[bytes]) -> list[bytes]:
    """The bodies of the frames in a list of writes."""
    bodies: list[bytes] = []
    current: bytes | None = None
    for write in writes:
        if write == b"ble_start":
            current = b""
        elif current is not None and write == b"ble_end":
            bodies.append(current)
            current = None
        elif current is not None:
            current += write
    return bodies


# --- success ------------------------------------------------------------------------


async def test_by_default_the_charger_keeps_its_radio_pairing_and_its_mower() -> None:
    charger = VirtualCharger(seed=7)
    factory = charger.link.pairing

    result = await provision(charger, SETTINGS)

    assert result == ProvisioningResult(radio=None, radio_kept=False)
    assert "set_lora_info" not in charger.commands
    assert charger.link.pairing == factory
    assert charger.link.mower_answers(asyncio.get_running_loop().time() + 60)
    assert charger.state is ChargerState.REBOOTED
    assert charger.committed is not None
    assert charger.committed["set_mqtt_info"] == {"addr": "192.168.1.10", "port": 1883}


async def test_a_pairing_the_owner_gives_is_stored_and_returned() -> None:
    charger = VirtualCharger(seed=7)

    result = await provision(charger, PAIRED)

    assert result == ProvisioningResult(radio=PAIRING)
    assert charger.received[2] == {
        "set_lora_info": {"addr": 3251, "channel": 15, "hc": 15, "lc": 15}
    }
    assert (charger.link.address, charger.link.channel) == (3251, 15)
    assert charger.disconnect_calls == 1


async def test_the_mower_stays_paired_when_its_own_pairing_is_sent_again() -> None:
    charger = VirtualCharger(seed=7)
    own = charger.link.pairing
    settings = ProvisioningSettings.create(
        serial_number=SERIAL,
        ssid="Home",
        password=PASSWORD,
        mqtt_host="192.168.1.10",
        lora_address=own.address,
        lora_channel=own.channel,
    )

    assert await provision(charger, settings) == ProvisioningResult(
        radio=RadioPairing(own.address, own.channel)
    )
    assert charger.link.mower_answers(asyncio.get_running_loop().time() + 60)


async def test_commands_are_sent_in_the_documented_order() -> None:
    charger = VirtualCharger()

    await provision(charger)

    assert charger.received == [
        set_wifi_info(SERIAL, "Home", PASSWORD),
        set_rtk_info(),
        set_lora_info(PAIRING),
        set_mqtt_info("192.168.1.10", 1883),
        set_cfg_info(),
    ]
    assert charger.commands == [str(command) for command in ORDER]


async def test_nothing_but_the_commands_asked_is_sent_and_wifi_comes_first() -> None:
    charger = VirtualCharger()

    await provision(charger, SETTINGS)

    assert charger.writes[0] == b"ble_start"
    assert json.loads(frames_of(charger.writes)[0]) == set_wifi_info(
        SERIAL, "Home", PASSWORD
    )
    assert charger.garbage == []
    assert charger.commands == [str(command) for command in DEFAULT_ORDER]


async def test_every_write_is_at_most_20_bytes_and_inside_a_frame() -> None:
    charger = VirtualCharger()

    await provision(charger)

    assert all(len(write) <= 20 for write in charger.writes)
    assert len(frames_of(charger.writes)) == 5
    assert charger.writes.count(b"ble_start") == charger.writes.count(b"ble_end") == 5


async def test_password_is_sent_only_inside_set_wifi_info() -> None:
    charger = VirtualCharger()

    await provision(charger)

    carrying = [
        command
        for command, body in zip(
            charger.commands, frames_of(charger.writes), strict=True
        )
        if PASSWORD.encode() in body
    ]
    assert carrying == ["set_wifi_info"]
    assert charger.received[0]["set_wifi_info"]["sta"]["passwd"] == PASSWORD


async def test_on_step_is_called_once_per_command_in_order() -> None:
    charger = VirtualCharger()
    steps: list[Command] = []

    def on_step(command: Command) -> None:
        steps.append(command)
        assert len(charger.received) == len(steps) - 1  # called before sending

    await session_for(charger).run(SETTINGS, on_step=on_step)

    assert steps == DEFAULT_ORDER


async def test_on_reply_hears_each_reply_the_session_goes_on_after() -> None:
    charger = VirtualCharger(results={Command.SET_LORA_INFO: 1})  # scan timed out
    replies: list[tuple[Command, int]] = []

    await session_for(charger).run(
        PAIRED, on_reply=lambda command, reply: replies.append((command, reply.result))
    )

    assert replies == [
        (Command.SET_WIFI_INFO, 0),
        (Command.SET_RTK_INFO, 0),
        (Command.SET_LORA_INFO, 1),
        (Command.SET_MQTT_INFO, 0),
        (Command.SET_CFG_INFO, 0),
    ]


async def test_slow_steps_within_their_timeout_succeed() -> None:
    charger = VirtualCharger(timings=FirmwareTimings(rtk_setup=0.05, lora_scan=0.05))

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)


async def test_chunk_size_can_be_chosen() -> None:
    charger = VirtualCharger()

    assert (await provision(charger, chunk_size=8)).radio == PAIRING
    assert all(len(write) <= 8 for write in charger.writes if write != b"ble_start")


# --- the firmware's timings, played out in virtual time ------------------------------


def provision_in_virtual_time(
    charger: VirtualCharger, settings: ProvisioningSettings = SETTINGS
) -> tuple[ProvisioningResult, float]:
    """Provision with the session's defaults (timeouts, pacing); the seconds it took."""

    async def session() -> ProvisioningResult:
        default = ProvisioningSession(charger)
        charger.set_disconnected_callback(lambda _client: default.connection_lost())
        return await default.run(settings)

    return run_in_virtual_time(session())


def test_a_charger_that_takes_16_s_to_join_the_wifi_is_waited_for() -> None:
    # Main once gave set_wifi_info 15 s and blamed provisioning mode.
    charger = VirtualCharger(timings=FirmwareTimings(wifi_join=16))

    result, _ = provision_in_virtual_time(charger)

    assert result == ProvisioningResult()
    assert charger.committed is not None


def test_the_slowest_charger_the_firmware_allows_is_provisioned() -> None:
    # 55 s to join, 30 s for the RTK receiver, 60 s of LoRa scan, 30 ms between
    # notifications, 1 s to reboot: every step within its timeout.
    charger = VirtualCharger(timings=SLOWEST)

    result, elapsed = provision_in_virtual_time(charger, PAIRED)

    assert result == ProvisioningResult(radio=PAIRING)
    assert 55 + 30 + 60 < elapsed < 55 + 30 + 60 + 15


def test_a_scan_that_times_out_keeps_the_old_pairing_and_the_session_goes_on() -> None:
    # Its 60 s scan timed out: result 1, nothing stored.
    charger = VirtualCharger(
        timings=SLOWEST, results={Command.SET_LORA_INFO: 1}, seed=7
    )
    factory = charger.link.pairing

    result, _ = provision_in_virtual_time(charger, PAIRED)

    assert result == ProvisioningResult(radio=None, radio_kept=True)
    assert charger.link.pairing == factory
    assert charger.commands == [str(command) for command in ORDER]
    assert charger.committed is not None


@pytest.mark.parametrize(
    ("step", "firmware_limit"),
    [
        (Command.SET_WIFI_INFO, 55),
        (Command.SET_RTK_INFO, 30),
        (Command.SET_LORA_INFO, 60),
    ],
)
def test_slow_steps_wait_at_least_60_s_and_longer_than_the_firmware(
    step: Command, firmware_limit: float
) -> None:
    assert STEP_TIMEOUTS[step] >= 60
    assert STEP_TIMEOUTS[step] > firmware_limit


@pytest.mark.parametrize("step", [Command.SET_MQTT_INFO, Command.SET_CFG_INFO])
def test_immediate_steps_wait_15_s(step: Command) -> None:
    assert STEP_TIMEOUTS[step] == 15


def test_a_join_that_never_succeeds_is_a_failed_wifi_step_not_silence() -> None:
    charger = VirtualCharger(
        timings=FirmwareTimings(wifi_give_up=55), results={"set_wifi_info": 1}
    )

    with pytest.raises(StepFailedError) as err:
        provision_in_virtual_time(charger)

    assert err.value.step == Command.SET_WIFI_INFO
    assert charger.commands == ["set_wifi_info"]
    assert charger.committed is None


def test_a_charger_silent_after_set_wifi_info_is_given_up_after_a_minute() -> None:
    charger = VirtualCharger(silent={Command.SET_WIFI_INFO})
    gave_up_after: list[float] = []

    async def session() -> None:
        try:
            await session_for(charger, timeouts=dict(STEP_TIMEOUTS)).run(SETTINGS)
        except NoReplyError:
            gave_up_after.append(asyncio.get_running_loop().time())

    run_in_virtual_time(session())

    # The firmware answers within 55 s; a minute of silence means not listening.
    assert gave_up_after == [STEP_TIMEOUTS[Command.SET_WIFI_INFO]]
    assert gave_up_after[0] >= 60


def test_writes_are_100_ms_apart() -> None:
    charger = VirtualCharger()

    provision_in_virtual_time(charger)

    gaps = [b - a for a, b in itertools.pairwise(charger.write_times)]
    assert WRITE_INTERVAL == 0.1
    assert min(gaps) == pytest.approx(WRITE_INTERVAL)


def test_each_command_waits_1_s_after_the_previous_reply() -> None:
    charger = VirtualCharger()
    sent: list[float] = []
    answered: list[float] = []

    async def session() -> ProvisioningResult:
        loop = asyncio.get_running_loop()
        default = ProvisioningSession(charger)
        charger.set_disconnected_callback(lambda _client: default.connection_lost())
        original_notify = charger.notify

        async def notify(data: bytes) -> None:
            await original_notify(data)
            if data == b"ble_end":
                answered.append(loop.time())

        charger.notify = notify  # type: ignore[method-assign]
        return await default.run(
            SETTINGS, on_step=lambda _command: sent.append(loop.time())
        )

    run_in_virtual_time(session())

    assert REPLY_PAUSE == 1.0
    pauses = [start - end for end, start in zip(answered, sent[1:], strict=False)]
    assert pauses == pytest.approx([REPLY_PAUSE] * (len(DEFAULT_ORDER) - 1))


def test_provisioning_without_device_delays_takes_the_pacing_only() -> None:
    charger = VirtualCharger()

    _, elapsed = provision_in_virtual_time(charger)

    commands = len(DEFAULT_ORDER)
    pauses = (len(charger.writes) - commands) * WRITE_INTERVAL
    assert elapsed == pytest.approx(pauses + (commands - 1) * REPLY_PAUSE)


# --- the charger says no --------------------------------------------------------------


@pytest.mark.parametrize("step", ORDER)
async def test_non_zero_result_fails_the_step(step: Command) -> None:
    charger = VirtualCharger(results={step: 3})

    with pytest.raises(StepFailedError) as err:
        await provision(charger)

    assert err.value.step == step
    assert err.value.result == 3
    assert charger.commands == ORDER[: ORDER.index(step) + 1]  # nothing after it
    assert charger.disconnect_calls == 1
    assert charger.committed is None


@pytest.mark.parametrize("step", ORDER)
async def test_step_without_a_reply_times_out(step: Command) -> None:
    charger = VirtualCharger(silent={step})

    with pytest.raises(NoReplyError) as err:
        await provision(charger, timeouts=SHORT_TIMEOUTS)

    assert err.value.step == step
    assert err.value.timeout == 0.05
    assert charger.commands == ORDER[: ORDER.index(step) + 1]
    assert charger.disconnect_calls == 1


async def test_no_reply_to_the_first_command_names_set_wifi_info() -> None:
    charger = VirtualCharger(silent={Command.SET_WIFI_INFO})

    with pytest.raises(NoReplyError, match=r"set_wifi_info: no reply within 0\.05 s"):
        await provision(charger, timeouts=SHORT_TIMEOUTS)


async def test_reply_later_than_the_timeout_is_no_reply() -> None:
    charger = VirtualCharger(timings=FirmwareTimings(rtk_setup=5))

    with pytest.raises(NoReplyError) as err:
        await provision(charger, timeouts=SHORT_TIMEOUTS)

    assert err.value.step == Command.SET_RTK_INFO


@pytest.mark.parametrize("shape", list(LoraReply))
async def test_the_stored_channel_is_read_from_every_reply_shape(
    shape: LoraReply,
) -> None:
    charger = VirtualCharger(lora_reply=shape)

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)
    assert charger.committed is not None


async def test_a_lora_result_other_than_0_or_1_is_the_antenna_failure() -> None:
    charger = VirtualCharger(results={Command.SET_LORA_INFO: 2})

    with pytest.raises(StepFailedError) as err:
        await provision(charger)

    assert (err.value.step, err.value.result) == (Command.SET_LORA_INFO, 2)
    assert Command.SET_MQTT_INFO not in charger.commands


@pytest.mark.parametrize("channel", [0, 80])
async def test_lora_channel_limits_are_accepted(channel: int) -> None:
    pairing = RadioPairing(address=65535, channel=channel)
    settings = ProvisioningSettings.create(
        serial_number=SERIAL,
        ssid="Home",
        password=PASSWORD,
        mqtt_host="192.168.1.10",
        lora_address=pairing.address,
        lora_channel=pairing.channel,
    )

    assert (await provision(VirtualCharger(), settings)).radio == pairing


# --- the link drops -------------------------------------------------------------------


@pytest.mark.parametrize("step", EARLIER_STEPS)
async def test_link_lost_before_a_reply_fails_that_step(step: Command) -> None:
    charger = VirtualCharger(lose_link={step: LinkLoss.BEFORE_REPLY})

    with pytest.raises(LinkLostError) as err:
        await provision(charger)

    assert err.value.step == step
    assert charger.commands == ORDER[: ORDER.index(step) + 1]
    assert charger.disconnect_calls == 1


@pytest.mark.parametrize("step", EARLIER_STEPS)
async def test_link_lost_after_a_reply_fails_the_next_step_before_writing(
    step: Command,
) -> None:
    charger = VirtualCharger(lose_link={step: LinkLoss.AFTER_REPLY})

    with pytest.raises(LinkLostError) as err:
        await provision(charger)

    assert err.value.step == ORDER[ORDER.index(step) + 1]
    assert charger.commands == ORDER[: ORDER.index(step) + 1]
    assert charger.disconnect_calls == 1


async def test_link_lost_right_after_set_cfg_info_reply_is_success() -> None:
    charger = VirtualCharger(lose_link={Command.SET_CFG_INFO: LinkLoss.AFTER_REPLY})

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)
    assert charger.disconnect_calls == 1


async def test_link_lost_after_set_cfg_info_without_reply_is_success() -> None:
    charger = VirtualCharger(reply_to_cfg=False)

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)
    assert charger.committed is not None
    assert not any(b"set_cfg_info_respond" in data for data in charger.notifications)


async def test_reboot_racing_the_set_cfg_info_timeout_is_success() -> None:
    # The wait for the reply expires in the same loop turn as the link drops.
    charger = VirtualCharger(reply_to_cfg=False)
    timeouts = {**TIMEOUTS, Command.SET_CFG_INFO: 0}

    assert await provision(charger, timeouts=timeouts) == ProvisioningResult(
        radio=PAIRING
    )


async def test_silent_reboot_needs_the_disconnect_callback() -> None:
    # Without connection_lost wired, the session cannot tell a reboot from silence.
    charger = VirtualCharger(reply_to_cfg=False)
    session = session_for(charger, timeouts=SHORT_TIMEOUTS)
    charger.set_disconnected_callback(None)

    with pytest.raises(NoReplyError) as err:
        await session.run(SETTINGS)

    assert err.value.step == Command.SET_CFG_INFO


@pytest.mark.parametrize(
    ("failing_write", "step"),
    [
        (0, Command.SET_WIFI_INFO),
        (3, Command.SET_WIFI_INFO),
        (12, Command.SET_RTK_INFO),
    ],
)
async def test_write_error_is_link_lost(failing_write: int, step: Command) -> None:
    charger = VirtualCharger(failing_write=failing_write)

    with pytest.raises(LinkLostError) as err:
        await provision(charger)

    assert err.value.step == step
    assert isinstance(err.value.__cause__, BleakError)
    assert charger.disconnect_calls == 1


async def test_writes_to_a_dropped_link_are_link_lost_even_without_the_callback() -> (
    None
):
    charger = VirtualCharger(lose_link={Command.SET_WIFI_INFO: LinkLoss.AFTER_REPLY})
    session = session_for(charger)
    charger.set_disconnected_callback(None)

    with pytest.raises(LinkLostError) as err:
        await session.run(SETTINGS)

    assert err.value.step == Command.SET_RTK_INFO
    assert isinstance(err.value.__cause__, BleakError)


@pytest.mark.parametrize("error", [BleakError("gone"), EOFError(), OSError("bus")])
async def test_failing_disconnect_does_not_hide_the_outcome(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    charger = VirtualCharger()
    calls: list[str] = []

    async def failing_disconnect() -> None:
        calls.append("disconnect")
        raise error

    monkeypatch.setattr(charger, "disconnect", failing_disconnect)

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)
    assert calls == ["disconnect"]


async def test_disconnect_is_called_when_the_notification_setup_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    charger = VirtualCharger()

    async def no_notify(*_args: object, **_kwargs: object) -> None:
        raise BleakError("characteristic not found")

    monkeypatch.setattr(charger, "start_notify", no_notify)

    with pytest.raises(BleakError):
        await provision(charger)
    assert charger.disconnect_calls == 1
    assert charger.writes == []


# --- noise from the charger -------------------------------------------------------------

MALFORMED = [
    b'{"type":"set_wifi_info_respond"}',  # outside a frame
    *VirtualCharger.frame(b"{not json"),
    *VirtualCharger.frame(b"\xff\xfe\xfd"),
    *VirtualCharger.frame(b"[1,2,3]"),
    *VirtualCharger.frame({"message": {"result": 0}}),  # no type
    *VirtualCharger.frame(
        {"type": "set_wifi_info_respond", "message": {"result": "1"}}
    ),
    *VirtualCharger.frame({"type": "set_wifi_info_respond", "message": [0]}),
    b"ble_start",
    *[b"x" * 20] * 210,  # over 4 KiB: dropped
    b"ble_end",
    b"ble_start",  # a frame that never ends; the reply's ble_start restarts it
    b'{"type":"set_wifi_i',
]


async def test_malformed_notifications_are_ignored() -> None:
    charger = VirtualCharger(chatter={Command.SET_WIFI_INFO: MALFORMED})

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)


async def test_replies_of_the_wrong_type_are_ignored() -> None:
    stale = [
        *VirtualCharger.frame(
            {"type": "set_cfg_info_respond", "message": {"result": 1}}
        ),
        *VirtualCharger.frame(
            {"type": "set_lora_info_respond", "message": {"value": 99}}
        ),
        *VirtualCharger.frame({"type": "get_signal_info_respond", "message": {}}),
    ]
    charger = VirtualCharger(
        chatter={Command.SET_WIFI_INFO: stale, Command.SET_RTK_INFO: stale}
    )

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)


async def test_repeated_replies_are_ignored() -> None:
    charger = VirtualCharger(duplicate_replies=True)

    assert await provision(charger) == ProvisioningResult(radio=PAIRING)
    assert charger.commands == ORDER


class DroppingCharger(VirtualCharger):
    """A charger whose link drops right after the write with index ``drop_after``."""

    def __init__(self, drop_after: int, **options: Any) -> None:
        super().__init__(**options)
        self.drop_after = drop_after

    async def write_gatt_char(
        self, char_specifier: Any, data: bytes, response: bool | None = None
    ) -> None:
        await super().write_gatt_char(char_specifier, data, response)
        if len(self.writes) == self.drop_after + 1:
            self.break_link()


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[str]]:
    """What reaches the event loop's exception handler during the test.

    Garbage is collected before the handler is restored, so an exception
    nobody retrieved is reported here, not in some later test.
    """
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda _loop, context: reported.append(context["message"])
    )
    yield reported
    gc.collect()
    loop.set_exception_handler(previous_handler)


async def test_link_lost_while_a_command_is_written_fails_that_step(
    loop_errors: list[str],
) -> None:
    charger = DroppingCharger(drop_after=1)  # ble_start and the first chunk went out

    with pytest.raises(LinkLostError) as err:
        await session_for(charger).run(SETTINGS)

    assert err.value.step == Command.SET_WIFI_INFO
    assert charger.received == []
    assert charger.disconnect_calls == 1


async def test_link_lost_mid_write_leaves_no_unretrieved_exception(
    loop_errors: list[str],
) -> None:
    charger = DroppingCharger(drop_after=1)
    with pytest.raises(LinkLostError):
        await session_for(charger).run(SETTINGS)

    gc.collect()  # the future sits in a reference cycle with a traceback
    assert loop_errors == []
