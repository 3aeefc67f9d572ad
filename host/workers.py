"""Worker threads that run wasm calls off the event loop.

wasm calls block, so they run here. ``concurrent.futures.ThreadPoolExecutor`` plus
``run_in_executor`` costs about 87 µs per sequential round trip on our machines; a
``queue.SimpleQueue`` feeding plain threads and one ``call_soon_threadsafe`` per result costs
about 27 µs (9 µs with many calls in flight), which matters when the wasm call itself takes 6.

A worker blocked in a host call (waiting for a provider or another actor) holds its thread, so
the pool grows whenever more work is queued than threads are idle; otherwise an actor-to-actor
call could wait forever for a thread held by its own caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["WorkerThreads"]

logger = logging.getLogger("wascc.host.workers")

T = TypeVar("T")

Finished = Callable[[bool, Any], None]
"""Told, on the loop, that a submitted call ended: ``(ok, result or exception)``."""

_Item = tuple[
    "asyncio.Future[Any]", contextvars.Context, Callable[..., Any], tuple[Any, ...], Finished | None
]


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any, finished: Finished | None) -> None:
    if finished is not None:
        finished(ok, value)
    if future.done():  # the caller stopped waiting (a timeout): the call ended all the same
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class WorkerThreads:
    """A growing set of daemon threads, up to ``max_threads``, that run submitted calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_threads: int = 256) -> None:
        self._loop = loop
        self._max = max_threads
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads alive now."""
        return len(self._threads)

    def submit(
        self, fn: Callable[..., T], *args: Any, finished: Finished | None = None
    ) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on a worker in a copy of the caller's context (so log lines made
        during the call carry its invocation id); the future resolves on the loop thread, and
        ``finished`` runs there, in that same context.

        ``finished`` is called on the loop when the call has really ended, even if the future
        was cancelled before (its caller timed out): what the call holds is given back then,
        and the caller may await the future itself, without ``asyncio.shield``."""
        if self._closed:
            raise RuntimeError("the worker threads are stopped")
        future: asyncio.Future[T] = self._loop.create_future()
        self._queue.put((future, contextvars.copy_context(), fn, args, finished))
        with self._lock:
            grow = self._queue.qsize() > self._idle and len(self._threads) < self._max
            if grow:
                self._idle += 1
        if grow:
            thread = threading.Thread(
                target=self._run, name=f"wascc-wasm-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def _run(self) -> None:
        loop = self._loop
        while True:
            item = self._queue.get()
            if item is None:
                return
            with self._lock:
                self._idle -= 1
            future, ctx, fn, args, finished = item
            try:
                result = ctx.run(fn, *args)
            except BaseException as exc:  # delivered to the awaiting task, never lost here
                ok, value = False, exc
            else:
                ok, value = True, result
            try:
                # In the call's context: what ``finished`` logs (a trap) names its invocation.
                loop.call_soon_threadsafe(_resolve, future, ok, value, finished, context=ctx)
            except RuntimeError:  # the loop closed under us: nobody is waiting any more
                return
            with self._lock:
                self._idle += 1

    def stop(self) -> None:
        """Let every thread finish its current call and exit. Idempotent; does not wait."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
