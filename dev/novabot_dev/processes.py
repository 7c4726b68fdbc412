"""The instance's child processes: started in their own sessions, stopped together.

Each child runs in a session of its own, so Ctrl-C reaches only the
supervisor, which stops them in order. Their pids are noted in a file, so that a
later run can stop what a run killed without a chance to clean up left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from .layout import ROOT

if TYPE_CHECKING:
    from collections.abc import Mapping

# How long each kind of child may take to stop after SIGTERM; the key is the
# name's first word ("simulator LFIC..." is a simulator).
STOP_TIMEOUT = {"simulator": 5.0, "home-assistant": 60.0, "mosquitto": 5.0}
STOP_ORDER = ("simulator", "home-assistant", "mosquitto")  # chargers, hub, broker


def say(text: str) -> None:
    """A line on the terminal, marked as scripts/develop's."""
    print(f"[develop] {text}", flush=True)  # noqa: T201 - the developer reads it


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor is killed without cleaning up."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _kind(name: str) -> str:
    return name.split(maxsplit=1)[0]


class Processes:
    """Named child processes; ``pids`` is the file their pids are noted in."""

    def __init__(self, pids: Path) -> None:
        self.pids = pids
        self.running: dict[str, asyncio.subprocess.Process] = {}

    async def start(
        self,
        name: str,
        args: list[str],
        log: Path | None,
        env: Mapping[str, str] | None = None,
        *,
        pipes: bool = False,
    ) -> asyncio.subprocess.Process:
        """Start ``args`` as ``name``; output to ``log``, or to this terminal.

        ``pipes``: its stdin and stdout are pipes to this process (a simulated
        charger taking faults and telling what it did); stderr goes to ``log``.
        """
        # The child writes to its own copy of the log's descriptor.
        with contextlib.ExitStack() as stack:
            output = None if log is None else stack.enter_context(log.open("ab"))
            process = await asyncio.create_subprocess_exec(
                *args,
                cwd=ROOT,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else output,
                stderr=output,
                env=None if env is None else {**os.environ, **env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.running[name] = process
        self._note_pids()
        return process

    def _note_pids(self) -> None:
        pids = {name: process.pid for name, process in self.running.items()}
        self.pids.write_text(json.dumps({"develop": os.getpid(), **pids}) + "\n")

    async def first_exit(self) -> str:
        """Wait until one child exits; its name."""
        waits = {
            asyncio.ensure_future(process.wait()): name
            for name, process in self.running.items()
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        return waits[next(iter(done))]

    def forget(self, name: str) -> None:
        """A child that exited on purpose (Home Assistant restarting, say)."""
        del self.running[name]
        self._note_pids()

    async def stop(self, name: str) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        process = self.running.pop(name, None)
        if process is None:
            return
        if process.returncode is None:
            process.terminate()
            timeout = STOP_TIMEOUT[_kind(name)]
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                say(f"{name} did not stop in {timeout:g} s; killing it")
                process.kill()
                await process.wait()
        say(f"{name} stopped")

    async def stop_all(self) -> None:
        """The chargers first, Home Assistant (and its gateway) next, the broker last."""
        for kind in STOP_ORDER:
            for name in [name for name in self.running if _kind(name) == kind]:
                await self.stop(name)
        self.pids.unlink(missing_ok=True)


def _alive_with(pid: int, argument: str) -> bool:
    """Whether process ``pid`` runs and has ``argument`` on its command line."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(part.endswith(argument.encode()) for part in command_line)


def stop_leftovers(pids: Path, markers: Mapping[str, str]) -> None:
    """Stop what an earlier run left running (it was killed, say, with SIGKILL).

    Home Assistant and the simulators die with the supervisor (parent-death
    signal); Mosquitto does not, as it changes user when started as root. Only
    a process whose command line ends with its kind's marker (a path of this
    clone) is stopped.
    """
    try:
        recorded: dict[str, int] = json.loads(pids.read_text())
    except FileNotFoundError, ValueError:
        return
    if _alive_with(recorded.pop("develop", 0), "develop"):
        sys.exit("scripts/develop is already running here; stop it first (Ctrl-C)")
    for name, pid in recorded.items():
        if not _alive_with(pid, markers.get(_kind(name), "\0")):
            continue  # gone, or the pid belongs to somebody else by now
        say(f"stopping a {name} (pid {pid}) left over from an earlier run")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT[_kind(name)]
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pids.unlink(missing_ok=True)
