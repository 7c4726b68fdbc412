"""The settings form: what it suggests, what it refuses, what it keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING
from unittest.mock import patch

from homeassistant.components import mqtt, network
from homeassistant.const import CONF_PROTOCOL
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError
import pytest

from ..flow_helpers import SERIAL_NUMBER, settings_input, suggested_values
from . import STRINGS, SetupDialog, without_password

if TYPE_CHECKING:
    from unittest.mock import MagicMock

    from homeassistant.core import HomeAssistant

    from tests.mosquitto import Mosquitto


pytestmark = pytest.mark.usefixtures("mqtt_mock")


async def test_serial_number_is_trimmed_and_upper_cased(
    open_broker: Mosquitto, discovered: SetupDialog
) -> None:
    await discovered.provision(open_broker.port, serial_number=" lfic1230700123 ")
    result = await discovered.report()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL_NUMBER
    assert result["data"]["serial_number"] == SERIAL_NUMBER
    # The charger's own access point is named after the normalised number.
    assert (
        discovered.radio.charger.settings["set_wifi_info"]["ap"]["ssid"]
        == SERIAL_NUMBER
    )


TOO_SHORT = "short"  # for a WiFi password
INVALID_SETTINGS = [
    ("serial_number", "LFIN1230700123", "serial_number_prefix"),
    ("serial_number", "LFIC-1230700123", "serial_number_characters"),
    ("ssid", "", "ssid_empty"),
    ("ssid", "x" * 33, "ssid_too_long"),
    ("ssid", "é" * 17, "ssid_too_long"),  # 17 characters, 34 bytes
    ("password", TOO_SHORT, "password_length"),
    ("password", "x" * 64, "password_length"),  # 64 characters, not hex
    ("password", "pässwörd-garden", "password_characters"),
    ("mqtt_host", "", "mqtt_host_empty"),
    ("mqtt_host", "mqtt://127.0.0.1", "mqtt_host_scheme"),
    ("mqtt_host", "my broker", "mqtt_host_spaces"),
    ("mqtt_host", "broker." + "a" * 23, "mqtt_host_too_long"),  # 30 bytes
]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        pytest.param(*case, id=case[2] + "-" + str(n))
        for n, case in enumerate(INVALID_SETTINGS)
    ],
)
async def test_invalid_setting_is_reported_on_its_field_before_anything_is_contacted(
    discovered: SetupDialog, probe: MagicMock, *, field: str, value: str, error: str
) -> None:
    user_input = settings_input(1883, **{field: value})

    result = await discovered.submit(user_input)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "settings"
    assert result["errors"] == {field: error}
    assert error in STRINGS["config"]["error"]
    probe.assert_not_called()
    assert discovered.radio.connect_calls == []
    # What was typed is shown again, except the password.
    assert suggested_values(result["data_schema"]) == without_password(user_input)


async def test_every_invalid_setting_is_reported_at_once(
    discovered: SetupDialog,
) -> None:
    result = await discovered.enter_settings(
        1883, serial_number="mower", ssid="", password=TOO_SHORT, mqtt_host="a b"
    )

    assert result["errors"] == {
        "serial_number": "serial_number_prefix",
        "ssid": "ssid_empty",
        "password": "password_length",
        "mqtt_host": "mqtt_host_spaces",
    }
    assert discovered.radio.connect_calls == []


@pytest.mark.parametrize("port", [0, 65536])
async def test_port_out_of_range_is_refused_by_the_form(
    discovered: SetupDialog, probe: MagicMock, port: int
) -> None:
    with pytest.raises(InvalidData) as raised:
        await discovered.enter_settings(port)

    assert "mqtt_port" in raised.value.schema_errors
    probe.assert_not_called()
    assert discovered.radio.connect_calls == []


@pytest.mark.parametrize(
    "mqtt_config_entry_data",
    [{mqtt.CONF_BROKER: "core-mosquitto", "port": 1884, CONF_PROTOCOL: "5"}],
)
async def test_settings_form_suggests_home_assistants_address_and_the_brokers_port(
    hass: HomeAssistant, dialog: SetupDialog
) -> None:
    lan_address = await network.async_get_source_ip(hass)

    result = await dialog.start()

    # The MQTT entry's broker name may be a container name the charger cannot
    # resolve; Home Assistant's LAN address is what the charger can reach.
    assert suggested_values(result["data_schema"]) == {
        "mqtt_host": lan_address,
        "mqtt_port": 1884,
        "radio": {},
    }
    assert lan_address != "core-mosquitto"


@pytest.mark.parametrize(
    "mqtt_config_entry_data",
    [
        pytest.param(
            {
                mqtt.CONF_BROKER: "broker.lan",
                "port": 8883,
                mqtt.CONF_CERTIFICATE: "auto",
                CONF_PROTOCOL: "5",
            },
            id="tls",
        ),
        pytest.param(
            {
                mqtt.CONF_BROKER: "broker.lan",
                "port": 8080,
                mqtt.CONF_TRANSPORT: "websockets",
                CONF_PROTOCOL: "5",
            },
            id="websockets",
        ),
    ],
)
async def test_settings_form_suggests_port_1883_when_the_mqtt_entry_is_not_plain_tcp(
    dialog: SetupDialog,
) -> None:
    result = await dialog.start()

    assert suggested_values(result["data_schema"])["mqtt_port"] == 1883


async def test_settings_form_without_a_lan_address_leaves_the_broker_address_empty(
    dialog: SetupDialog,
) -> None:
    with patch.object(
        network,
        "async_get_source_ip",
        side_effect=HomeAssistantError("no IPv4 address"),
    ):
        result = await dialog.start()

    assert suggested_values(result["data_schema"]) == {"mqtt_port": 1883, "radio": {}}


async def test_settings_form_still_renders_after_the_mqtt_entry_is_removed(
    hass: HomeAssistant, discovered: SetupDialog
) -> None:
    mqtt_entry = hass.config_entries.async_entries(mqtt.DOMAIN)[0]
    assert await hass.config_entries.async_remove(mqtt_entry.entry_id)

    result = await discovered.enter_settings(1884, ssid="")

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"ssid": "ssid_empty"}
    assert suggested_values(result["data_schema"])["mqtt_port"] == 1884
