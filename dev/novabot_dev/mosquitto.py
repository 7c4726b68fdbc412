"""A real Mosquitto on a loopback port: the tests' brokers and scripts/develop's.

One class configures Mosquitto for both, so the broker the tests run and the one
a developer clicks through are set up the same way: ``allow_anonymous``, the
logins (``mosquitto_passwd -b``), an optional ACL, one listener on 127.0.0.1.

Tests start it as a context manager (or through the fixtures in
``tests/mosquitto.py``)::

    with Mosquitto(allow_anonymous=False, users={"ha": "secret"}) as broker:
        ...  # broker.host, broker.port

scripts/develop runs it under its own supervisor instead: :meth:`prepare`
writes the files and returns the command line, :meth:`wait_until_listening`
waits for the port.

Mosquitto started as root drops its privileges to the ``mosquitto`` user, which
must be able to read its configuration, password and ACL files: they live in a
0755 directory as 0644 files (a ``mkdtemp`` directory is 0700). The broker logs
to stderr, which goes to ``mosquitto.log`` in that directory.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import TracebackType

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
EVERYTHING = ("all",)


def executable(name: str) -> str:
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
    ``users``: ``{name: password}``. ``acl``: the text of an ACL file.
    ``config``: a whole configuration instead of the one these options make, with
    ``{port}`` and ``{directory}`` filled in (the password file is
    ``{directory}/passwords``); ``files``: more files for it, by name.
    ``port``: a fixed port; by default a free one is picked once and kept
    across restarts. ``directory``: where its files go, kept after a stop; by
    default a temporary directory, removed by :meth:`stop`. ``log_types``:
    Mosquitto's ``log_type`` lines (everything, by default).
    """

    def __init__(
        self,
        *,
        allow_anonymous: bool = True,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        config: str | None = None,
        files: Mapping[str, str] | None = None,
        port: int | None = None,
        directory: Path | None = None,
        log_types: Sequence[str] = EVERYTHING,
    ) -> None:
        self.allow_anonymous = allow_anonymous
        self.users = dict(users or {})
        self.acl = acl
        self.config = config
        self.files = dict(files or {})
        self.log_types = tuple(log_types)
        self._port = port
        self._keep_directory = directory is not None
        self._directory = directory
        self._process: subprocess.Popen[bytes] | None = None

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
    def log_path(self) -> Path:
        """Where the broker's output goes."""
        if self._directory is None:
            raise RuntimeError("the broker has not been prepared")
        return self._directory / "mosquitto.log"

    @property
    def running(self) -> bool:
        """Whether the broker process (started by :meth:`start`) is alive."""
        return self._process is not None and self._process.poll() is None

    def prepare(self) -> list[str]:
        """Write the configuration, logins and ACL; the command that runs the broker."""
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="novabot-mosquitto-"))
        self._directory.mkdir(parents=True, exist_ok=True)
        self._directory.chmod(0o755)
        if self._port is None:
            self._port = free_port()
        self._write_logins()
        config = self._directory / "mosquitto.conf"
        config.write_text(self._config_text())
        config.chmod(0o644)
        return [executable("mosquitto"), "-c", str(config)]

    def wait_until_listening(self, exited: Callable[[], int | None]) -> None:
        """Block until the broker accepts connections; ``exited()``: its exit code."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if (code := exited()) is not None:
                raise RuntimeError(f"mosquitto exited with {code}:\n{self.log()}")
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

    def start(self) -> Self:
        """Start the broker and wait until it accepts connections.

        On failure nothing is left behind (process, log, temporary files) and
        the error carries what the broker logged.
        """
        if self.running:
            return self
        try:
            command = self.prepare()
            # The broker writes to its own copy of the descriptor.
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(  # noqa: S603 - fixed program
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            self.wait_until_listening(self._process.poll)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker (if running) and remove its temporary files."""
        try:
            self._terminate()
        finally:
            if self._directory is not None and not self._keep_directory:
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
        if self._directory is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        """Start the broker."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the broker."""
        self.stop()

    # --- internals ----------------------------------------------------------

    def _write_logins(self) -> None:
        """The password and ACL files, readable by the broker's user."""
        assert self._directory is not None
        passwords = self._directory / "passwords"
        passwords.unlink(missing_ok=True)
        if self.users:
            passwords.touch()
            for name, password in self.users.items():
                subprocess.run(  # noqa: S603 - fixed program and arguments
                    [
                        executable("mosquitto_passwd"),
                        "-b",
                        str(passwords),
                        name,
                        password,
                    ],
                    check=True,
                    capture_output=True,
                )
            passwords.chmod(0o644)
        files = {**self.files, **({"acl": self.acl} if self.acl is not None else {})}
        for name, text in files.items():
            path = self._directory / name
            path.write_text(text)
            path.chmod(0o644)

    def _config_text(self) -> str:
        assert self._directory is not None
        if self.config is not None:
            logging = ["log_dest stderr", *(f"log_type {t}" for t in self.log_types)]
            text = self.config.format(port=self.port, directory=self._directory)
            return "\n".join([text, "persistence false", *logging]) + "\n"
        lines = [
            f"listener {self.port} {HOST}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence false",
            "log_dest stderr",
            *(f"log_type {log_type}" for log_type in self.log_types),
            "connection_messages true",
        ]
        if self.users:
            lines.append(f"password_file {self._directory / 'passwords'}")
        if self.acl is not None:
            lines.append(f"acl_file {self._directory / 'acl'}")
        return "\n".join(lines) + "\n"

    def _terminate(self) -> None:
        """Terminate and reap the process; never raises on a dead one."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)


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
