"""A real Mosquitto broker on a free loopback port, for tests.

Use the class directly, as a context manager (sockets must be enabled)::

    def test_something(socket_enabled: None) -> None:
        with Mosquitto(allow_anonymous=False, users={"ha": "secret"}) as broker:
            ...  # broker.host, broker.port

or through the pytest fixtures defined here. Make them visible to every test
module by adding to ``tests/conftest.py``::

    pytest_plugins = ["tests.mosquitto"]

(A test module may carry that line itself, as tests/protocol/test_broker.py
does; then it should import from this module only inside its tests, or pytest
warns that the module was imported before it could rewrite its asserts.)
Then ask for ``mosquitto`` (a started broker that admits anonymous clients) or
``mosquitto_factory`` (call it with the constructor's options to get more
brokers, all started; every one is stopped after the test)::

    async def test_probe(mosquitto_factory: MosquittoFactory) -> None:
        broker = mosquitto_factory(allow_anonymous=False)
        await broker.async_restart()  # same port

Both fixtures enable sockets (``socket_enabled``); the test still only reaches
127.0.0.1. From inside a running event loop prefer the ``async_*`` methods,
which run the blocking work in the executor.

Mosquitto started as root drops its privileges to the ``mosquitto`` user, which
must be able to read its configuration, password and ACL files: they live in a
0755 directory as 0644 files. The broker logs to stderr, which goes to
``mosquitto.log`` in that directory (see :meth:`Mosquitto.log`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
import contextlib
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import IO, TYPE_CHECKING, Any, Self

import pytest

if TYPE_CHECKING:
    from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

type MosquittoFactory = Callable[..., Mosquitto]


def _executable(name: str) -> str:
    """Find a Mosquitto program; Debian puts the broker in /usr/sbin."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError(f"{name} is not installed (scripts/setup installs it)")


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """One Mosquitto process listening on ``host``:``port`` (127.0.0.1 only).

    ``allow_anonymous``: whether clients without a login are admitted.
    ``users``: ``{name: password}``, written with ``mosquitto_passwd -b``.
    ``acl``: the text of an ACL file (``user ...``/``topic ...`` lines).
    ``port``: a fixed port; by default a free one is picked once and kept
    across restarts.
    """

    def __init__(
        self,
        *,
        allow_anonymous: bool = True,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        port: int | None = None,
    ) -> None:
        self.allow_anonymous = allow_anonymous
        self.users = dict(users or {})
        self.acl = acl
        self._port = port
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def host(self) -> str:
        """The address the broker listens on."""
        return HOST

    @property
    def port(self) -> int:
        """The broker's port (picked at the first start)."""
        if self._port is None:
            raise RuntimeError("the broker has not been started")
        return self._port

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start the broker and wait until it accepts connections.

        On failure nothing is left behind (process, log, files) and the
        error carries what the broker logged.
        """
        if self.running:
            return self
        try:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="novabot-mosquitto-"))
                self._directory.chmod(0o755)  # mkdtemp: 0700; the broker user reads
                self._write_files(self._directory)
            if self._port is None:
                self._port = free_port()
            config = self._directory / "mosquitto.conf"
            config.write_text(self._config_text())
            config.chmod(0o644)
            self._log_file = (self._directory / "mosquitto.log").open("ab")
            self._process = subprocess.Popen(  # noqa: S603 - fixed program, own file
                [_executable("mosquitto"), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=self._log_file,
            )
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker (if running) and remove its files."""
        try:
            self._terminate()
        finally:
            if self._directory is not None:
                shutil.rmtree(self._directory, ignore_errors=True)
                self._directory = None

    def restart(self) -> Self:
        """Stop the process and start it again on the same port."""
        self._terminate()
        return self.start()

    async def async_start(self) -> Self:
        """:meth:`start` from inside an event loop."""
        return await asyncio.to_thread(self.start)

    async def async_stop(self) -> None:
        """:meth:`stop` from inside an event loop."""
        await asyncio.to_thread(self.stop)

    async def async_restart(self) -> Self:
        """:meth:`restart` from inside an event loop."""
        return await asyncio.to_thread(self.restart)

    def log(self) -> str:
        """What the broker has written to stderr so far."""
        if self._directory is None:
            return ""
        path = self._directory / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ----------------------------------------------------------

    def _write_files(self, directory: Path) -> None:
        """The password and ACL files, readable by the broker's user."""
        if self.users:
            passwords = directory / "passwords"
            passwords.touch()
            for name, password in self.users.items():
                subprocess.run(  # noqa: S603 - fixed program and arguments
                    [
                        _executable("mosquitto_passwd"),
                        "-b",
                        str(passwords),
                        name,
                        password,
                    ],
                    check=True,
                    capture_output=True,
                )
            passwords.chmod(0o644)
        if self.acl is not None:
            acl = directory / "acl"
            acl.write_text(self.acl)
            acl.chmod(0o644)

    def _config_text(self) -> str:
        assert self._directory is not None
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence false",
            "log_dest stderr",
            "log_type all",
            "connection_messages true",
        ]
        if self.users:
            lines.append(f"password_file {self._directory / 'passwords'}")
        if self.acl is not None:
            lines.append(f"acl_file {self._directory / 'acl'}")
        return "\n".join(lines) + "\n"

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self._process.returncode}:\n{self.log()}"
                )
            # "running" is logged once every listener is open; the connection
            # proves the port is ours (another process may hold it).
            if " running" in self.log():
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection((HOST, self.port), timeout=0.5),
                ):
                    return
            time.sleep(0.02)
        raise RuntimeError(
            f"mosquitto did not listen on {HOST}:{self.port} "
            f"within {START_TIMEOUT:g} s:\n{self.log()}"
        )

    def _terminate(self) -> None:
        """Terminate and reap the process, then close its log; never raises on a dead one."""
        process, self._process = self._process, None
        try:
            if process is not None:
                stop_process(process)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None


def stop_process(process: subprocess.Popen[Any]) -> None:
    """End a process we started and reap it, whatever state it is in.

    SIGCONT first: a stopped (SIGSTOPped) process cannot act on SIGTERM.
    """
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)
        process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
