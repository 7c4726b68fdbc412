"""Home Assistant's websocket API: one connection, many requests at once.

Each request gets its own id and waits for its own result; the connection is
made (again) when a request needs it, so it outlives a restart of Home
Assistant. When it drops, the requests waiting on it end with
``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import TYPE_CHECKING, Any

import aiohttp

from ..hass_api import ApiError

if TYPE_CHECKING:
    from ..hass_api import HomeAssistantApi


class HassSocket:
    """A websocket connection to Home Assistant shared by every request."""

    def __init__(self, api: HomeAssistantApi) -> None:
        self._api = api
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._connecting = asyncio.Lock()

    async def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send ``message`` (without ``id``); Home Assistant's result message.

        Raises TimeoutError when no result comes within ``timeout`` seconds,
        ConnectionError when the connection drops first.
        """
        async with asyncio.timeout(timeout):
            ws = await self._connected()
            request_id = next(self._ids)
            future: asyncio.Future[dict[str, Any]] = (
                asyncio.get_running_loop().create_future()
            )
            self._pending[request_id] = future
            try:
                await ws.send_json({"id": request_id, **message})
                return await future
            finally:
                self._pending.pop(request_id, None)

    async def result(self, message: dict[str, Any], timeout: float = 30.0) -> Any:
        """The ``result`` of a request that must succeed."""
        reply = await self.request(message, timeout)
        if not reply.get("success"):
            raise ApiError(f"{message['type']} failed: {reply.get('error')}")
        return reply.get("result")

    async def _connected(self) -> aiohttp.ClientWebSocketResponse:
        async with self._connecting:
            if self._ws is None or self._ws.closed:
                api = self._api
                ws = await api.session.ws_connect(
                    f"{api.url}/api/websocket",
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                )
                await ws.receive_json()  # auth_required
                await ws.send_json({"type": "auth", "access_token": api.token})
                if (await ws.receive_json())["type"] != "auth_ok":
                    await ws.close()
                    raise ApiError("websocket authentication failed")
                self._ws = ws
                self._reader = asyncio.create_task(self._read(ws))
            return self._ws

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = message.json()
                future = self._pending.get(data.get("id", 0))
                if data.get("type") == "result" and future and not future.done():
                    future.set_result(data)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("websocket closed"))

    async def close(self) -> None:
        """Close the connection and stop reading."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
