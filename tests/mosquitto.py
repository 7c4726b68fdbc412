"""Pytest plugin: real Mosquitto brokers on free loopback ports.

The broker itself is ``dev/novabot_dev/mosquitto.py``, shared with
scripts/develop so that both configure Mosquitto the same way; it is
re-exported here. Use the class directly, as a context manager (sockets must
be enabled)::

    def test_something(socket_enabled: None) -> None:
        with Mosquitto(allow_anonymous=False, users={"ha": "secret"}) as broker:
            ...  # broker.host, broker.port

or through the fixtures below, visible to every test module through
``tests/conftest.py``'s ``pytest_plugins = ["tests.mosquitto", ...]``. (A test
module may carry that line itself, as tests/protocol/test_broker.py does; then
it should import from this module only inside its tests, or pytest warns that
the module was imported before it could rewrite its asserts.) Ask for
``mosquitto`` (a started broker that admits anonymous clients) or
``mosquitto_factory`` (call it with the constructor's options to get more
brokers, all started; every one is stopped after the test)::

    async def test_probe(mosquitto_factory: MosquittoFactory) -> None:
        broker = mosquitto_factory(allow_anonymous=False)
        await broker.async_restart()  # same port

Both fixtures enable sockets (``socket_enabled``); the test still only reaches
127.0.0.1. From inside a running event loop prefer the ``async_*`` methods,
which run the blocking work in the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from typing import Any

from novabot_dev.mosquitto import Mosquitto, free_port, stop_process
import pytest

__all__ = ["Mosquitto", "MosquittoFactory", "free_port", "stop_process"]

type MosquittoFactory = Callable[..., Mosquitto]


@pytest.fixture
def mosquitto_factory(socket_enabled: None) -> Iterator[MosquittoFactory]:
    """Start brokers on demand: ``mosquitto_factory(allow_anonymous=False, ...)``."""
    with contextlib.ExitStack() as stack:

        def factory(**options: Any) -> Mosquitto:
            broker = Mosquitto(**options)
            stack.callback(broker.stop)  # registered first: stopped even if start fails
            return broker.start()

        yield factory


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started broker that admits anonymous clients."""
    return mosquitto_factory()
