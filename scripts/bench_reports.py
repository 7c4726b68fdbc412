"""What a charger report costs: the integration against the YAML a user would write.

Not part of the test suite (pytest collects tests/ only): `scripts/benchmark`
runs it, and `scripts/benchmark --quick` ends `scripts/test`. Timings are
printed, never asserted. What is asserted is structural: the YAML covers
exactly the entities the integration enables by default and shows the same
states, no report starts a config flow, a report writes only what changed,
identical reports write nothing, and nothing is left running afterwards.

One Home Assistant test instance holds, side by side:

* the integration in direct mode for charger A (plain reports, firmware
  v0.3.6) and for charger E (the same reports encrypted as v0.4.0 sends them;
  an entry of its own, as a charger does not switch back and forth);
* what a user would write in YAML for the same entities: MQTT template
  entities on charger Y's topic, and a template event for the mower's events;
* charger N's topic, which nothing subscribes to: the baseline, the cost of
  Home Assistant's MQTT dispatch itself.

Three streams, each a sequence of reports as a charger sends them every ~2 s:
the mower docked, mowing, and away (no mower answering). Each goes through
Home Assistant's MQTT dispatch (the real MQTT client's message handler, behind
a mocked socket) to each topic in turn, round after round, so that all paths
see the same machine; the baseline is subtracted. YAML cannot decrypt: for
encrypted reports only the integration is measured.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
import statistics
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import Mock, patch

from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from paho.mqtt.client import MQTTMessage
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.novabot.binary_sensor import BINARY_SENSORS
from custom_components.novabot.button import BUTTONS
from custom_components.novabot.const import DEFAULT_STALE_TIMEOUT, DOMAIN
from custom_components.novabot.entity import NovabotEntityDescription
from custom_components.novabot.event import (
    BACK_IN_CONTACT,
    LOST_CHARGER,
    MOWER_EVENTS,
    WORK_STATUS_EVENTS,
)
from custom_components.novabot.lawn_mower import MOWER
from custom_components.novabot.protocol import REPORT_FIELDS
from custom_components.novabot.sensor import ACTIVITY_OPTIONS, SENSORS
from tests.charger_firmware import ChargerFirmware
from tests.common import encrypt, mock_entry, report
from tests.mqtt_charger import MqttCharger

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from homeassistant.helpers.entity import EntityDescription
    from pytest_homeassistant_custom_component.typing import (
        MqttMockHAClient,
        MqttMockPahoClient,
    )

INTEGRATION = "LFIC1230700001"
YAML = "LFIC1230700002"
NOBODY = "LFIC1230700003"
ENCRYPTED = "LFIC1230700004"
REPORTS_PER_HOUR = 1800  # one every 2 s
WARM_UP = 20  # reports into each stream before anything counts: the change into it
AT_LEAST = 3.0  # times cheaper than YAML per report: the bar


@dataclass(frozen=True)
class Scale:
    """How much to measure: reports per round (per stream and path), and rounds."""

    name: str
    reports: int
    rounds: int


FULL = Scale("full", reports=500, rounds=9)
# For scripts/test: the structural checks in seconds; its figures mean little.
QUICK = Scale("quick", reports=40, rounds=2)


# The streams. Field values as a charger reports them (docs/charger-protocol.md
# section 2); the mower's frame is one captured from a charger and its mower.
GPS_AND_RTK_FIX = 0x101
SATELLITES = (17, 18, 19, 18)  # in use, drifting: one step a minute
CAPTURED_FRAME = {
    # Task mode 2, on its charger (recharge status 9), work status 9: finished.
    "mower_status": 0x090902,
    "mower_x": 6160385,
    "mower_y": 1638400,
    "mower_z": 4194560,
    "mower_info1": 2305,
}
UINT24 = 1 << 24
MOWING, AVOIDING_OBSTACLE, CUTTING_EDGE = 90, 91, 93


def charger_status(index: int) -> int:
    """GPS and RTK fixed, the satellites in use drifting now and then."""
    return SATELLITES[index // 30 % len(SATELLITES)] << 24 | GPS_AND_RTK_FIX


def battery(percent: int) -> int:
    """``mower_info`` with the battery in byte 1."""
    return percent << 8


def docked(index: int) -> dict[str, int]:
    """On its charger after a run, answering, charging 1 % every 80 s."""
    return {
        "charger_status": charger_status(index),
        **CAPTURED_FRAME,
        "mower_info": battery(20 + index // 40 % 81),
        "mower_error": 0,
    }


def mowing_frame(index: int) -> dict[str, int]:
    """The frame of a mower at work: it moves every report, drains 1 % in 2 min.

    Of every 50 reports (100 s), 40 mowing, 4 avoiding an obstacle, 6 cutting
    the edge; recharge status 0 (not driving home).
    """
    phase = index % 50
    work_status = (
        MOWING if phase < 40 else AVOIDING_OBSTACLE if phase < 44 else CUTTING_EDGE
    )
    return {
        "mower_status": work_status << 16 | 2,
        "mower_info": battery(100 - index // 60 % 81),
        "mower_x": (CAPTURED_FRAME["mower_x"] + 7 * index) % UINT24,
        "mower_y": (CAPTURED_FRAME["mower_y"] + 5 * index) % UINT24,
        "mower_z": (CAPTURED_FRAME["mower_z"] + index) % UINT24,
        "mower_info1": CAPTURED_FRAME["mower_info1"],
    }


def mowing(index: int) -> dict[str, int]:
    """Mowing, answering every heartbeat."""
    return {
        "charger_status": charger_status(index),
        **mowing_frame(index),
        "mower_error": 0,
    }


def away(index: int) -> dict[str, int]:
    """No mower answering: the missed heartbeats rise, the frame stays as it was."""
    return {
        "charger_status": charger_status(index),
        **mowing_frame(0),
        "mower_error": 2 + index,
    }


class Stream:
    """One stream's reports, each chunk continuing where the last one ended."""

    def __init__(self, name: str, fields: Callable[[int], dict[str, int]]) -> None:
        self.name = name
        self._fields = fields
        self._next = 0

    def next_reports(self, count: int) -> list[bytes]:
        """The next ``count`` reports, plain, as the charger publishes them."""
        start, self._next = self._next, self._next + count
        return [report(**self._fields(index)) for index in range(start, self._next)]


# What a user would write in configuration.yaml for the entities the
# integration enables by default: MQTT template entities on the charger's
# topic (unavailable after a minute of silence, as the integration's are;
# the mower's values unknown while the mower does not answer, where the
# integration's are unavailable), commands as MQTT buttons and the lawn
# mower's command topics (plain JSON: YAML cannot encrypt for v0.4.0), and the
# mower's events as a template event on the YAML entities' state changes.
REPORT = "value_json.up_status_info"
LORA_REPLY = "value_json.type == 'get_lora_info_respond'"
WORK_STATUS = "r.mower_status // 65536 % 256"
RECHARGE_STATUS = "r.mower_status // 256 % 256"
ACTIVITY_TEMPLATE = (
    f"{{% set r = {REPORT} %}}{{% set work = {WORK_STATUS} %}}"
    "{% if r.mower_error >= 2 %}None{% elif 130 <= work <= 143 %}mapping"
    "{% else %}{{ {0: 'idle', 9: 'finished', 10: 'stopped_by_user',"
    " 11: 'returning_by_user', 12: 'returning_low_battery',"
    " 13: 'stopped_by_error', 56: 'leaving_dock', 90: 'mowing',"
    " 91: 'avoiding_obstacle', 93: 'cutting_edge', 191: 'returning',"
    " 192: 'docking', 193: 'docking'}.get(work, 'None') }}{% endif %}"
)
LAWN_MOWER_TEMPLATE = (
    f"{{% set r = {REPORT} %}}{{% set work = {WORK_STATUS} %}}"
    f"{{% set recharge = {RECHARGE_STATUS} %}}"
    "{% if r.mower_error >= 2 %}none{% elif work == 13 %}error"
    "{% elif recharge == 9 %}docked"
    "{% elif recharge in [1, 2, 50, 53, 191, 192, 193]"
    " or work in [11, 12, 191, 192, 193] %}returning"
    "{% elif work in [0, 9, 10] %}paused"
    "{% elif work in [56, 90, 91, 93] %}mowing{% else %}none{% endif %}"
)


def yaml_entities(serial_number: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The MQTT entities, by platform and the integration's key, for one charger."""
    topic = f"Dart/Receive_mqtt/{serial_number}"
    commands = f"Dart/Send_mqtt/{serial_number}"

    def reading(template: str, **options: Any) -> dict[str, Any]:
        return {
            "state_topic": topic,
            "value_template": template,
            "expire_after": DEFAULT_STALE_TIMEOUT,
            **options,
        }

    def flag(condition: str) -> dict[str, Any]:
        return reading(f"{{{{ 'ON' if {condition} else 'OFF' }}}}")

    return {
        ("sensor", "gps_satellites"): reading(
            f"{{{{ {REPORT}.charger_status // 16777216 }}}}",
            state_class="measurement",
        ),
        ("sensor", "lora_noise"): reading(
            # Empty: not a reading, kept out of the numeric sensor.
            f"{{{{ value_json.message.value.rssi - 256 if {LORA_REPLY} else '' }}}}",
            device_class="signal_strength",
            unit_of_measurement="dBm",
            state_class="measurement",
        ),
        ("sensor", "lora_channel"): reading(
            f"{{{{ value_json.message.value.channel if {LORA_REPLY}"
            " else this.state }}"
        ),
        ("sensor", "lora_address"): reading(
            f"{{{{ value_json.message.value.addr if {LORA_REPLY} else this.state }}}}"
        ),
        ("sensor", "mower_activity"): reading(
            ACTIVITY_TEMPLATE,
            device_class="enum",
            options=ACTIVITY_OPTIONS,
        ),
        ("sensor", "mower_battery"): reading(
            f"{{% set r = {REPORT} %}}{{% set percent = r.mower_info // 256 % 256 %}}"
            "{{ percent if r.mower_error < 2 and percent <= 100 else 'None' }}",
            device_class="battery",
            unit_of_measurement="%",
        ),
        ("binary_sensor", "gps_fix"): flag(f"{REPORT}.charger_status % 2"),
        ("binary_sensor", "rtk_fix"): flag(f"{REPORT}.charger_status // 256 % 2"),
        ("binary_sensor", "mower_connected"): flag(f"{REPORT}.mower_error == 0")
        | {"device_class": "connectivity"},
        ("lawn_mower", "mower"): {
            "activity_state_topic": topic,
            "activity_value_template": LAWN_MOWER_TEMPLATE,
            "start_mowing_command_topic": commands,
            "start_mowing_command_template": (
                '{"start_run": {"mapName": 0, "area": 111, "cutterhigh": 3}}'
            ),
            "pause_command_topic": commands,
            "pause_command_template": '{"pause_run": {}}',
            "dock_command_topic": commands,
            "dock_command_template": '{"go_pile": {}}',
        },
        ("button", "stop"): {
            "command_topic": commands,
            "payload_press": '{"stop_run": {}}',
        },
        ("button", "cancel_schedule"): {
            "command_topic": commands,
            "payload_press": '{"stop_time_run": {}}',
        },
    }


YAML_ENTITIES = yaml_entities(YAML)
YAML_EVENTS = ("event", "mower_events")


def yaml_config() -> dict[str, Any]:
    """configuration.yaml's ``mqtt:`` section for charger Y."""
    platforms: dict[str, list[dict[str, Any]]] = {}
    for (platform, key), options in YAML_ENTITIES.items():
        platforms.setdefault(platform, []).append(
            {"name": f"yaml {key}", "unique_id": f"yaml_{key}", **options}
        )
    return {"mqtt": platforms}


def template_config() -> dict[str, Any]:
    """configuration.yaml's ``template:`` section: the mower's events.

    State triggers on the YAML entities: nothing to do for a report that
    changes none of them.
    """
    connected = "binary_sensor.yaml_mower_connected"
    return {
        "template": [
            {
                "triggers": [
                    {
                        "trigger": "state",
                        "entity_id": "sensor.yaml_mower_activity",
                        "to": list(WORK_STATUS_EVENTS.values()),
                        "id": "work_status",
                    },
                    {
                        "trigger": "state",
                        "entity_id": connected,
                        "from": "on",
                        "to": "off",
                        "id": LOST_CHARGER,
                    },
                    {
                        "trigger": "state",
                        "entity_id": connected,
                        "from": "off",
                        "to": "on",
                        "id": BACK_IN_CONTACT,
                    },
                ],
                "event": [
                    {
                        "name": "yaml mower_events",
                        "unique_id": "yaml_mower_events",
                        "event_type": (
                            "{{ trigger.to_state.state if trigger.id == 'work_status'"
                            " else trigger.id }}"
                        ),
                        "event_types": f"{{{{ {MOWER_EVENTS.event_types} }}}}",
                    }
                ],
            }
        ]
    }


def yaml_keys() -> set[tuple[str, str]]:
    """Platform and key of every entity the YAML has."""
    return {*YAML_ENTITIES, YAML_EVENTS}


# The integration's entity descriptions, by platform. Sensors of fields only
# some firmware adds (``OPTIONAL_SENSORS``) appear when a report first carries
# their field; these streams do not.
DESCRIPTIONS: dict[str, tuple[EntityDescription, ...]] = {
    "sensor": SENSORS,
    "binary_sensor": BINARY_SENSORS,
    "lawn_mower": (MOWER,),
    "button": BUTTONS,
    "event": (MOWER_EVENTS,),
}


def enabled_by_default() -> set[tuple[str, str]]:
    """Platform and key of each entity the integration enables by default."""
    return {
        (platform, description.key)
        for platform, descriptions in DESCRIPTIONS.items()
        for description in descriptions
        if description.entity_registry_enabled_default
    }


def from_reports() -> set[tuple[str, str]]:
    """The enabled entities whose state the reports alone decide."""
    return {
        (platform, description.key)
        for platform, descriptions in DESCRIPTIONS.items()
        for description in descriptions
        if description.entity_registry_enabled_default
        and isinstance(description, NovabotEntityDescription)
        and description.fields <= REPORT_FIELDS
    }


@dataclass(frozen=True)
class Path:
    """A way for reports into Home Assistant: whose topic, and whether encrypted."""

    name: str
    serial_number: str
    encrypted: bool = False

    def payloads(self, reports: list[bytes]) -> list[bytes]:
        """The reports as this path's charger publishes them."""
        if self.encrypted:
            return [encrypt(payload, self.serial_number) for payload in reports]
        return reports


BASELINE = Path("baseline", NOBODY)
YAML_PATH = Path("YAML", YAML)
PLAIN = Path("integration", INTEGRATION)
ENCRYPTED_PATH = Path("integration, encrypted", ENCRYPTED, encrypted=True)
PATHS = (BASELINE, YAML_PATH, PLAIN, ENCRYPTED_PATH)
WRITING_PATHS = (YAML_PATH, PLAIN, ENCRYPTED_PATH)
INTEGRATION_PATHS = (PLAIN, ENCRYPTED_PATH)


def fire(hass: HomeAssistant, path: Path, payloads: list[bytes]) -> float:
    """Seconds per report through Home Assistant's MQTT dispatch.

    The messages are made first, as paho makes them from what it reads; each
    then goes to the MQTT client's handler of received messages, as paho hands
    it over. Not through ``async_fire_mqtt_message``: the harness wraps the
    client in a MagicMock that records every call, and that recording (its
    time, and every message kept, so memory and the garbage collector's work
    grow report after report) is no part of Home Assistant's cost.
    """
    topic = f"Dart/Receive_mqtt/{path.serial_number}".encode()
    messages = []
    for payload in payloads:
        message = MQTTMessage(topic=topic)
        message.payload = payload
        message.timestamp = time.monotonic()
        messages.append(message)
    client = hass.data[DATA_MQTT].client._mock_wraps
    on_message = client._async_mqtt_on_message
    started = time.perf_counter()
    for message in messages:
        on_message(None, None, message)
    return (time.perf_counter() - started) / len(payloads)


class Writes:
    """Counts the state writes of each path while open, changed and reported.

    ``state_changed`` is what the recorder stores; ``state_reported`` is a
    write of an unchanged state. Its listeners cost time too: the reports it
    counts are not the timed ones.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        registry = er.async_get(hass)
        owners = {
            INTEGRATION: PLAIN.name,
            ENCRYPTED: ENCRYPTED_PATH.name,
        }
        self._paths = {
            entity.entity_id: (
                owners[entity.unique_id.split("_", 1)[0]]
                if entity.platform == DOMAIN
                else YAML_PATH.name
            )
            for entity in registry.entities.values()
            if entity.platform in (DOMAIN, mqtt.DOMAIN, "template")
        }
        self.changed: Counter[str] = Counter()
        self.reported: Counter[str] = Counter()
        self._unsubscribes = [
            hass.bus.async_listen(EVENT_STATE_CHANGED, self._changed),
            # Home Assistant asks a filter of state_reported listeners.
            hass.bus.async_listen(EVENT_STATE_REPORTED, self._reported, self._every),
        ]

    def close(self) -> None:
        for unsubscribe in self._unsubscribes:
            unsubscribe()

    @staticmethod
    @callback
    def _every(_data: Any) -> bool:
        return True

    @callback
    def _changed(self, event: Event[Any]) -> None:
        self.changed[self._paths[event.data["entity_id"]]] += 1

    @callback
    def _reported(self, event: Event[Any]) -> None:
        self.reported[self._paths[event.data["entity_id"]]] += 1


async def count_writes(hass: HomeAssistant, reports: list[bytes]) -> Writes:
    """The state writes these reports cause on each path."""
    writes = Writes(hass)
    for path in WRITING_PATHS:
        fire(hass, path, path.payloads(reports))
    await hass.async_block_till_done()
    writes.close()
    return writes


@dataclass
class StreamResult:
    """A stream's figures: seconds per report and writes per hour, by path."""

    name: str
    baseline: float
    cost: dict[str, float]
    ratio: dict[str, float]
    changed_per_hour: dict[str, float]
    reported_per_hour: dict[str, float]


async def measure(hass: HomeAssistant, stream: Stream, scale: Scale) -> StreamResult:
    """Warm up, check, count the writes, then time the rounds of one stream."""
    warm_up = stream.next_reports(WARM_UP)
    for path in WRITING_PATHS:
        fire(hass, path, path.payloads(warm_up))
    await hass.async_block_till_done()
    assert_same_states(hass, stream.name)

    counted = stream.next_reports(scale.reports * scale.rounds)
    writes = await count_writes(hass, counted)
    for path in INTEGRATION_PATHS:
        assert not writes.reported[path.name], (
            f"{stream.name}: {path.name} wrote unchanged states"
        )
    assert writes.changed[ENCRYPTED_PATH.name] == writes.changed[PLAIN.name], (
        f"{stream.name}: encrypted reports wrote other states than plain ones"
    )
    repeated = await count_writes(hass, [counted[-1]] * scale.reports)
    for path in INTEGRATION_PATHS:
        assert not repeated.changed[path.name] + repeated.reported[path.name], (
            f"{stream.name}: identical reports wrote states on {path.name}"
        )

    samples: dict[str, list[float]] = {path.name: [] for path in PATHS}
    for _ in range(scale.rounds):
        reports = stream.next_reports(scale.reports)
        for path in PATHS:
            payloads = path.payloads(reports)
            samples[path.name].append(fire(hass, path, payloads))
        await hass.async_block_till_done()

    def net(path: Path) -> list[float]:
        return [
            cost - baseline
            for cost, baseline in zip(
                samples[path.name], samples[BASELINE.name], strict=True
            )
        ]

    yaml = net(YAML_PATH)
    per_hour = REPORTS_PER_HOUR / len(counted)
    return StreamResult(
        name=stream.name,
        baseline=statistics.median(samples[BASELINE.name]),
        cost={path.name: statistics.median(net(path)) for path in WRITING_PATHS},
        # Per round, then the median: a round's paths share the machine's mood.
        ratio={
            path.name: statistics.median(
                y / i for y, i in zip(yaml, net(path), strict=True)
            )
            for path in INTEGRATION_PATHS
        },
        changed_per_hour={
            path.name: writes.changed[path.name] * per_hour for path in WRITING_PATHS
        },
        reported_per_hour={
            path.name: writes.reported[path.name] * per_hour for path in WRITING_PATHS
        },
    )


def entity_id(hass: HomeAssistant, platform: str, key: str, serial: str) -> str:
    """The entity id of one of the integration's entities, or of the YAML's."""
    registry = er.async_get(hass)
    if serial == YAML:
        found = registry.async_get_entity_id(platform, mqtt.DOMAIN, f"yaml_{key}")
    else:
        found = registry.async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
    assert found, f"no {platform} {key} for {serial}"
    return found


def assert_same_states(hass: HomeAssistant, stream: str) -> None:
    """The YAML shows what the integration shows (unknown for unavailable)."""
    for platform, key in sorted(from_reports()):
        shown = hass.states.get(entity_id(hass, platform, key, INTEGRATION))
        yaml = hass.states.get(entity_id(hass, platform, key, YAML))
        assert shown
        assert yaml
        expected = "unknown" if shown.state == "unavailable" else shown.state
        assert yaml.state == expected, (
            f"{stream}: YAML {platform} {key} shows {yaml.state!r},"
            f" the integration {shown.state!r}"
        )


async def set_up_charger(hass: HomeAssistant, path: Path) -> None:
    """An entry in direct mode that has heard its charger and its mower.

    The virtual charger answers the queries of the first report (firmware,
    LoRa radio) as a real one does, so that no query waits for its timeout.
    """
    serial = path.serial_number
    entry = mock_entry(serial)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    firmware = ChargerFirmware(serial, encrypt=path.encrypted, started=hass.loop.time())
    charger = MqttCharger(hass, firmware)
    await charger.async_connect()
    first = path.payloads(Stream("docked", docked).next_reports(1))
    async_fire_mqtt_message(hass, charger.status_topic, first[0])
    await hass.async_block_till_done()
    charger.disconnect()
    details = entry.runtime_data.details
    assert details.firmware_version, "the firmware query went unanswered"
    assert details.lora, "the LoRa query went unanswered"


def enabled_in_registry(hass: HomeAssistant, serial: str) -> set[tuple[str, str]]:
    """Platform and key of the charger's entities that Home Assistant enabled."""
    return {
        (entity.domain, entity.unique_id.removeprefix(f"{serial}_"))
        for entity in er.async_get(hass).entities.values()
        if entity.platform == DOMAIN
        and entity.unique_id.startswith(f"{serial}_")
        and not entity.disabled
    }


@pytest.fixture
async def unload_at_end(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    mqtt_client_mock: MqttMockPahoClient,
) -> AsyncIterator[None]:
    """Unload and shut down what the benchmark set up: no timer outlives it.

    Two one-second timers armed at the start outlive a short run (--quick, or
    one that fails early) otherwise. MQTT's misc timer stops when its socket
    closes: the entries subscribing to MQTT are unloaded, then MQTT's, and the
    close a real disconnect causes is played (the mocked paho client never
    closes its socket), as tests/conftest.py does for the tests. And the
    ``hass_config`` parameter (the YAML) makes the harness put in config
    entries of its own, whose flow manager Home Assistant's stop does not shut
    down: Bluetooth, a dependency of the integration, starts a discovery flow
    there for the harness's adapter, which arms the manager's discovery
    cooldown. It is shut down here, as Home Assistant does when it stops.
    """
    yield
    for domain in (DOMAIN, mqtt.DOMAIN):
        for entry in hass.config_entries.async_entries(domain):
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)
    mqtt_client_mock.on_socket_close(
        mqtt_client_mock, None, Mock(fileno=Mock(return_value=-1))
    )
    hass.config_entries.flow.async_shutdown()
    await hass.async_block_till_done()


@pytest.mark.usefixtures("enable_custom_integrations", "unload_at_end")
@pytest.mark.parametrize("hass_config", [yaml_config()])
@pytest.mark.parametrize(
    "scale", [pytest.param(FULL, id="full"), pytest.param(QUICK, id="quick")]
)
async def test_reports_against_yaml(hass: HomeAssistant, scale: Scale) -> None:
    enabled = enabled_by_default()
    assert yaml_keys() == enabled, (
        "the YAML must have exactly the entities the integration enables by"
        f" default: missing {sorted(enabled - yaml_keys())},"
        f" extra {sorted(yaml_keys() - enabled)}"
    )
    # The test harness runs the loop in debug mode, which records a traceback
    # for every timer: a real Home Assistant does not.
    hass.loop.set_debug(False)
    assert await async_setup_component(hass, "template", template_config())
    for path in INTEGRATION_PATHS:
        await set_up_charger(hass, path)
    assert enabled_in_registry(hass, INTEGRATION) == enabled, (
        "the integration enabled other entities than its descriptions say"
    )
    flows = hass.config_entries.flow
    with patch.object(flows, "async_init", wraps=flows.async_init) as started:
        results = [
            await measure(hass, Stream(name, fields), scale)
            for name, fields in (("docked", docked), ("mowing", mowing), ("away", away))
        ]
    assert started.call_count == 0, (
        f"a report started a config flow: {started.call_args_list}"
    )
    print_table(scale, results)


def microseconds(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs"


def print_table(scale: Scale, results: list[StreamResult]) -> None:
    """The figures as Markdown tables, and the verdict of a full run."""
    reading = sum(
        1
        for options in YAML_ENTITIES.values()
        if set(options) & {"state_topic", "activity_state_topic"}
    )
    yaml = f"YAML ({len(yaml_keys())} entities, {reading} read reports)"
    lines = [
        f"Charger reports: the integration against YAML ({scale.name} run)",
        "",
        "Cost per report through Home Assistant's MQTT dispatch, net of the",
        "dispatch itself (the baseline: nobody subscribed); medians of",
        f"{scale.rounds} rounds of {scale.reports} reports per stream and path,",
        "ratios per round, then the median.",
        "",
        f"| stream | baseline | {yaml} | integration | YAML ÷ integration"
        " | integration, encrypted | YAML ÷ encrypted |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {result.name} | {microseconds(result.baseline)}"
        f" | {microseconds(result.cost[YAML_PATH.name])}"
        f" | {microseconds(result.cost[PLAIN.name])}"
        f" | {result.ratio[PLAIN.name]:.1f}x"
        f" | {microseconds(result.cost[ENCRYPTED_PATH.name])}"
        f" | {result.ratio[ENCRYPTED_PATH.name]:.1f}x |"
        for result in results
    ]
    lines += [
        "",
        f"State writes per hour (a report every 2 s, {REPORTS_PER_HOUR:,} an hour):",
        "state_changed, what the recorder stores; state_reported in brackets.",
        "",
        f"| stream | {yaml} | integration | integration, encrypted |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {result.name} | "
        + " | ".join(
            f"{result.changed_per_hour[path.name]:.0f}"
            f" ({result.reported_per_hour[path.name]:.0f})"
            for path in WRITING_PATHS
        )
        + " |"
        for result in results
    ]
    lines.append("")
    if scale is QUICK:
        lines.append(
            "Quick run: too few reports for the figures to judge; scripts/benchmark"
            " for the verdict."
        )
    else:
        lines += [
            f"{result.name}: the integration is {result.ratio[PLAIN.name]:.1f}x"
            f" cheaper per report than YAML"
            f" ({result.ratio[ENCRYPTED_PATH.name]:.1f}x when encrypted):"
            + (
                f" meets at least {AT_LEAST:g}x."
                if result.ratio[PLAIN.name] >= AT_LEAST
                else f" DOES NOT MEET at least {AT_LEAST:g}x."
            )
            for result in results
        ]
    print("\n" + "\n".join(lines))
