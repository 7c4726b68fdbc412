"""The LoRa link between a simulated charger and its mower.

The specification is ``docs/charger-protocol.md`` in the shared docs (§1 "The
radio pairing"; §2 ``mower_error`` and ``get_lora_info``): where this model and
that document disagree, this model is wrong.

One :class:`LoraLink` per charger, shared by the charger's two faces: its
Bluetooth provisioning firmware (``tests/virtual_charger.py``) reprograms it
with ``set_lora_info``, and its MQTT firmware (``tests/charger_firmware.py``)
shows what follows, in its reports and its replies. As on real chargers:

* each charger has its own factory address (a u16; the vendor cloud's records
  hold 16..65485) and channel (0..80), and its mower is paired to exactly that
  address and channel. :meth:`LoraLink.factory` draws both from a random source
  the caller can seed, never 718 (one real charger's address, not a default);
* ``set_lora_info`` programs an address and scans channels ``lc``..``hc`` for
  the quietest one whose noise reading is below 146 (-110 dBm), for up to 60 s.
  With ``hc`` = ``lc`` the channel is pinned: no real scan. A scan that finds no
  quiet channel times out and stores nothing. The new address and channel take
  effect when the scan ends (the firmware's own task runs it: a Bluetooth link
  dropped meanwhile changes nothing), and the noise reading of the channel it
  landed on becomes the charger's ``rssi``;
* the mower answers only while the charger's address and channel equal its
  pairing, while it is in range (:meth:`LoraLink.mower_out_of_range`,
  :meth:`LoraLink.mower_back_in_range`), and while no scan runs. Nothing the
  charger does re-pairs it;
* the charger polls the mower every 1.5 s; :meth:`LoraLink.missed_heartbeats`
  counts the polls in a row it did not answer since the charger booted. Polls
  pause during a channel scan: no miss is counted while scanning.

The airwaves: ``noise`` holds each channel's raw noise reading. By default every
channel is quiet enough and channel 15 is the quietest (quieter the nearer 15),
so a scan over a range that holds 15 lands on it whatever channel was asked
for; :func:`quiet_channels_noise` makes only some channels quiet enough.

Times are plain numbers, seconds on the caller's clock; state that a scan
changes is brought up to date by every method that takes ``now`` (and by
:meth:`LoraLink.settle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    import random

CHANNELS = range(81)
FACTORY_ADDRESSES = range(16, 65486)  # what the vendor cloud's records hold
ANOTHER_CHARGERS_ADDRESS = 718  # one real charger's own: never a factory default
ACCEPTABLE_NOISE = 146  # a scan accepts a channel whose reading is below (-110 dBm)
QUIETEST_CHANNEL = 15  # by default
QUIET = 120  # -136 dBm: the quietest reading here
NOISY = 160  # -96 dBm: a channel no scan accepts
START_UP_NOISE = 157  # -99 dBm: the reading a captured charger reported
HEARTBEAT_PERIOD = 1.5  # seconds between the charger's polls of its mower


@dataclass(frozen=True, slots=True)
class Pairing:
    """What a LoRa radio is set to: both ends must agree on both."""

    address: int
    channel: int


@dataclass(frozen=True, slots=True)
class Scan:
    """One ``set_lora_info`` scan: when it runs, what it stores at its end."""

    start: float
    end: float
    stores: Pairing | None  # None: it times out

    def overlap(self, start: float, end: float) -> float:
        """How much of ``start``..``end`` it covers."""
        return max(0.0, min(end, self.end) - max(start, self.start))


def default_noise() -> list[int]:
    """Every channel quiet enough; the nearer channel 15, the quieter."""
    return [
        QUIET + min(abs(channel - QUIETEST_CHANNEL), ACCEPTABLE_NOISE - QUIET - 1)
        for channel in CHANNELS
    ]


def quiet_channels_noise(quiet: Sequence[int]) -> list[int]:
    """Only the ``quiet`` channels are quiet enough; the first is the quietest."""
    noise = [NOISY] * len(CHANNELS)
    for rank, channel in enumerate(quiet):
        noise[channel] = min(QUIET + rank, ACCEPTABLE_NOISE - 1)
    return noise


@dataclass
class LoraLink:
    """A charger's LoRa radio, its mower's pairing, and what the air does."""

    address: int
    channel: int
    mower_pairing: Pairing | None  # what the mower's radio is set to; None: no mower
    noise: list[int] = field(default_factory=default_noise)
    rssi: int = START_UP_NOISE  # the charger's last noise reading (raw byte)
    mower_in_range: bool = True
    scans: list[Scan] = field(default_factory=list)  # every scan, in order
    # When the mower stopped answering (-inf: never answered); None: it answers.
    silent_since: float | None = field(init=False)
    _pending: list[Scan] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.silent_since = None if self._reachable() else -math.inf

    @classmethod
    def factory(
        cls,
        rng: random.Random,
        *,
        address: int | None = None,
        channel: int | None = None,
        mower: bool = True,
    ) -> LoraLink:
        """A charger as it leaves the factory: its own address and channel
        (random unless given), its mower (if any) paired to both."""
        if address is None:
            address = ANOTHER_CHARGERS_ADDRESS
            while address == ANOTHER_CHARGERS_ADDRESS:
                address = rng.choice(FACTORY_ADDRESSES)
        if channel is None:
            channel = rng.choice(CHANNELS)
        return cls(address, channel, Pairing(address, channel) if mower else None)

    @property
    def pairing(self) -> Pairing:
        """The charger's own address and channel, as stored now."""
        return Pairing(self.address, self.channel)

    # --- set_lora_info ------------------------------------------------------

    def landing_channel(self, low: int, high: int) -> int | None:
        """Where a scan of ``low``..``high`` ends; ``None`` when it times out.

        ``low`` = ``high`` pins the channel: no real scan, no noise check.
        """
        if low == high:
            return low
        acceptable = [
            channel
            for channel in range(min(low, high), max(low, high) + 1)
            if self.noise_at(channel) < ACCEPTABLE_NOISE
        ]
        return min(acceptable, key=lambda c: (self.noise_at(c), c), default=None)

    def reprogram(
        self,
        address: int,
        low: int,
        high: int,
        *,
        now: float,
        duration: float,
        times_out: bool = False,
    ) -> Pairing | None:
        """Scan from ``now`` for ``duration``; the pairing stored at its end.

        ``None``: the scan times out (no quiet channel, or ``times_out``), and
        address and channel stay as they were.
        """
        self.settle(now)
        channel = None if times_out else self.landing_channel(low, high)
        stores = None if channel is None else Pairing(address, channel)
        scan = Scan(now, now + duration, stores)
        self.scans.append(scan)
        self._pending.append(scan)
        self.settle(now)
        return stores

    def settle(self, now: float) -> None:
        """Apply what the scans that ended by ``now`` stored."""
        while self._pending and self._pending[0].end <= now:
            scan = self._pending.pop(0)
            if scan.stores is not None:
                self.address, self.channel = scan.stores.address, scan.stores.channel
                self.rssi = self.noise_at(scan.stores.channel)
                self._refresh(scan.end)

    def scanning(self, now: float) -> bool:
        """Whether a channel scan runs at ``now``."""
        return any(scan.start <= now < scan.end for scan in self.scans)

    def noise_at(self, channel: int) -> int:
        """A channel's raw noise reading (a channel the radio lacks is noisy)."""
        return self.noise[channel] if channel in CHANNELS else NOISY

    # --- the mower ----------------------------------------------------------

    def mower_answers(self, now: float) -> bool:
        """Whether the mower hears the charger and answers it at ``now``."""
        self.settle(now)
        return self.silent_since is None and not self.scanning(now)

    def mower_out_of_range(self, now: float) -> None:
        """The mower drives (or is carried) beyond the radio's reach."""
        self.settle(now)
        self.mower_in_range = False
        self._refresh(now)

    def mower_back_in_range(self, now: float) -> None:
        """The mower is within reach again (it answers if still paired)."""
        self.settle(now)
        self.mower_in_range = True
        self._refresh(now)

    def missed_heartbeats(self, now: float, booted: float) -> int:
        """Polls in a row the mower has not answered by ``now``.

        The count starts afresh at each boot, and no poll goes out while a
        channel scan runs.
        """
        self.settle(now)
        if self.silent_since is None:
            return 0
        since = max(self.silent_since, booted)
        if now <= since:
            return 0
        scanning = sum(scan.overlap(since, now) for scan in self.scans)
        return int((now - since - scanning) // HEARTBEAT_PERIOD)

    def _reachable(self) -> bool:
        return self.mower_in_range and self.mower_pairing == self.pairing

    def _refresh(self, now: float) -> None:
        if self._reachable():
            self.silent_since = None
        elif self.silent_since is None:
            self.silent_since = now
