"""Home Assistant's REST and websocket API, as much as a development instance needs.

Onboarding (the ``dev`` user), a long-lived token, the charger entities'
states, and events from the bus over the websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp

from .layout import DEV_USER

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .layout import Layout

# {entity_id: state} of every Novabot entity.
ENTITY_STATES = (
    "{% set ns = namespace(states={}) %}"
    "{% for id in integration_entities('novabot') %}"
    "{% set ns.states = dict(ns.states, **{id: states(id)}) %}"
    "{% endfor %}{{ ns.states | tojson }}"
)


class ApiError(Exception):
    """Home Assistant answered, but not as expected."""


class HomeAssistantApi:
    """One instance's API, through ``session``."""

    def __init__(self, session: aiohttp.ClientSession, layout: Layout) -> None:
        self.session = session
        self.layout = layout
        self.url = layout.url
        self.token = ""

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def wait_for_http(self, deadline: float) -> None:
        """Until the HTTP server answers (monotonic ``deadline``)."""
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(f"{self.url}/api/onboarding") as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.25)
        raise TimeoutError("Home Assistant's HTTP server did not come up")

    async def ensure_token(self, password: str) -> str:
        """The long-lived token in the state directory, made (again) when needed."""
        path = self.layout.token
        access_token = await self._onboard(password)
        if access_token is None and path.exists():
            self.token = path.read_text().strip()
            if await self._token_works():
                return self.token
        if access_token is None:
            access_token = await self._login(password)
        self.token = await self._long_lived_token(access_token)
        path.write_text(self.token + "\n")
        path.chmod(0o600)
        return self.token

    async def charger_states(self) -> dict[str, str]:
        """``{entity_id: state}`` of every Novabot entity (empty until there are some)."""
        async with self.session.post(
            f"{self.url}/api/template",
            headers=self._auth(),
            json={"template": ENTITY_STATES},
        ) as response:
            if response.status != 200:
                return {}
            states: dict[str, str] = json.loads(await response.text())
            return states

    async def events(self, event_type: str) -> AsyncIterator[dict[str, Any]]:
        """The data of each ``event_type`` event, until the connection closes."""
        async with self.session.ws_connect(
            f"{self.url}/api/websocket", timeout=aiohttp.ClientWSTimeout(ws_close=5)
        ) as ws:
            await self._authenticate(ws, self.token)
            await ws.send_json(
                {"id": 1, "type": "subscribe_events", "event_type": event_type}
            )
            if not (await ws.receive_json()).get("success"):
                raise ApiError(f"could not subscribe to {event_type}")
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                if data.get("type") == "event":
                    yield data["event"]["data"]

    # --- logging in ---------------------------------------------------------------

    async def _onboard(self, password: str) -> str | None:
        """Create the owner ``dev`` if onboarding still wants one; an access token."""
        async with self.session.get(f"{self.url}/api/onboarding") as response:
            steps = await response.json() if response.status == 200 else []
        if not any(step["step"] == "user" and not step["done"] for step in steps):
            return None
        async with self.session.post(
            f"{self.url}/api/onboarding/users",
            json={
                "name": "Developer",
                "username": DEV_USER,
                "password": password,
                "client_id": self.layout.client_id,
                "language": "en",
            },
        ) as response:
            response.raise_for_status()
            code = (await response.json())["auth_code"]
        return await self._tokens_from_code(code)

    async def _login(self, password: str) -> str:
        """An access token through the username/password login flow."""
        client_id = self.layout.client_id
        async with self.session.post(
            f"{self.url}/auth/login_flow",
            json={
                "client_id": client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": client_id,
            },
        ) as response:
            response.raise_for_status()
            flow_id = (await response.json())["flow_id"]
        async with self.session.post(
            f"{self.url}/auth/login_flow/{flow_id}",
            json={"client_id": client_id, "username": DEV_USER, "password": password},
        ) as response:
            response.raise_for_status()
            result = await response.json()
        if result.get("type") != "create_entry":
            raise ApiError(f"login as {DEV_USER} failed: {result.get('errors')}")
        return await self._tokens_from_code(result["result"])

    async def _tokens_from_code(self, code: str) -> str:
        async with self.session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.layout.client_id,
            },
        ) as response:
            response.raise_for_status()
            access_token: str = (await response.json())["access_token"]
            return access_token

    async def _long_lived_token(self, access_token: str) -> str:
        async with self.session.ws_connect(f"{self.url}/api/websocket") as ws:
            await self._authenticate(ws, access_token)
            await ws.send_json(
                {
                    "id": 1,
                    "type": "auth/long_lived_access_token",
                    "client_name": f"scripts/develop {secrets.token_hex(3)}",
                    "lifespan": 3650,
                }
            )
            reply = await ws.receive_json()
        if not reply.get("success"):
            raise ApiError(f"no long-lived token: {reply}")
        token: str = reply["result"]
        return token

    async def _token_works(self) -> bool:
        async with self.session.get(
            f"{self.url}/api/", headers=self._auth()
        ) as response:
            return response.status == 200

    @staticmethod
    async def _authenticate(ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": token})
        if (await ws.receive_json())["type"] != "auth_ok":
            raise ApiError("websocket authentication failed")
