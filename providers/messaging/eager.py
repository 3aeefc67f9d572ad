"""Running a coroutine on the event loop's thread right now, up to its first wait.

``DirectMessaging`` hands a ``Publish`` to nats-py without waiting for anything, through
nats-py's public ``Client.publish``, a coroutine. Checked against nats-py 2.16.0 (the version
``constraints.txt`` pins; ``test_messaging_direct.py`` fails if it changes): that coroutine
appends the PUB command to the client's send buffer and wakes its flusher task before it
first waits, and it waits only when that buffer is over its limit (for the flusher to empty
it), when the flusher's queue is full, or when the flusher died (for the socket to drain). So
running it up to its first wait puts the message in the buffer, in call order, on the calling
thread; whatever is left only waits for the flush, and a task finishes it.

Python 3.12's eager tasks do exactly this; on 3.11 the coroutine is stepped by hand, and only
its rest becomes a task.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["start_eagerly"]


def start_eagerly(coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None] | None:
    """Run ``coro`` on this thread, the running loop's, until it returns or first waits:
    ``None`` once it returned (its exception, if any, raised here), else the task (``name``)
    that runs the rest of it."""
    if sys.version_info >= (3, 12):
        task = asyncio.Task(coro, loop=asyncio.get_running_loop(), name=name, eager_start=True)
        if not task.done():
            return task
        task.result()  # raises its exception, and marks it retrieved
        return None
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_rest(coro, waiting), name=name)


async def _rest(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Go on stepping ``coro``, which yielded ``waiting``: what a task's step does, reduced to
    the two things a coroutine awaiting asyncio objects yields (a future, or None to let
    the loop turn once)."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                # The future's outcome is not ours: ``coro`` reads it when it resumes.
                await asyncio.wait((waiting,))
            waiting = coro.send(None)
    except StopIteration:
        return
    finally:
        coro.close()  # cancelled: the coroutine's own cleanup runs (no-op once it returned)
