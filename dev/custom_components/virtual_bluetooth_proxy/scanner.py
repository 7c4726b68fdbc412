"""The scanner half of a virtual proxy: what Home Assistant's Bluetooth manager sees.

Like ESPHome's, it is a connectable ``BaseHaRemoteScanner``: advertisements
enter Home Assistant through the scanner's own entry point (raw AD bytes, as
proxies with raw advertisements send them), so the manager, its matchers and
its discovery flows handle them exactly as they handle a real proxy's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bluetooth_data_tools import monotonic_time_coarse
from habluetooth import BaseHaRemoteScanner, BluetoothScanningMode

if TYPE_CHECKING:
    from collections.abc import Callable

    from habluetooth import Allocations, HaBluetoothConnector


class VirtualProxyScanner(BaseHaRemoteScanner):
    """A remote scanner that hears what its proxy tells it to hear.

    ``allocations`` reports the proxy's connection slots; Home Assistant scores
    connection paths with it (a proxy with no free slot is skipped).
    """

    def __init__(
        self,
        source: str,
        adapter: str,
        connector: HaBluetoothConnector,
        allocations: Callable[[], Allocations],
    ) -> None:
        super().__init__(
            source,
            adapter,
            connector,
            connectable=True,
            # ESPHome proxies scan actively by default; saying so keeps Home
            # Assistant from warning about a passive scanner.
            requested_mode=BluetoothScanningMode.ACTIVE,
            current_mode=BluetoothScanningMode.ACTIVE,
        )
        self._allocations = allocations

    def get_allocations(self) -> Allocations:
        """Connection slots of this proxy: total, free, and who holds them."""
        return self._allocations()

    def hear(self, address: str, rssi: int, raw: bytes) -> None:
        """One advertisement from ``address``, received now at ``rssi``."""
        self._async_on_raw_advertisement(
            address, rssi, raw, {}, monotonic_time_coarse()
        )
