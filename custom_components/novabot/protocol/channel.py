"""One command at a time: how to talk to a charger without losing anything.

The charger handles one message at a time and drops, without a reply, one that
arrives while it is busy: a mower command keeps it busy 1 to 4 s, while it
waits for the frame to go out and then checks three times, a second apart,
for the mower's acknowledgement. So commands wait in line: each goes out, then
the next waits for its ``<command>_respond`` or for the reply timeout, which is
longer than the charger can be busy. Replies are matched to the command that is
waiting, whenever they come (a refusal can come early).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .commands import REPLY_SUFFIX, Reply, parse_reply
from .errors import InvalidMessageError
from .framing import encode_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from .crypto import PayloadCodec

REPLY_TIMEOUT = 7.0  # the charger answers a mower command within ~4 s
# v0.4.0 decrypts into a 256-byte buffer: a command's text must be shorter.
MAX_COMMAND_BYTES = 255


class CommandTooLongError(ValueError):
    """A command's text would not fit the charger's 256-byte buffer."""


class CommandChannel:
    """Sends commands to one charger, one at a time, and matches their replies.

    ``publish`` puts a payload on the charger's command topic. Feed every decoded
    message from the charger to :meth:`reply_received`. Set ``codec`` once the
    charger is known to encrypt (firmware v0.4.0 drops plain commands). Without
    ``reply_timeout``, the module's ``REPLY_TIMEOUT`` applies.
    """

    def __init__(
        self,
        publish: Callable[[bytes], Awaitable[None]],
        *,
        reply_timeout: float | None = None,
    ) -> None:
        self._publish = publish
        self._reply_timeout = reply_timeout
        self._turn = asyncio.Lock()  # first come, first served
        self._waiting: tuple[str, asyncio.Future[Reply]] | None = None
        self.codec: PayloadCodec | None = None

    async def request(self, command: Mapping[str, Any]) -> Reply | None:
        """Send ``command`` when its turn comes; its reply, or ``None`` without one.

        Errors of ``publish`` propagate; the next command still gets its turn.
        """
        text = encode_json(command)
        if len(text) > MAX_COMMAND_BYTES:
            raise CommandTooLongError(
                f"{next(iter(command))} is over {MAX_COMMAND_BYTES} bytes"
            )
        payload = self.codec.encrypt(text) if self.codec else text
        reply_type = next(iter(command)) + REPLY_SUFFIX
        async with self._turn:
            future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiting = (reply_type, future)
            try:
                await self._publish(payload)
                timeout = self._reply_timeout
                async with asyncio.timeout(
                    REPLY_TIMEOUT if timeout is None else timeout
                ):
                    return await future
            except TimeoutError:
                return None
            finally:
                self._waiting = None

    def reply_received(self, document: Mapping[str, Any]) -> bool:
        """Take a message from the charger; whether it was a reply (not a report).

        A reply nobody waits for (it came too late, or twice) is dropped.
        """
        reply_type = document.get("type")
        if not isinstance(reply_type, str) or not reply_type.endswith(REPLY_SUFFIX):
            return False
        try:
            reply = parse_reply(document)
        except InvalidMessageError:
            return True  # a reply, if a garbled one: nothing to report
        if self._waiting is not None:
            expected, future = self._waiting
            if reply_type == expected and not future.done():
                future.set_result(reply)
        return True
