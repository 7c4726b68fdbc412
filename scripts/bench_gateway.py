"""Benchmark of the gateway: messages per second relayed up, and added latency.

Not part of the test suite (pytest collects tests/ only). Run it explicitly:

    .venv/bin/python -m pytest scripts/bench_gateway.py -p no:cacheprovider -s -q

Two paths are measured:

* ``gateway``: charger -> gateway -> the call to Home Assistant's
  ``mqtt.async_publish`` (stubbed): the gateway's own cost.
* ``end to end``: charger -> gateway -> Home Assistant's real MQTT client ->
  a real Mosquitto -> a subscriber, against the same trip without the gateway
  (charger -> Mosquitto -> subscriber); the difference is what the gateway adds.

Latency is measured one message at a time (send, wait for it, repeat), so it
has no queueing in it. Throughput is measured with the per-client rate limit
lifted: a separate process floods one connection, the gateway relays what it
can. With the limit (20 messages/s per client, 8 clients) the gateway never
has to relay more than 160 messages/s.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.novabot import gateway as gw
from tests.gateway.clients import PahoCharger, connect_packet, publish_packet
from tests.gateway.common import add_gateway_entry
from tests.mosquitto import Mosquitto, free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from homeassistant.core import HomeAssistant

SN = "LFIC1230700123"
TOPIC = f"Dart/Receive_mqtt/{SN}"
LOOPBACK = "127.0.0.1"
PAYLOAD = b'{"up_status_info":{"charger_status":285212929,"mower_status":0,' + (
    b'"mower_info":0,"mower_x":0,"mower_y":0,"mower_z":0,"mower_info1":0,'
    b'"mower_error":0}}'
).ljust(190, b" ")  # ~250 bytes, a charger's report
LATENCY_SAMPLES = 500
FLOOD = 20_000

# A charger in another process, so that sending costs Home Assistant's loop nothing.
SENDER = r"""
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
connect, publish = bytes.fromhex(sys.argv[4]), bytes.fromhex(sys.argv[5])
sock = socket.create_connection((host, port))
sock.sendall(connect)
assert sock.recv(4) == b"\x20\x02\x00\x00"
batch = publish * 100
for _ in range(count // 100):
    sock.sendall(batch)
sys.stdin.read()  # stay connected until told
sock.sendall(b"\xe0\x00")
sock.close()
"""


def summary(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    return (
        f"median {statistics.median(ordered):.3f} ms, "
        f"p90 {ordered[int(len(ordered) * 0.9)]:.3f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms"
    )


async def measure_latency(
    send: Callable[[bytes], None], arrived: asyncio.Queue[float]
) -> list[float]:
    """Milliseconds from send to arrival, one message at a time."""
    samples = []
    for _ in range(LATENCY_SAMPLES + 20):
        start = time.perf_counter()
        send(PAYLOAD)
        async with asyncio.timeout(5):
            end = await arrived.get()
        samples.append((end - start) * 1000)
    return samples[20:]  # warm-up


async def measure_throughput(
    port: int, arrived: asyncio.Queue[float], count: int = FLOOD
) -> tuple[float, int]:
    """Messages per second arriving while another process floods the gateway."""
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SENDER,
        LOOPBACK,
        str(port),
        str(count),
        connect_packet("ESP32_bench").hex(),
        publish_packet(TOPIC, PAYLOAD).hex(),
        stdin=asyncio.subprocess.PIPE,
    )
    received = []
    try:
        async with asyncio.timeout(120):
            received.append(await arrived.get())
            while len(received) < count:
                received.append(await arrived.get())
    except TimeoutError:
        pass
    finally:
        assert sender.stdin is not None
        sender.stdin.close()
        await sender.wait()
    elapsed = received[-1] - received[0]
    return (len(received) - 1) / elapsed, len(received)


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Run the loop as Home Assistant does, not in the harness's debug mode.

    (Debug mode records a stack for every task; amqtt makes several per message.)
    """
    asyncio.get_running_loop().set_debug(False)


@pytest.fixture(autouse=True)
def production_log_level() -> Iterator[None]:
    """Home Assistant's default level: amqtt's info and debug records are not emitted."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)
    yield
    root.setLevel(level)


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the per-client rate and in-flight limits to find the gateway's capacity."""
    monkeypatch.setattr(gw.limits, "RATE_LIMIT", 1e9)
    monkeypatch.setattr(gw.limits, "RATE_BURST", 10**9)
    monkeypatch.setattr(gw.limits, "MAX_UPLINK_IN_FLIGHT", 10**9)


@pytest.mark.usefixtures("unlimited")
async def test_gateway_alone(
    hass: HomeAssistant, mqtt_mock: Any, socket_enabled: None
) -> None:
    """Charger socket -> the gateway -> the call to mqtt.async_publish."""
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def publish_stub(*args: Any, **kwargs: Any) -> None:
        arrived.put_nowait(time.perf_counter())

    port = free_port()
    add_gateway_entry(hass, SN, bind_address=LOOPBACK, port=port)
    with patch.object(gw.mqtt, "async_publish", publish_stub):
        release = await gw.async_use_gateway(hass, SN, port)
        charger = PahoCharger(port)
        await charger.connect()
        latency = await measure_latency(
            lambda payload: charger.publish(TOPIC, payload), arrived
        )
        await charger.close()
        rate, count = await measure_throughput(port, arrived)
        await release()

    print(f"\n[gateway alone] latency added by the gateway: {summary(latency)}")
    print(f"[gateway alone] throughput: {rate:,.0f} messages/s ({count} relayed)")
    await _unload_mqtt(hass)


@pytest.mark.usefixtures("unlimited", "mock_hass_config")
async def test_end_to_end_through_mosquitto(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Charger -> gateway -> Home Assistant's MQTT client -> Mosquitto -> subscriber."""
    with Mosquitto() as broker:
        entry = MockConfigEntry(
            domain=mqtt.DOMAIN,
            data={mqtt.CONF_BROKER: broker.host, mqtt.CONF_PORT: broker.port},
            options={mqtt.CONF_BIRTH_MESSAGE: {}, mqtt.CONF_WILL_MESSAGE: {}},
            version=1,
            minor_version=2,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await _wait_connected(hass)

        arrived: asyncio.Queue[float] = asyncio.Queue()
        subscriber = PahoCharger(broker.port, "bench_subscriber")
        subscriber.client.on_message = lambda *_: arrived.put_nowait(
            time.perf_counter()
        )
        await subscriber.connect()
        await subscriber.subscribe(TOPIC)

        # Baseline: the charger straight to Mosquitto.
        direct = PahoCharger(broker.port, "ESP32_direct")
        await direct.connect()
        baseline = await measure_latency(
            lambda payload: direct.publish(TOPIC, payload), arrived
        )
        await direct.close()

        port = free_port()
        add_gateway_entry(hass, SN, bind_address=LOOPBACK, port=port)
        release = await gw.async_use_gateway(hass, SN, port)
        charger = PahoCharger(port)
        await charger.connect()
        through = await measure_latency(
            lambda payload: charger.publish(TOPIC, payload), arrived
        )
        await charger.close()
        rate, count = await measure_throughput(port, arrived)
        await release()
        await subscriber.close()
        await _unload_mqtt(hass)

    added = statistics.median(through) - statistics.median(baseline)
    print(f"\n[end to end] charger -> Mosquitto directly: {summary(baseline)}")
    print(
        f"[end to end] charger -> gateway -> HA MQTT -> Mosquitto: {summary(through)}"
    )
    print(f"[end to end] added by the gateway (median): {added:.3f} ms")
    print(f"[end to end] throughput: {rate:,.0f} messages/s ({count} delivered)")


async def _wait_connected(hass: HomeAssistant) -> None:
    async with asyncio.timeout(10):
        while not hass.data[mqtt.DATA_MQTT].client.connected:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _unload_mqtt(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(mqtt.DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
