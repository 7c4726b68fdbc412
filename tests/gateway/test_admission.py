"""Who gets in: any login on the chargers' own topics, and nothing that is not MQTT."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.gateway import Drop, limits
from custom_components.novabot.protocol import (
    ANONYMOUS_LOGIN,
    ChargerLogin,
    arbitrary_login,
)
from custom_components.novabot.protocol.broker import (
    connect_packet as charger_connect_packet,
)

from ..flow_helpers import wait_for
from .clients import connect_packet, packet, utf8
from .common import (
    CLIENT_ID,
    COMMAND,
    CONNACK_ACCEPTED,
    OTHER_SN,
    REPORT,
    SN,
    STATUS,
    connected_clients,
    counters,
    dropped,
    relayed_up,
    warnings_logged,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

    from .clients import ConnectCharger, OpenRawClient
    from .common import Release

CONNACK_UNACCEPTABLE_PROTOCOL = b"\x20\x02\x00\x01"

# Every way a charger may log in (docs/charger-protocol.md, section 2): v0.3.6
# sends no login; what v0.4.0 sends is disputed, so the gateway admits any.
LOGINS = [
    pytest.param(ANONYMOUS_LOGIN, id="anonymous"),
    pytest.param(
        ChargerLogin("v0.4.0", "li9hep19", "jzd4wac6"),
        id="one charger's cloud account li9hep19",
    ),
    pytest.param(ChargerLogin("v0.4.0", SN), id="the serial number as username"),
    pytest.param(arbitrary_login(), id="a random username and password"),
]


@pytest.mark.parametrize("login", LOGINS)
async def test_every_login_is_admitted_on_the_charger_s_own_topics_only(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    clients: ConnectCharger,
    login: ChargerLogin,
) -> None:
    """Any login gets in; it reports and hears commands for an admitted charger only."""
    charger = await clients(username=login.username, password=login.password)

    codes = await charger.subscribe(COMMAND, f"Dart/Send_mqtt/{OTHER_SN}", STATUS, "#")
    assert [code.is_failure for code in codes] == [False, True, True, True]
    charger.publish(f"Dart/Receive_mqtt/{OTHER_SN}", b"{}")
    charger.publish("homeassistant/switch/x/set", b"ON")
    charger.publish(STATUS, REPORT)
    await wait_for(lambda: counters(hass)["relayed_up"] == 1)
    async_fire_mqtt_message(hass, COMMAND, b"command")

    assert relayed_up(mqtt_mock) == [(STATUS, REPORT, 0, False)]
    assert dropped(hass, Drop.UNKNOWN_SERIAL) == 2  # a subscription, a publish
    assert dropped(hass, Drop.FORBIDDEN_SUBSCRIPTION) == 2
    assert dropped(hass, Drop.FOREIGN_TOPIC) == 1
    # Its own report did not come back through the refused subscriptions.
    assert (await charger.receive()).payload == b"command"
    assert charger.messages.empty()


@pytest.fixture(params=LOGINS)
def charger_connect(request: pytest.FixtureRequest) -> bytes:
    """A charger's CONNECT, each way a charger may log in."""
    login: ChargerLogin = request.param
    return charger_connect_packet(CLIENT_ID, login)


@pytest.mark.usefixtures("mqtt_mock")
async def test_a_charger_that_half_closes_right_after_connect_gets_its_connack(
    hass: HomeAssistant, raw: OpenRawClient, charger_connect: bytes
) -> None:
    """Stock chargers send FIN right after CONNECT; the gateway still answers."""
    client = await raw()

    client.send_then_half_close(charger_connect)

    assert (await client.wait_closed_by_peer()).startswith(CONNACK_ACCEPTED)
    assert counters(hass)["dropped"] == {}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"", (Drop.NO_DATA, b""), id="nothing: a port scan"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", (Drop.NOT_MQTT, b""), id="HTTP"
        ),
        pytest.param(b"\x16\x03\x01\x02\x00\x01", (Drop.NOT_MQTT, b""), id="TLS hello"),
        pytest.param(
            packet(0x10, utf8(b"MQTT")), (Drop.NOT_MQTT, b""), id="truncated CONNECT"
        ),
        pytest.param(
            connect_packet(name=b"HTTP"), (Drop.NOT_MQTT, b""), id="other protocol"
        ),
        pytest.param(b"\x10\x20", (Drop.NOT_MQTT, b""), id="ends inside CONNECT"),
        pytest.param(
            b"\x10\xff\xff\xff\xff\x01", (Drop.MALFORMED, b""), id="malformed length"
        ),
        pytest.param(
            connect_packet("x" * 5000), (Drop.OVERSIZED, b""), id="oversized CONNECT"
        ),
        pytest.param(
            connect_packet(level=5),
            (Drop.UNSUPPORTED_PROTOCOL, CONNACK_UNACCEPTABLE_PROTOCOL),
            id="MQTT 5",
        ),
        pytest.param(
            connect_packet(name=b"MQIsdp", level=3),
            (Drop.UNSUPPORTED_PROTOCOL, CONNACK_UNACCEPTABLE_PROTOCOL),
            id="MQTT 3.1",
        ),
    ],
)
@pytest.mark.usefixtures("mqtt_mock")
async def test_what_is_not_an_mqtt_311_connect_is_turned_away(
    hass: HomeAssistant,
    raw: OpenRawClient,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    expected: tuple[str, bytes],
) -> None:
    """Closed and counted, not logged (with CONNACK 1 for other MQTT versions)."""
    reason, answer = expected
    caplog.set_level(logging.DEBUG)
    client = await raw()

    client.send_then_half_close(data)

    assert await client.wait_closed_by_peer() == answer
    await wait_for(lambda: dropped(hass, reason) == 1)
    assert connected_clients(hass) == []
    assert not warnings_logged(caplog)


async def test_a_client_that_never_sends_connect_times_out(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    raw: OpenRawClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An open connection without a CONNECT does not hold a slot for long."""
    monkeypatch.setattr(limits, "CONNECT_TIMEOUT", 0.1)
    client = await raw()
    assert await client.wait_closed_by_peer() == b""
    assert dropped(hass, Drop.HANDSHAKE_TIMEOUT) == 1


async def test_amqtt_no_data_error_is_counted_while_the_gateway_runs(
    hass: HomeAssistant, release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    """Should amqtt ever log its no-data error, it is counted instead."""
    amqtt_logger = logging.getLogger("amqtt.broker")
    amqtt_logger.error("No data from 127.0.0.1:4242 : No more data")
    amqtt_logger.warning("Failed to initialize client session: No more data")
    amqtt_logger.warning("Something else")
    assert dropped(hass, Drop.NO_DATA) == 1
    await release()
    amqtt_logger.error("No data from 127.0.0.1:4243 : No more data")

    messages = [
        record.getMessage()
        for record in warnings_logged(caplog)
        if record.name == "amqtt.broker"
    ]
    assert messages == ["Something else", "No data from 127.0.0.1:4243 : No more data"]
