"""The gateway's clients in the tests: a charger played by paho, a raw socket, packets."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

from .common import CLIENT_ID, LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from paho.mqtt.reasoncodes import ReasonCode

type ConnectCharger = Callable[..., Awaitable[PahoCharger]]
type OpenRawClient = Callable[[], Awaitable[RawClient]]


def packet(first_byte: int, body: bytes) -> bytes:
    """An MQTT packet: fixed header (with varint length) and body."""
    length, encoded = len(body), bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def utf8(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    client_id: str = "raw", keepalive: int = 60, name: bytes = b"MQTT", level: int = 4
) -> bytes:
    """An anonymous clean-session CONNECT."""
    return packet(
        0x10,
        utf8(name) + bytes([level, 0x02]) + keepalive.to_bytes(2) + utf8(client_id),
    )


def publish_packet(topic: str, payload: bytes) -> bytes:
    return packet(0x30, utf8(topic) + payload)


class PahoCharger:
    """A paho-mqtt client shaped like the charger, driven by the running loop.

    Anonymous unless given a login (what firmware v0.4.0 sends is disputed).

    paho's external-loop callbacks register its socket with asyncio, so no
    thread is started and nothing outlives ``close()``.
    """

    def __init__(
        self,
        port: int,
        client_id: str = CLIENT_ID,
        *,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: asyncio.Future[ReasonCode] = self.loop.create_future()
        self.disconnected = asyncio.Event()
        self.messages: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        client = self.client
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write

    def _on_socket_open(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.add_reader(sock, client.loop_read)

    def _on_socket_close(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.remove_reader(sock)
        self.loop.remove_writer(sock)

    def _on_register_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: paho.Client, _: Any, sock: Any) -> None:
        self.loop.remove_writer(sock)

    def _on_connect(self, *args: Any) -> None:
        if not self.connack.done():
            self.connack.set_result(args[3])

    def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    def _on_message(self, client: paho.Client, _: Any, message: Any) -> None:
        self.messages.put_nowait(message)

    def _on_subscribe(self, *args: Any) -> None:
        self._subacks.pop(args[2]).set_result(args[3])

    @property
    def local_port(self) -> int:
        """The client's own port, as the gateway sees it."""
        port: int = self.client.socket().getsockname()[1]
        return port

    async def connect(self) -> ReasonCode:
        # Connecting over loopback does not block for any noticeable time.
        self.client.connect(LOOPBACK, self.port, keepalive=60)
        async with asyncio.timeout(5):
            return await self.connack

    async def subscribe(self, *topics: str) -> list[ReasonCode]:
        _, mid = self.client.subscribe([(topic, 1) for topic in topics])
        future = self._subacks[mid] = self.loop.create_future()
        async with asyncio.timeout(5):
            return await future

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0)

    async def receive(self) -> paho.MQTTMessage:
        async with asyncio.timeout(5):
            return await self.messages.get()

    async def wait_disconnected(self) -> None:
        async with asyncio.timeout(5):
            await self.disconnected.wait()

    async def close(self) -> None:
        if self.client.is_connected():
            self.client.disconnect()
            await self.wait_disconnected()
        if (sock := self.client.socket()) is not None:  # never got connected
            self.loop.remove_reader(sock)
            self.loop.remove_writer(sock)
            sock.close()


class RawClient:
    """A client on a plain socket, for what a real MQTT client would not send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> RawClient:
        return cls(*await asyncio.open_connection(LOOPBACK, port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def send_then_half_close(self, data: bytes) -> None:
        """Send ``data`` and end the stream, keeping the connection open to read."""
        self.writer.write(data)
        self.writer.write_eof()

    async def read_connack(self) -> bytes:
        async with asyncio.timeout(5):
            return await self.reader.readexactly(4)

    async def connect(self, client_id: str = "raw", keepalive: int = 60) -> bytes:
        await self.send(connect_packet(client_id, keepalive))
        return await self.read_connack()

    async def wait_closed_by_peer(self, timeout: float = 5.0) -> bytes:
        """Everything the server sent until it closed the connection."""
        async with asyncio.timeout(timeout):
            return await self.reader.read()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
