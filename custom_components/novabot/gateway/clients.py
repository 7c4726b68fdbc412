"""The gateway's clients: every TCP connection it accepted, until it closes.

At most ``MAX_CLIENTS`` are served; the next ones are answered "server
unavailable", and a flood of them is closed unread. Each connection
(``connection``) is known by its client id once amqtt accepted its CONNECT;
a newer one with the same id takes over. Stopping ends them all.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback

from ..const import LOGGER
from . import limits
from .connection import _close_writer, _Connection
from .counters import Disconnect, Drop
from .packets import _answer_unavailable

if TYPE_CHECKING:
    from amqtt.broker import Broker
    from amqtt.session import Session

    from .counters import _Counters


class _Clients:
    """The connections to one listening socket, and the clients behind them."""

    def __init__(self, counters: _Counters) -> None:
        self._counters = counters
        # Where admitted connections go: amqtt, while it runs.
        self.broker: Broker | None = None
        self._connections: set[_Connection] = set()
        self._by_client_id: dict[str, _Connection] = {}
        # Each connection's task, with its connection once it has one.
        self._serving: dict[asyncio.Task[None], _Connection | None] = {}
        self._refusing = 0

    async def async_serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Serve one TCP connection (asyncio runs this as a task per client)."""
        task = asyncio.current_task()
        assert task is not None
        self._serving[task] = None
        self._counters.connections += 1
        try:
            if len(self._connections) >= limits.MAX_CLIENTS:
                await self._async_refuse(reader, writer)
                return
            connection = _Connection(self._counters, reader, writer)
            self._connections.add(connection)
            self._serving[task] = connection
            try:
                assert self.broker is not None
                await connection.async_run(self.broker)
            finally:
                self._connections.discard(connection)
                if (
                    connection.client_id is not None
                    and self._by_client_id.get(connection.client_id) is connection
                ):
                    del self._by_client_id[connection.client_id]
        except Exception:  # noqa: BLE001 - one client must not take the gateway down
            LOGGER.debug("Gateway connection ended with an error", exc_info=True)
        finally:
            await _close_writer(writer)
            del self._serving[task]

    async def _async_refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer a client over the limit with "server unavailable"."""
        self._counters.dropped[Drop.TOO_MANY_CLIENTS] += 1
        if self._refusing >= limits.MAX_CLIENTS:
            return  # a flood of connections: close without reading anything
        self._refusing += 1
        try:
            await _answer_unavailable(reader, writer)
        finally:
            self._refusing -= 1

    @callback
    def client_connected(self, client_id: str, session: Session) -> None:
        """A client passed amqtt's CONNECT: name its connection, end an older one.

        [MQTT-3.1.4-2]: a new connection with a client id takes over.
        """
        address = (session.remote_address, session.remote_port)
        connection = next((c for c in self._connections if c.peer == address), None)
        if connection is None:  # pragma: no cover - it disconnected meanwhile
            return
        connection.client_id = client_id
        previous = self._by_client_id.get(client_id)
        self._by_client_id[client_id] = connection
        if previous is not None and previous is not connection:
            # amqtt keeps the old connection of a clean-session client open.
            previous.kick(Disconnect.TAKEOVER)

    def violation(self, client_id: str | None, reason: str) -> None:
        """Count a client's dropped packet against its connection."""
        connection = self._by_client_id.get(client_id) if client_id else None
        if connection is None:  # pragma: no cover - not yet (or no longer) known
            self._counters.dropped[reason] += 1
        else:
            connection.violation(reason)

    async def async_end_all(self) -> None:
        """End every connection (the socket accepts no more); leaves no task behind."""
        for task, connection in self._serving.items():
            if connection is not None and connection.in_session:
                connection.kick(None)  # amqtt ends the session cleanly
            else:
                task.cancel()  # still being admitted or refused
        if self._serving:
            _, pending = await asyncio.wait(self._serving, timeout=limits.STOP_TIMEOUT)
            for task in pending:  # pragma: no cover - a session amqtt did not end
                task.cancel()
            if pending:  # pragma: no cover
                await asyncio.wait(pending)

    def diagnostics(self) -> list[dict[str, Any]]:
        """The connected clients: client id and remote address."""
        return sorted(
            (
                {
                    "client_id": connection.client_id,
                    "remote_address": connection.remote_address,
                    "remote_port": connection.remote_port,
                }
                for connection in self._connections
                if connection.client_id is not None and not connection.closing
            ),
            key=lambda client: (client["client_id"], client["remote_port"]),
        )
