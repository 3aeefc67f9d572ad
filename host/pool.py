"""A bounded pool of wasm instances for one actor, with a bounded queue of waiting calls.

Instances are not re-entrant (docs/abi.md), so each call takes one instance for its whole
duration. The pool lives on the event loop thread: ``acquire`` and ``release`` are called only
there, which keeps it free of locks; the wasm call itself runs on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["InstancePool", "PoolClosed", "PoolFull"]


class _Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T", bound=_Closable)


class PoolFull(Exception):
    """The queue of waiting calls is full."""


class PoolClosed(Exception):
    """The pool was closed (its actor was removed or replaced) before an instance was free."""


class InstancePool(Generic[T]):
    """Up to ``max_instances`` instances made on demand by ``create``; at most ``max_queue``
    callers wait for one. A waiter is resolved with an instance, or with ``None`` meaning
    "a slot is free: create one"."""

    def __init__(
        self,
        create: Callable[[], Awaitable[T]],
        *,
        max_instances: int,
        max_queue: int,
    ) -> None:
        self._create = create
        self.max_instances = max_instances
        self.max_queue = max_queue
        self._idle: list[T] = []
        self._size = 0
        self._busy = 0
        self._waiters: deque[asyncio.Future[T | None]] = deque()
        self._closing = False
        self._drained: asyncio.Event | None = None

    @property
    def size(self) -> int:
        """Instances alive (idle or busy)."""
        return self._size

    @property
    def busy(self) -> int:
        """Instances running a call now."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Calls queued for an instance."""
        return len(self._waiters)

    async def warm(self) -> None:
        """Create the first instance now, so load errors surface when the actor is added."""
        instance = await self.acquire()
        self.release(instance)

    def try_acquire(self) -> T | None:
        """An idle instance if one is free right now and nobody queues for one, else None."""
        if self._idle and not self._closing and not self._waiters:
            self._busy += 1
            return self._idle.pop()
        return None

    async def acquire(self) -> T:
        """Take an idle instance, create one if below the cap, or wait in the queue.

        The caller bounds the wait with ``asyncio.timeout``; a cancelled waiter never
        leaks an instance. Raises ``PoolFull`` or ``PoolClosed``.
        """
        if self._closing:
            raise PoolClosed
        if self._idle:
            self._busy += 1
            return self._idle.pop()
        if self._size < self.max_instances:
            return await self._grow()
        if len(self._waiters) >= self.max_queue:
            raise PoolFull
        waiter: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            got = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # Resolved in the same tick as the cancel: hand it on, never lose it.
                self._hand_back(waiter.result())
            else:
                self._waiters.remove(waiter)
            raise
        if got is None:
            return await self._grow()
        return got

    async def _grow(self) -> T:
        self._size += 1
        self._busy += 1
        try:
            return await self._create()
        except BaseException:
            self._size -= 1
            self._busy -= 1
            self._offer_slot()
            raise

    def release(self, instance: T, *, discard: bool = False) -> None:
        """Return an instance after a call; ``discard`` throws it away (after a trap)."""
        self._busy -= 1
        if not (discard or self._closing or self._waiters or self._drained):
            self._idle.append(instance)  # the common case, kept short: no one is waiting
            return
        if discard or self._closing:
            instance.close()
            self._size -= 1
            self._offer_slot()
        else:
            self._hand_back(instance)
        self._check_drained()

    def _hand_back(self, instance: T | None) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                if instance is not None:
                    self._busy += 1
                waiter.set_result(instance)
                return
        if instance is not None:
            self._idle.append(instance)

    def _offer_slot(self) -> None:
        if self._waiters and not self._closing:
            self._hand_back(None)

    def _check_drained(self) -> None:
        if self._drained is not None and self._busy == 0:
            self._drained.set()

    async def close(self) -> None:
        """Stop handing out instances; let queued calls fail with ``PoolClosed`` only if no
        instance frees up for them, wait for busy ones, then close every instance."""
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolClosed())
        if self._busy:
            self._drained = asyncio.Event()
            await self._drained.wait()
        for instance in self._idle:
            instance.close()
        self._size -= len(self._idle)
        self._idle.clear()

    async def drain(self) -> None:
        """Serve every queued call, then close: used by live update so none is lost."""
        while self._waiters or self._busy:
            self._drained = asyncio.Event()
            await self._drained.wait()
        await self.close()
