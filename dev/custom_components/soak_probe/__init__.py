"""Soak probe: what the novabot integration holds inside a running Home Assistant.

For ``scripts/soak`` only (it is not shipped). Loaded from YAML
(``soak_probe:``), it adds one websocket command, ``soak_probe/census``: the
asyncio tasks and the timers on Home Assistant's event loop that belong to the
novabot integration, or to amqtt (which only the integration's gateway runs),
counted and grouped by what they run. A soak compares the census at its start
and at its end: what a fault leaves behind piles up there.

A task belongs to the first owner found along its coroutine's await chain (so
a service call waiting in the integration counts as the integration's). A
timer belongs to the owner of the function it will call, looked for through
partials, bound methods, Home Assistant's jobs and time trackers, closures, an
``asyncio.timeout`` (its task) and ``asyncio.sleep`` (the task it wakes).
"""

from __future__ import annotations

import asyncio
from collections import Counter
import dataclasses
import functools
import inspect
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import websocket_api
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HassJob, HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
import probatio as vol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import CodeType

    from homeassistant.components.websocket_api.connection import ActiveConnection
    from homeassistant.helpers.typing import ConfigType

DOMAIN: Final = "soak_probe"
CONFIG_SCHEMA = cv.empty_config_schema(DOMAIN)

# Owners and the packages whose code is theirs.
OWNERS: Final = {"novabot": "custom_components.novabot", "amqtt": "amqtt"}
MAX_DEPTH: Final = 5  # how far a timer's callback is unwrapped
MAX_AWAIT_CHAIN: Final = 64


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the census command."""
    websocket_api.async_register_command(hass, websocket_census)
    return True


@callback
@websocket_command({vol.Required("type"): f"{DOMAIN}/census"})
def websocket_census(
    hass: HomeAssistant,
    connection: ActiveConnection,
    msg: dict[str, Any],
) -> None:
    """Count the owners' tasks and timers on the event loop, now."""
    connection.send_result(msg["id"], Census(hass.loop).result())


class Census:
    """One look at the event loop's tasks and scheduled timers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._directories = {
            owner: str(Path(module.__file__).parent)
            for owner, name in OWNERS.items()
            if (module := sys.modules.get(name)) is not None and module.__file__
        }
        self._task_owners: dict[asyncio.Task[Any], tuple[str, str] | None] = {}

    def result(self) -> dict[str, Any]:
        """``{"tasks": {owner: n}, "timers": {owner: n}, "detail": ...}``."""
        tasks: Counter[str] = Counter()
        timers: Counter[str] = Counter()
        detail: Counter[str] = Counter()
        for task in asyncio.all_tasks(self._loop):
            if (found := self._task_owner(task)) is not None:
                tasks[found[0]] += 1
                detail[f"task {found[0]}: {found[1]}"] += 1
        # The loop's heap of timers; a cancelled one waits there to be dropped.
        scheduled: list[asyncio.TimerHandle] = getattr(self._loop, "_scheduled", [])
        for handle in list(scheduled):
            if handle.cancelled():
                continue
            # The handle's callback and arguments have no public accessors.
            callback_args = (handle._callback, *handle._args)  # type: ignore[attr-defined]
            if (found := self._first_owner(callback_args, 0)) is not None:
                timers[found[0]] += 1
                detail[f"timer {found[0]}: {found[1]}"] += 1
        return {
            "tasks": {owner: tasks[owner] for owner in OWNERS},
            "timers": {owner: timers[owner] for owner in OWNERS},
            "all_tasks": len(asyncio.all_tasks(self._loop)),
            "detail": dict(sorted(detail.items())),
        }

    def _code_owner(self, code: CodeType) -> tuple[str, str] | None:
        for owner, directory in self._directories.items():
            if code.co_filename.startswith(directory):
                return owner, code.co_qualname
        return None

    def _task_owner(self, task: asyncio.Task[Any]) -> tuple[str, str] | None:
        if task not in self._task_owners:
            self._task_owners[task] = next(
                (
                    found
                    for code in _await_chain(task.get_coro())
                    if (found := self._code_owner(code)) is not None
                ),
                None,
            )
        return self._task_owners[task]

    def _first_owner(
        self, objects: tuple[Any, ...], depth: int
    ) -> tuple[str, str] | None:
        for item in objects:
            if (found := self._owner(item, depth)) is not None:
                return found
        return None

    def _owner(self, item: Any, depth: int) -> tuple[str, str] | None:  # noqa: PLR0911 - one case per wrapper
        """Who will run when ``item`` is called back."""
        if depth > MAX_DEPTH or item is None:
            return None
        deeper = depth + 1
        if isinstance(item, asyncio.Task):
            return self._task_owner(item)
        if isinstance(item, asyncio.Future):
            # asyncio.sleep's timer resolves a future; its callback wakes a task.
            callbacks = [entry[0] for entry in getattr(item, "_callbacks", None) or ()]
            return self._first_owner(tuple(callbacks), deeper)
        if isinstance(item, functools.partial):
            return self._first_owner((item.func, *item.args), deeper)
        if isinstance(item, HassJob):
            return self._owner(item.target, deeper)
        bound = getattr(item, "__self__", None)
        if isinstance(bound, asyncio.Task):  # a task's wake-up, in C or Python
            return self._task_owner(bound)
        if inspect.ismethod(item):
            if (found := self._owner(item.__func__, deeper)) is not None:
                return found
            # A timeout's timer cancels its task; a tracker's runs its action.
            return self._owner_of_helper(bound, deeper)
        if inspect.isfunction(item):
            if (found := self._code_owner(item.__code__)) is not None:
                return found
            cells = tuple(
                value
                for cell in item.__closure__ or ()
                if callable(value := _contents(cell))
            )
            return self._first_owner(cells, deeper)
        return self._owner_of_helper(item, deeper)

    def _owner_of_helper(self, helper: Any, depth: int) -> tuple[str, str] | None:
        """What a timeout (its task) or a Home Assistant time tracker will run."""
        module = type(helper).__module__
        if module == "asyncio.timeouts":
            return self._owner(getattr(helper, "_task", None), depth)
        if not module.startswith("homeassistant.helpers.event"):
            return None
        if dataclasses.is_dataclass(helper):
            values = tuple(
                getattr(helper, field.name, None)
                for field in dataclasses.fields(helper)
            )
            return self._first_owner(
                tuple(
                    value
                    for value in values
                    if callable(value) or isinstance(value, HassJob)
                ),
                depth,
            )
        return None


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _await_chain(coroutine: Any) -> Iterator[CodeType]:
    """The code objects along a coroutine's await chain, outermost first."""
    for _ in range(MAX_AWAIT_CHAIN):
        if coroutine is None:
            return
        code = getattr(coroutine, "cr_code", None) or getattr(
            coroutine, "gi_code", None
        )
        if code is not None:
            yield code
        coroutine = getattr(coroutine, "cr_await", None) or getattr(
            coroutine, "gi_yieldfrom", None
        )
