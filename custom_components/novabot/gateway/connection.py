"""One client's TCP connection, from accept to close.

The connection reads and checks the CONNECT itself (so port scans and health
checks never reach amqtt, which would log them as errors), then frames every
later packet and drops those over ``MAX_PACKET_SIZE`` or over the per-client
rate before amqtt parses them. It also enforces the keep-alive, which amqtt
0.12 does not.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter

from ..const import LOGGER
from . import limits
from .counters import Disconnect, Drop
from .packets import (
    _IN_SESSION,
    _discard,
    _OversizedPacketError,
    _read_connect,
    _read_packet,
    _RejectedError,
)

if TYPE_CHECKING:
    from amqtt.broker import Broker

    from .counters import _Counters

_LISTENER = "default"  # amqtt requires a listener named "default"


class _TokenBucket:
    """Allows ``rate`` events per second on average, ``burst`` at once."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class _PacketReader(ReaderAdapter):  # type: ignore[misc]  # amqtt ships no type hints
    """amqtt's view of a client: only the packets the connection let through."""

    def __init__(self, connect: bytes) -> None:
        self._buffer = bytearray(connect)
        self._packets: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._eof = False

    def push(self, packet: bytes) -> None:
        self._packets.put_nowait(packet)

    def feed_eof(self) -> None:
        self._packets.put_nowait(None)

    def abort(self) -> None:
        """End the stream now, dropping packets amqtt has not started reading."""
        while not self._packets.empty():
            self._packets.get_nowait()
        self.feed_eof()

    async def read(self, n: int = -1) -> bytes:
        # Queue.get is safe to cancel (amqtt wraps reads in timeouts), so a
        # packet is either fully in the buffer or still in the queue.
        while not self._eof and len(self._buffer) < max(n, 1 if n < 0 else 0):
            packet = await self._packets.get()
            if packet is None:
                self._eof = True
            else:
                self._buffer += packet
        size = len(self._buffer) if n < 0 else n
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data  # shorter than n only at the end: amqtt reads that as "no data"


class _Connection:
    """One TCP client, from accept to close."""

    def __init__(
        self,
        counters: _Counters,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._counters = counters
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.remote_address: str = str(peer[0])
        self.remote_port: int = int(peer[1])
        self.client_id: str | None = None
        self.violations = 0
        self.closing = False
        self._bucket = _TokenBucket(limits.RATE_LIMIT, limits.RATE_BURST)
        self._packets: _PacketReader | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def peer(self) -> tuple[str, int]:
        return self.remote_address, self.remote_port

    @property
    def in_session(self) -> bool:
        """Handed to amqtt."""
        return self._pump is not None

    async def async_run(self, broker: Broker) -> None:
        """Check the CONNECT, then hand the session to amqtt until it ends."""
        keepalive = await self._async_handshake()
        if keepalive is None:
            return
        assert self._packets is not None
        idle_timeout = keepalive * limits.KEEPALIVE_GRACE if keepalive else None
        self._pump = asyncio.create_task(
            self._async_pump(idle_timeout), name=f"novabot gateway {self.peer}"
        )
        try:
            await broker.external_connected(
                self._packets, StreamWriterAdapter(self._writer), _LISTENER
            )
        finally:
            self._pump.cancel()
            await asyncio.wait([self._pump])

    async def _async_handshake(self) -> int | None:
        """Read the CONNECT; its keep-alive, or ``None`` when the client is turned away."""
        try:
            connect, keepalive = await _read_connect(self._reader)
        except _RejectedError as err:
            self._counters.dropped[err.reason] += 1
            if err.answer:
                self._writer.write(err.answer)  # flushed when the socket closes
            return None
        self._packets = _PacketReader(connect)
        return keepalive

    async def _async_pump(self, idle_timeout: float | None) -> None:
        """Move packets from the socket to amqtt, enforcing size, rate and keep-alive."""
        assert self._packets is not None
        try:
            while not self.closing:
                try:
                    packet = await self._async_next_packet(idle_timeout)
                except TimeoutError:
                    self.kick(Disconnect.KEEPALIVE_TIMEOUT)
                    break
                if packet is None:
                    break
                if not self._bucket.take():
                    self.violation(Drop.RATE_LIMITED)
                    continue
                self._packets.push(packet[0])
        except _RejectedError as err:
            # A broken stream or protocol: MQTT says close the connection.
            self._counters.dropped[err.reason] += 1
            self.kick(Disconnect.PROTOCOL_ERROR)
        except asyncio.IncompleteReadError, OSError:
            pass  # the client went away in the middle of a packet
        finally:
            self._packets.feed_eof()

    async def _async_next_packet(
        self, idle_timeout: float | None
    ) -> tuple[bytes, int] | None:
        """The next packet within the keep-alive; oversized ones are skipped and counted.

        Raises TimeoutError when the client stays silent for too long.
        """
        async with asyncio.timeout(idle_timeout) as deadline:
            while True:
                try:
                    return await _read_packet(self._reader, _IN_SESSION)
                except _OversizedPacketError as err:
                    await _discard(self._reader, err.body_length)
                    self.violation(Drop.OVERSIZED)
                    if self.closing:
                        return None
                    if idle_timeout is not None:  # the client was not silent
                        deadline.reschedule(
                            asyncio.get_running_loop().time() + idle_timeout
                        )

    def violation(self, reason: str) -> None:
        """Count a dropped packet; disconnect a client that keeps sending them."""
        self._counters.dropped[reason] += 1
        self.violations += 1
        LOGGER.debug(
            "Gateway dropped a packet from %s (%s:%s): %s",
            self.client_id,
            self.remote_address,
            self.remote_port,
            reason,
        )
        if self.violations >= limits.MAX_VIOLATIONS:
            self.kick(Disconnect.VIOLATIONS)

    def kick(self, reason: str | None) -> None:
        """End the session: amqtt sees the end of the stream and cleans up.

        ``reason`` is counted and logged; ``None`` is the gateway stopping.
        """
        if self.closing:
            return
        self.closing = True
        if reason is not None:
            self._counters.disconnected[reason] += 1
            LOGGER.info(
                "Gateway disconnected %s (%s:%s): %s",
                self.client_id,
                self.remote_address,
                self.remote_port,
                reason,
            )
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        if self._packets is not None:
            self._packets.abort()


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection; abort it when the peer does not take the last bytes."""
    writer.close()
    try:
        async with asyncio.timeout(limits.CLOSE_TIMEOUT):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass  # the peer reset the connection: it is closed either way
