"""Provisioning commands, replies, and the input rules of docs/charger-protocol.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.novabot.protocol import (
    Command,
    InputError,
    InvalidInputError,
    InvalidMessageError,
    InvalidSettingsError,
    ProvisioningSettings,
    RadioPairing,
    Reply,
    normalize_serial_number,
    parse_reply,
    radio_kept,
)
from custom_components.novabot.protocol.commands import (
    PROVISIONING_ORDER,
    provisioning_commands,
    set_cfg_info,
    set_lora_info,
    set_mqtt_info,
    set_rtk_info,
    set_wifi_info,
    step_succeeded,
    stored_channel,
    validate_mqtt_host,
    validate_mqtt_port,
    validate_password,
    validate_ssid,
)
from custom_components.novabot.protocol.framing import encode_json

SERIAL = "LFIC1230700123"
VALID: dict[str, Any] = {
    "serial_number": SERIAL,
    "ssid": "Home",
    "password": "correct horse",
    "mqtt_host": "192.168.1.10",
    "mqtt_port": 1883,
}


def wire(message: dict[str, Any]) -> str:
    """The command exactly as it is written to the charger."""
    return encode_json(message).decode()


# --- builders -------------------------------------------------------------------


def test_set_wifi_info_carries_home_network_and_charger_access_point() -> None:
    message = set_wifi_info(SERIAL, "Home", "secret123")

    assert message == json.loads(
        '{"set_wifi_info":{"sta":{"ssid":"Home","passwd":"secret123","encrypt":0},'
        '"ap":{"ssid":"LFIC1230700123","passwd":"12345678","encrypt":0}}}'
    )
    assert wire(message) == (
        '{"set_wifi_info":{"sta":{"ssid":"Home","passwd":"secret123","encrypt":0},'
        '"ap":{"ssid":"LFIC1230700123","passwd":"12345678","encrypt":0}}}'
    )


def test_set_rtk_info_is_zero() -> None:
    assert wire(set_rtk_info()) == '{"set_rtk_info":0}'


def test_set_lora_info_sends_the_pairing_given_with_the_channel_pinned() -> None:
    # hc = lc = channel: the charger has no other channel to scan onto.
    assert wire(set_lora_info(RadioPairing(address=3251, channel=23))) == (
        '{"set_lora_info":{"addr":3251,"channel":23,"hc":23,"lc":23}}'
    )


def test_set_mqtt_info_has_address_and_port_and_no_credentials() -> None:
    assert wire(set_mqtt_info("192.168.1.10", 1883)) == (
        '{"set_mqtt_info":{"addr":"192.168.1.10","port":1883}}'
    )


def test_set_cfg_info_is_one() -> None:
    assert wire(set_cfg_info()) == '{"set_cfg_info":1}'


def test_commands_are_in_the_only_order_the_charger_accepts() -> None:
    assert [command.value for command in Command] == [
        "set_wifi_info",
        "set_rtk_info",
        "set_lora_info",
        "set_mqtt_info",
        "set_cfg_info",
    ]
    assert tuple(Command) == PROVISIONING_ORDER


def test_reply_type_is_command_name_with_respond_suffix() -> None:
    assert Command.SET_LORA_INFO.reply_type == "set_lora_info_respond"
    assert [command.reply_type for command in Command] == [
        f"{command}_respond" for command in Command
    ]


def test_provisioning_leaves_the_radio_pairing_alone_by_default() -> None:
    settings = ProvisioningSettings.create(**VALID)

    commands = provisioning_commands(settings)

    assert settings.radio is None
    assert [message for _, message in commands] == [
        set_wifi_info(SERIAL, "Home", "correct horse"),
        set_rtk_info(),
        set_mqtt_info("192.168.1.10", 1883),
        set_cfg_info(),
    ]
    assert all(list(message) == [command] for command, message in commands)


def test_a_pairing_the_owner_gives_is_sent_in_its_place_in_the_order() -> None:
    settings = ProvisioningSettings.create(**VALID, lora_address=3251, lora_channel=23)

    commands = provisioning_commands(settings)

    assert [command for command, _ in commands] == list(PROVISIONING_ORDER)
    assert commands[2][1] == set_lora_info(RadioPairing(3251, 23))


def test_saving_never_erases_the_stored_settings() -> None:
    # set_cfg_info 0 would erase everything, the radio pairing included.
    settings = ProvisioningSettings.create(**VALID, lora_address=1, lora_channel=1)

    assert [message for command, message in provisioning_commands(settings)][-1] == {
        "set_cfg_info": 1
    }


# --- replies ----------------------------------------------------------------------


def test_reply_with_result_zero_is_success() -> None:
    reply = parse_reply(
        {"type": "set_wifi_info_respond", "message": {"result": 0, "value": None}}
    )

    assert reply == Reply(type="set_wifi_info_respond", result=0, value=None)
    assert reply.ok


def test_reply_without_result_is_success() -> None:
    reply = parse_reply({"type": "set_lora_info_respond", "message": {"value": 15}})

    assert reply.ok
    assert reply.result == 0
    assert reply.value == 15


def test_reply_without_message_is_success() -> None:
    reply = parse_reply({"type": "set_cfg_info_respond"})

    assert reply == Reply(type="set_cfg_info_respond", result=0, value=None)


@pytest.mark.parametrize("result", [1, -1, 255])
def test_reply_with_non_zero_result_is_a_failure(result: int) -> None:
    reply = parse_reply({"type": "set_rtk_info_respond", "message": {"result": result}})

    assert not reply.ok
    assert reply.result == result


@pytest.mark.parametrize(
    ("message", "channel"),
    [
        ({"value": 15}, 15),  # as captured from a real charger
        ({"result": 0, "value": 15}, 15),
        ({"result": 0, "value": {"addr": 3251, "channel": 17}}, 17),  # tolerated
        ({"value": 0}, 0),
        ({"value": 80}, 80),
    ],
)
def test_the_integer_value_of_a_lora_reply_is_the_channel_stored(
    message: dict[str, Any], channel: int
) -> None:
    reply = parse_reply({"type": "set_lora_info_respond", "message": message})

    assert stored_channel(reply) == channel
    assert step_succeeded(Command.SET_LORA_INFO, reply)
    assert not radio_kept(Command.SET_LORA_INFO, reply)


@pytest.mark.parametrize(
    "value",
    [None, "15", 15.0, True, -1, 81, 256, {"addr": 3251}, {"channel": "17"}, [15]],
)
def test_lora_reply_without_a_usable_channel_has_none(value: object) -> None:
    reply = parse_reply({"type": "set_lora_info_respond", "message": {"value": value}})

    assert stored_channel(reply) is None


@pytest.mark.parametrize(
    "message",
    [{"result": 1}, {"result": 1, "value": None}, {"result": 1, "value": 20}],
)
def test_lora_result_1_is_a_scan_that_timed_out_and_stored_nothing(
    message: dict[str, Any],
) -> None:
    reply = parse_reply({"type": "set_lora_info_respond", "message": message})

    assert radio_kept(Command.SET_LORA_INFO, reply)
    assert stored_channel(reply) is None  # not "another channel was chosen"
    assert step_succeeded(Command.SET_LORA_INFO, reply)  # provisioning goes on


@pytest.mark.parametrize("result", [2, 3, -1])
def test_any_other_non_zero_lora_result_is_a_failed_step(result: int) -> None:
    reply = parse_reply(
        {"type": "set_lora_info_respond", "message": {"result": result}}
    )

    assert not step_succeeded(Command.SET_LORA_INFO, reply)
    assert not radio_kept(Command.SET_LORA_INFO, reply)


@pytest.mark.parametrize("command", [c for c in Command if c != Command.SET_LORA_INFO])
def test_other_steps_fail_on_a_non_zero_result_even_with_a_value(
    command: Command,
) -> None:
    reply = parse_reply(
        {"type": command.reply_type, "message": {"result": 1, "value": 20}}
    )

    assert not step_succeeded(command, reply)


@pytest.mark.parametrize("result", [True, False, "0", 0.0, None, [0]])
def test_reply_result_must_be_an_integer(result: object) -> None:
    with pytest.raises(InvalidMessageError, match="not an integer"):
        parse_reply({"type": "set_rtk_info_respond", "message": {"result": result}})


@pytest.mark.parametrize("message", [{}, {"type": 5}, {"message": {"result": 0}}])
def test_reply_needs_a_type(message: dict[str, Any]) -> None:
    with pytest.raises(InvalidMessageError, match="no type"):
        parse_reply(message)


@pytest.mark.parametrize("body", [None, 0, "ok", [0]])
def test_reply_message_must_be_an_object(body: object) -> None:
    with pytest.raises(InvalidMessageError, match="not an object"):
        parse_reply({"type": "set_rtk_info_respond", "message": body})


# --- serial number ------------------------------------------------------------------


def test_serial_number_is_trimmed_and_upper_cased() -> None:
    assert normalize_serial_number(" lfic1230700123 ") == "LFIC1230700123"


@pytest.mark.parametrize("value", ["LFIN1230700123", "", "  ", "1230700123", "XLFIC1"])
def test_serial_number_must_start_with_lfic(value: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        normalize_serial_number(value)

    assert err.value.field == "serial_number"
    assert err.value.code == InputError.SERIAL_NUMBER_PREFIX


@pytest.mark.parametrize(
    "value",
    [
        "LFIC-1230700123",
        "LFIC 1230700123",
        "LFIC123_0",
        "LFIC\uff11\uff12\uff13",
        "LFICÉ12",
    ],
)
def test_serial_number_is_letters_and_digits_only(value: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        normalize_serial_number(value)

    assert err.value.code == InputError.SERIAL_NUMBER_CHARACTERS


def test_serial_number_longer_than_an_access_point_name_is_refused() -> None:
    with pytest.raises(InvalidInputError) as err:
        normalize_serial_number("LFIC" + "1" * 29)

    assert err.value.code == InputError.SERIAL_NUMBER_TOO_LONG
    assert normalize_serial_number("LFIC" + "1" * 28) == "LFIC" + "1" * 28


# --- WiFi -------------------------------------------------------------------------------


@pytest.mark.parametrize("ssid", ["Hi", "x" * 32, "é", "é" * 16, "☕" * 10, " padded "])
def test_ssid_of_2_to_32_utf8_bytes_is_accepted_unchanged(ssid: str) -> None:
    assert validate_ssid(ssid) == ssid


def test_one_byte_ssid_is_refused_as_the_firmware_ignores_it() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_ssid("H")

    assert (err.value.field, err.value.code) == ("ssid", InputError.SSID_TOO_SHORT)


def test_empty_ssid_is_refused() -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_ssid("")

    assert (err.value.field, err.value.code) == ("ssid", InputError.SSID_EMPTY)


@pytest.mark.parametrize("ssid", ["x" * 33, "é" * 17, "☕" * 11])
def test_ssid_over_32_utf8_bytes_is_refused(ssid: str) -> None:
    assert len(ssid) <= 33  # short in characters, long in bytes for the multibyte ones

    with pytest.raises(InvalidInputError) as err:
        validate_ssid(ssid)

    assert err.value.code == InputError.SSID_TOO_LONG


@pytest.mark.parametrize(
    "password",
    ["", "x" * 8, "with spaces ok", "y" * 63, "0123456789abcdefABCDEF" * 2 + "0" * 20],
    ids=["open network", "8", "spaces", "63", "64 hex"],
)
def test_password_rules_accept(password: str) -> None:
    assert validate_password(password) == password


@pytest.mark.parametrize(
    "password",
    ["1234567", "x" * 64, "g" + "0" * 63, "0" * 65],
    ids=["7", "64 not hex", "64 one non-hex digit", "65 hex"],
)
def test_password_of_wrong_length_is_refused(password: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_password(password)

    assert (err.value.field, err.value.code) == ("password", InputError.PASSWORD_LENGTH)


@pytest.mark.parametrize("password", ["pässwörter", "password\t1", "emoji☕pass"])
def test_password_must_be_printable_ascii(password: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_password(password)

    assert err.value.code == InputError.PASSWORD_CHARACTERS


# --- MQTT broker --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.168.1.10", "192.168.1.10"),
        (" homeassistant.local ", "homeassistant.local"),
        ("a" * 29, "a" * 29),
        ("fd00::1", "fd00::1"),
    ],
)
def test_mqtt_host_is_trimmed_and_accepted(host: str, expected: str) -> None:
    assert validate_mqtt_host(host) == expected


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("", InputError.MQTT_HOST_EMPTY),
        ("   ", InputError.MQTT_HOST_EMPTY),
        ("mqtt://x", InputError.MQTT_HOST_SCHEME),
        ("tcp://192.168.1.10", InputError.MQTT_HOST_SCHEME),
        ("my broker", InputError.MQTT_HOST_SPACES),
        ("broker\tlan", InputError.MQTT_HOST_SPACES),
        ("a" * 30, InputError.MQTT_HOST_TOO_LONG),
        ("é" * 15, InputError.MQTT_HOST_TOO_LONG),  # 15 characters, 30 bytes
        # The add-on's name inside Home Assistant: the charger cannot resolve it.
        ("core-mosquitto", InputError.MQTT_HOST_CONTAINER),
        ("Core-Mosquitto", InputError.MQTT_HOST_CONTAINER),
        ("addon.local.hass.io", InputError.MQTT_HOST_CONTAINER),
    ],
)
def test_mqtt_host_rules(host: str, code: InputError) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_mqtt_host(host)

    assert (err.value.field, err.value.code) == ("mqtt_host", code)


@pytest.mark.parametrize("port", [1, 1883, 65535])
def test_mqtt_port_in_range_is_accepted(port: int) -> None:
    assert validate_mqtt_port(port) == port


@pytest.mark.parametrize("port", [0, -1, 65536, True, False, "1883", 1883.0, None])
def test_mqtt_port_out_of_range_or_not_an_integer_is_refused(port: Any) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_mqtt_port(port)

    assert (err.value.field, err.value.code) == (
        "mqtt_port",
        InputError.MQTT_PORT_RANGE,
    )


def test_input_error_is_a_value_error_with_field_and_code() -> None:
    err = InvalidInputError("ssid", InputError.SSID_EMPTY)

    assert isinstance(err, ValueError)
    assert str(err) == "ssid: ssid_empty"


# --- settings -------------------------------------------------------------------------------


def test_settings_are_normalised() -> None:
    settings = ProvisioningSettings.create(
        serial_number=" lfic1230700123 ",
        ssid="Home",
        password="",
        mqtt_host=" 192.168.1.10 ",
    )

    assert settings == ProvisioningSettings(
        serial_number=SERIAL,
        ssid="Home",
        password="",
        mqtt_host="192.168.1.10",
        mqtt_port=1883,
    )


def test_settings_collect_every_error_at_once() -> None:
    short = "seven77"
    with pytest.raises(InvalidSettingsError) as err:
        ProvisioningSettings.create(
            serial_number="LFIN1",
            ssid="",
            password=short,
            mqtt_host="mqtt://broker",
            mqtt_port=0,
        )

    assert err.value.errors == {
        "serial_number": "serial_number_prefix",
        "ssid": "ssid_empty",
        "password": "password_length",
        "mqtt_host": "mqtt_host_scheme",
        "mqtt_port": "mqtt_port_range",
    }
    assert isinstance(err.value, ValueError)


def test_settings_report_only_the_broken_field() -> None:
    with pytest.raises(InvalidSettingsError) as err:
        ProvisioningSettings.create(**{**VALID, "mqtt_host": "a" * 30})

    assert err.value.errors == {"mqtt_host": "mqtt_host_too_long"}
    assert str(err.value) == "mqtt_host: mqtt_host_too_long"


def test_password_is_not_in_the_settings_repr() -> None:
    settings = ProvisioningSettings.create(**{**VALID, "password": "hunter2hunter2"})

    assert "hunter2hunter2" not in repr(settings)
    assert "hunter2hunter2" not in str(settings)
    assert "Home" in repr(settings)


@pytest.mark.parametrize(("address", "channel"), [(0, 0), (65535, 80), (3251, 15)])
def test_a_radio_pairing_in_range_is_kept(address: int, channel: int) -> None:
    settings = ProvisioningSettings.create(
        **VALID, lora_address=address, lora_channel=channel
    )

    assert settings.radio == RadioPairing(address, channel)


@pytest.mark.parametrize(
    ("address", "channel", "errors"),
    [
        (65536, 15, {"lora_address": "lora_address_range"}),
        (-1, 15, {"lora_address": "lora_address_range"}),
        (True, 15, {"lora_address": "lora_address_range"}),
        (12.5, 15, {"lora_address": "lora_address_range"}),
        (3251, 81, {"lora_channel": "lora_channel_range"}),
        (3251, None, {"lora_channel": "lora_pair_incomplete"}),
        (None, 15, {"lora_address": "lora_pair_incomplete"}),
    ],
)
def test_half_a_pairing_or_one_out_of_range_is_refused(
    address: Any, channel: Any, errors: dict[str, str]
) -> None:
    with pytest.raises(InvalidSettingsError) as err:
        ProvisioningSettings.create(**VALID, lora_address=address, lora_channel=channel)

    assert err.value.errors == errors


def test_refused_password_is_not_in_the_error_message() -> None:
    with pytest.raises(InvalidSettingsError) as err:
        ProvisioningSettings.create(**{**VALID, "password": "hunter2"})

    assert "hunter2" not in str(err.value)
    assert "hunter2" not in repr(err.value)
    assert err.value.errors == {"password": "password_length"}
