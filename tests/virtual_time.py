"""Run a coroutine on an event loop whose clock jumps instead of waiting.

The charger takes up to a minute for some provisioning steps; tests that play
those timings out should not. On :class:`VirtualTimeLoop`, ``loop.time()`` is
a virtual clock: whenever nothing is ready to run and only timers are pending,
the clock jumps to the next timer instead of sleeping. ``asyncio.sleep`` and
``asyncio.timeout`` keep their meaning, in virtual seconds, so a test can
assert how long something took on the charger's clock, exactly.

Only for code that waits on timers and in-memory events: real I/O would see
the clock jump while it is in flight.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping


class _JumpingSelector(selectors.BaseSelector):
    """A selector that advances the loop's virtual clock instead of blocking."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._selector = selectors.DefaultSelector()
        self._loop = loop

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._selector.select(0)
        if ready or timeout is None:
            # Nothing scheduled: only a real event (a thread's callback) can come.
            return ready or self._selector.select(None)
        self._loop.advance(timeout)
        return []

    def register(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._selector.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._selector.unregister(fileobj)

    def modify(
        self, fileobj: Any, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._selector.modify(fileobj, events, data)

    def close(self) -> None:
        self._selector.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._selector.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock that starts at 0."""

    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (the selector does, when the loop would sleep)."""
        self._now += max(seconds, 0.0)


def run_in_virtual_time[T](coroutine: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """Run ``coroutine`` to completion; its result and the virtual seconds it took."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        loop = runner.get_loop()
        result = runner.run(coroutine)
        return result, loop.time()
