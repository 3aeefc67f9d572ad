"""Waiting on a worker thread for a coroutine that runs on the event loop.

The cheapest hand-off there is: one ``call_soon_threadsafe`` that starts a task, and a plain
lock released from inside the task's last step. ``asyncio.run_coroutine_threadsafe`` chains
a ``concurrent.futures.Future`` to the task and releases the thread from a done-callback one
loop turn later, which costs about twice as much per round trip.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["LoopWaiter"]


class LoopWaiter:
    """A coroutine run as a task on the event loop, waited for by one blocked thread.

    ``loop.call_soon_threadsafe(waiter.start, loop, context=...)`` from the thread, then
    ``waiter.wait(timeout)``; on ``True`` ``waiter.result()``, else
    ``loop.call_soon_threadsafe(waiter.cancel)``."""

    __slots__ = ("_coro", "_done", "_error", "_task", "_value")

    def __init__(self, coro: Coroutine[Any, Any, bytes]) -> None:
        self._coro = coro
        self._done = threading.Lock()
        self._done.acquire()
        self._task: asyncio.Task[None] | None = None
        self._value = b""
        self._error: BaseException | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop (in the caller's context, copied): start the task."""
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        # The thread is released from inside the task's last step, not from a done-callback,
        # which would run one loop iteration later.
        try:
            self._value = await self._coro
        except BaseException as exc:
            self._error = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._done.release()

    def wait(self, timeout: float) -> bool:
        """Block until the coroutine is done; False after ``timeout`` seconds."""
        return self._done.acquire(timeout=timeout)

    def result(self) -> bytes:
        """The coroutine's result, or its exception raised (only after ``wait`` said True)."""
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        """On the loop: give up on the task (the waiting thread timed out)."""
        if self._task is None:
            self._coro.close()  # never started: nothing to cancel, but no "never awaited"
        else:
            self._task.cancel()
