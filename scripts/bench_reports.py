"""What one charger report costs: the integration against the YAML alternative.

Not part of the test suite (pytest collects tests/ only); `scripts/benchmark`
runs it. Timings are printed, never asserted; what is asserted is that reports
start no config flow and that identical reports write no state.

One Home Assistant test instance holds, side by side:

* the integration, set up for charger A (direct mode);
* the MQTT template sensors a user could write in YAML for the same entities
  (those the integration enables by default), on charger B's topic;
* charger C's topic, which nothing subscribes to: the baseline, the cost of
  Home Assistant's MQTT dispatch itself.

The same stream of realistic reports (the heartbeat count changes every
report, the satellites now and then) goes through Home Assistant's MQTT
dispatch (the real MQTT client's message handler, behind a mocked socket) to
each topic in turn, round after round, so the three see the same machine. The
baseline is subtracted. YAML cannot decrypt firmware v0.4.0's AES payloads: for
encrypted reports only the integration is measured.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.binary_sensor import BINARY_SENSORS
from custom_components.novabot.const import DEFAULT_STALE_TIMEOUT
from custom_components.novabot.sensor import SENSORS
from tests.common import encrypt, mock_entry, report

if TYPE_CHECKING:
    from pytest_homeassistant_custom_component.typing import MqttMockHAClient

INTEGRATION = "LFIC1230700001"
YAML = "LFIC1230700002"
NOBODY = "LFIC1230700003"
REPORTS = 500  # per round and path
ROUNDS = 9

# What a user would write for the same values as the integration's entities.
YAML_TEMPLATES: dict[str, tuple[str, str]] = {
    "gps_satellites": (
        "sensor",
        "{{ (value_json.up_status_info.charger_status // 16777216) % 256 }}",
    ),
    "lora_heartbeat_misses": ("sensor", "{{ value_json.up_status_info.mower_error }}"),
    "mower_status": ("sensor", "{{ value_json.up_status_info.mower_status }}"),
    "lora_rssi": (
        "sensor",
        "{{ (value_json.up_status_info.charger_status // 2) % 128 }}",
    ),
    "gps_fix": (
        "binary_sensor",
        "{{ 'ON' if value_json.up_status_info.charger_status % 2 == 1 else 'OFF' }}",
    ),
    "rtk_fix": (
        "binary_sensor",
        "{{ 'ON' if (value_json.up_status_info.charger_status // 256) % 2 == 1"
        " else 'OFF' }}",
    ),
    "mower_connected": (
        "binary_sensor",
        "{{ 'ON' if value_json.up_status_info.mower_error == 0 else 'OFF' }}",
    ),
}


MEASUREMENTS = {
    desc.key for desc in SENSORS if desc.state_class == SensorStateClass.MEASUREMENT
}


def yaml_config() -> dict[str, Any]:
    """configuration.yaml's ``mqtt:`` section a user would write for charger B."""
    topic = f"Dart/Receive_mqtt/{YAML}"
    platforms: dict[str, list[dict[str, Any]]] = {}
    for key, (platform, template) in YAML_TEMPLATES.items():
        entity: dict[str, Any] = {
            "name": f"yaml {key}",
            "unique_id": f"yaml_{key}",
            "state_topic": topic,
            "value_template": template,
            # Unavailable after a minute of silence, as the integration's are.
            "expire_after": DEFAULT_STALE_TIMEOUT,
        }
        if key in MEASUREMENTS:  # numbers with history, as the integration's
            entity["state_class"] = "measurement"
        platforms.setdefault(platform, []).append(entity)
    return {"mqtt": platforms}


def stream(count: int, start: int) -> list[bytes]:
    """Reports as a charger without a mower sends them: one field changes a lot."""
    payloads = []
    for index in range(start, start + count):
        satellites = 17 + (index // 10) % 3  # now and then
        payloads.append(
            report(
                charger_status=(satellites << 24) | 0x101,
                mower_error=2 + index,  # the heartbeat count, every report
            )
        )
    return payloads


RESULTS: dict[str, dict[str, float]] = {}


class Writes:
    """Counts state writes (changed or merely reported) per path while open.

    Its listeners cost time too: the rounds that count are not the timed ones.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self.count: dict[str, int] = {}
        self._unsubscribes = [
            hass.bus.async_listen(event_type, self._written, self._every)
            for event_type in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED)
        ]

    def close(self) -> None:
        for unsubscribe in self._unsubscribes:
            unsubscribe()

    @staticmethod
    @callback
    def _every(_data: Any) -> bool:
        return True

    @callback
    def _written(self, event: Event[Any]) -> None:
        entity_id: str = event.data["entity_id"]
        path = "yaml" if "yaml" in entity_id else "integration"
        self.count[path] = self.count.get(path, 0) + 1


def fire(hass: HomeAssistant, serial_number: str, payloads: list[bytes]) -> float:
    """Seconds per report through Home Assistant's MQTT dispatch."""
    topic = f"Dart/Receive_mqtt/{serial_number}"
    started = time.perf_counter()
    for payload in payloads:
        async_fire_mqtt_message(hass, topic, payload)
    return (time.perf_counter() - started) / len(payloads)


async def count_writes(hass: HomeAssistant) -> dict[str, float]:
    """State writes per report, changing and identical, for both paths."""
    writes = Writes(hass)
    changing = stream(REPORTS, 0)
    fire(hass, YAML, changing)
    fire(hass, INTEGRATION, changing)
    counted = {path: count / REPORTS for path, count in writes.count.items()}
    writes.count.clear()
    identical = [changing[-1]] * REPORTS
    fire(hass, YAML, identical)
    fire(hass, INTEGRATION, identical)
    counted |= {f"{path}, identical": n / REPORTS for path, n in writes.count.items()}
    writes.close()
    await hass.async_block_till_done()
    return counted


@pytest.mark.parametrize("hass_config", [yaml_config()])
async def test_integration_against_yaml_template_sensors(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, enable_custom_integrations: None
) -> None:
    enabled = [
        d.key for d in (*SENSORS, *BINARY_SENSORS) if d.entity_registry_enabled_default
    ]
    assert sorted(enabled) == sorted(YAML_TEMPLATES), "the YAML must match"
    # The test harness runs the loop in debug mode, which records a traceback
    # for every timer: a real Home Assistant does not.
    hass.loop.set_debug(False)
    entry = mock_entry(INTEGRATION)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow

    with patch.object(flows, "async_init", wraps=flows.async_init) as started:
        writes = await count_writes(hass)
        samples: dict[str, list[float]] = {}
        for number in range(1, ROUNDS + 1):
            changing = stream(REPORTS, number * REPORTS)
            identical = [changing[-1]] * REPORTS
            for path, serial_number, payloads in (
                ("baseline", NOBODY, changing),
                ("yaml", YAML, changing),
                ("integration", INTEGRATION, changing),
                ("encrypted", INTEGRATION, [encrypt(p, INTEGRATION) for p in changing]),
                ("baseline, identical", NOBODY, identical),
                ("yaml, identical", YAML, identical),
                ("integration, identical", INTEGRATION, identical),
            ):
                samples.setdefault(path, []).append(fire(hass, serial_number, payloads))
            await hass.async_block_till_done()

    assert started.call_count == 0, "a report started a config flow"
    assert "integration, identical" not in writes, "identical reports wrote state"
    RESULTS.update(net_of_baseline(samples))
    RESULTS["writes"] = writes
    RESULTS["flows"] = {"per report": started.call_count / (ROUNDS * REPORTS)}
    print_table()
    await hass.config_entries.async_unload(entry.entry_id)


def net_of_baseline(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Median seconds per report of each path minus the baseline, and ratios."""
    rounds = range(ROUNDS)

    def net(path: str, baseline: str = "baseline") -> list[float]:
        return [samples[path][i] - samples[baseline][i] for i in rounds]

    yaml, integration, encrypted = net("yaml"), net("integration"), net("encrypted")
    return {
        "changing": {
            "baseline": statistics.median(samples["baseline"]),
            "yaml": statistics.median(yaml),
            "integration": statistics.median(integration),
            "encrypted": statistics.median(encrypted),
            # Per round, then the median: the rounds share the machine's mood.
            "ratio": statistics.median(
                y / i for y, i in zip(yaml, integration, strict=True)
            ),
            "ratio encrypted": statistics.median(
                y / e for y, e in zip(yaml, encrypted, strict=True)
            ),
        },
        "identical": {
            "yaml": statistics.median(net("yaml, identical", "baseline, identical")),
            "integration": statistics.median(
                net("integration, identical", "baseline, identical")
            ),
        },
    }


def print_table() -> None:
    changing, identical = RESULTS["changing"], RESULTS["identical"]
    writes, us = RESULTS["writes"], 1e6
    print(
        f"""
Per report, through Home Assistant's MQTT dispatch, net of the baseline
({changing["baseline"] * us:.0f} us: the dispatch with nobody subscribed);
medians of {ROUNDS} rounds of {REPORTS} reports per path.

| path | changing reports | state writes / report | identical reports | writes |
|---|---|---|---|---|
| YAML MQTT template sensors ({len(YAML_TEMPLATES)}) | {changing["yaml"] * us:.0f} us | {writes.get("yaml", 0):.2f} | {identical["yaml"] * us:.0f} us | {writes.get("yaml, identical", 0):.2f} |
| integration, plain | {changing["integration"] * us:.0f} us | {writes.get("integration", 0):.2f} | {identical["integration"] * us:.0f} us | {writes.get("integration, identical", 0):.2f} |
| integration, encrypted | {changing["encrypted"] * us:.0f} us | as plain | | |
| YAML, encrypted | cannot decrypt | | | |

The integration is {changing["ratio"]:.1f}x cheaper than YAML per changing report
({changing["ratio encrypted"]:.1f}x when encrypted, against YAML's plain);
config flows started per report: {RESULTS["flows"]["per report"]:g}.
"""
    )
