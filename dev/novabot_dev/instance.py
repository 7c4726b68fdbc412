"""A development instance: Mosquitto, Home Assistant and simulated chargers.

What scripts/develop runs, and what the browser test runs in temporary
directories on free ports::

    async with DevelopmentInstance(layout) as instance:
        states = await instance.until_ready(started)
        ...                                   # a browser, say
        code = await instance.supervise(stopping, on_ready)  # scripts/develop only

Home Assistant runs the novabot integration from this clone and the virtual
Bluetooth proxy from ``dev/`` (both on ``PYTHONPATH``: see the proxy's
docstring), with the configuration ``first_run`` writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING, Self

import aiohttp

from . import first_run
from .chargers import SimulatedChargers
from .hass_api import ApiError, HomeAssistantApi
from .layout import ROOT
from .mosquitto import Mosquitto
from .processes import Processes, say

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from .layout import Layout

VENV_BIN = ROOT / ".venv" / "bin"
PYTHONPATH = os.pathsep.join([str(ROOT), str(ROOT / "dev")])
RESTART_EXIT_CODE = 100  # hass exits with it when a restart is asked for
START_TIMEOUT = 300.0  # seconds until the charger's entities must be available
MOSQUITTO_LOG_TYPES = ("error", "warning", "notice", "information")


def available(states: dict[str, str]) -> bool:
    """Whether there are charger entities and every one has heard its charger."""
    return bool(states) and "unavailable" not in states.values()


class DevelopmentInstance:
    """The processes of one instance; ``async with`` starts and stops them.

    ``console``: Home Assistant's console output goes to this terminal (else
    to ``home-assistant.console.log`` in the state directory). ``encrypt``:
    the simulated chargers speak like firmware v0.4.0.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        console: bool = True,
        encrypt: bool = False,
    ) -> None:
        self.layout = layout
        self.processes = Processes(layout.pids)
        self.chargers = SimulatedChargers(self.processes, layout, encrypt=encrypt)
        self.credentials: dict[str, str] = {}
        self._console = console
        self._session: aiohttp.ClientSession | None = None
        self._api: HomeAssistantApi | None = None
        self._following: asyncio.Task[None] | None = None
        self._mosquitto: Mosquitto | None = None

    @property
    def api(self) -> HomeAssistantApi:
        """Home Assistant's API (logged in once :meth:`until_ready` returned)."""
        assert self._api is not None
        return self._api

    async def __aenter__(self) -> Self:
        """Write the first run's files if needed, start Mosquitto and Home Assistant."""
        layout = self.layout
        self.credentials = first_run.load_credentials(layout)
        if first_run.needed(layout):
            say(f"first run: writing {layout.config} and {layout.state}")
            first_run.write_config(layout, self.credentials)
        layout.state.chmod(0o755)  # Mosquitto's user reads its files in there
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._api = HomeAssistantApi(self._session, layout)
        try:
            await self._start_mosquitto()
            await self._start_home_assistant()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the chargers, Home Assistant and Mosquitto, in that order."""
        await self._stop()

    async def until_ready(self, started: float) -> dict[str, str]:
        """Until Home Assistant answers and the chargers' entities are available.

        Logs in (creating the user on the first run), powers on the chargers set
        up before, and follows provisioning from then on. Returns the charger
        entities' states.
        """
        deadline = time.monotonic() + START_TIMEOUT
        await self.api.wait_for_http(deadline)
        await self.api.ensure_token(self.credentials["dev_password"])
        if self._following is not None:
            self._following.cancel()
        self._following = asyncio.create_task(self._follow_provisioning())
        await self.chargers.power_on(
            first_run.chargers_configured(self.layout), deadline
        )
        states: dict[str, str] = {}
        while not available(states := await self.api.charger_states()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the charger's entities are unavailable: {states}")
            await asyncio.sleep(0.5)
        say(f"ready in {time.monotonic() - started:.0f} s")
        return states

    async def supervise(
        self, stopping: asyncio.Event, on_ready: Callable[[dict[str, str], bool], None]
    ) -> int:
        """Bring the instance up and keep it up until ``stopping`` is set.

        ``on_ready(states, first)`` hears when it is ready, and again after each
        restart (Settings > System > Restart): Home Assistant asking for one is
        started again; any other child exiting ends the instance. Returns the
        exit code.
        """
        stop = asyncio.ensure_future(stopping.wait())
        first = True
        ready: asyncio.Future[dict[str, str]] | None = asyncio.ensure_future(
            self.until_ready(time.monotonic())
        )
        try:
            while True:
                exited = asyncio.ensure_future(self.processes.first_exit())
                waiting = {exited, stop} | ({ready} if ready else set())
                done, _ = await asyncio.wait(
                    waiting, return_when=asyncio.FIRST_COMPLETED
                )
                if exited not in done:
                    exited.cancel()
                if stop in done:
                    return 0
                if ready in done:
                    assert ready is not None
                    if error := ready.exception():
                        say(f"start-up failed: {error}")
                        return 1
                    on_ready(ready.result(), first)
                    ready, first = None, False
                    continue
                name = exited.result()
                code = self.processes.running[name].returncode
                if name != "home-assistant" or code != RESTART_EXIT_CODE:
                    say(
                        f"{name} exited unexpectedly (code {code}); stopping the others"
                    )
                    return 1
                say("Home Assistant asked for a restart; starting it again")
                self.processes.forget(name)
                await self._start_home_assistant()
                if ready:
                    ready.cancel()
                ready = asyncio.ensure_future(self.until_ready(time.monotonic()))
        finally:
            for task in (stop, ready):
                if task is not None:
                    task.cancel()

    # --- the parts -------------------------------------------------------------

    async def _start_mosquitto(self) -> None:
        """Mosquitto like the Home Assistant add-on: logins required."""
        layout = self.layout
        broker = self._mosquitto = Mosquitto(
            allow_anonymous=False,
            users={"homeassistant": self.credentials["mqtt_password"]},
            port=layout.mqtt_port,
            directory=layout.mosquitto,
            log_types=MOSQUITTO_LOG_TYPES,
        )
        say(f"starting Mosquitto on {layout.host}:{layout.mqtt_port} (logins required)")
        process = await self.processes.start(
            "mosquitto", broker.prepare(), broker.log_path
        )
        await asyncio.to_thread(broker.wait_until_listening, lambda: process.returncode)

    async def _start_home_assistant(self) -> None:
        layout = self.layout
        say(
            f"starting Home Assistant on {layout.url} "
            f"(its log: {layout.config / 'home-assistant.log'})"
        )
        await self.processes.start(
            "home-assistant",
            [str(VENV_BIN / "hass"), "-c", str(layout.config), "--skip-pip"],
            None if self._console else layout.state / "home-assistant.console.log",
            env={"PYTHONPATH": PYTHONPATH},
        )

    async def _follow_provisioning(self) -> None:
        """Chargers provisioned from now on start reporting; ends with Home Assistant."""
        try:
            await self.chargers.follow_provisioning(self.api)
        except (aiohttp.ClientError, ApiError) as err:
            say(f"not following provisioning any more: {err!r}")

    async def _stop(self) -> None:
        if self._following is not None:
            self._following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._following
        await self.processes.stop_all()
        if self._mosquitto is not None:
            self._mosquitto.stop()  # removes its files, unless they are kept
        if self._session is not None:
            await self._session.close()
