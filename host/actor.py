"""A running actor: its claims, its compiled module, and the pool of instances serving it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wascc.host.engine import Engine, Limits
from wascc.host.errors import (
    ActorBusy,
    ActorTrapped,
    GuestError,
    InvocationError,
    InvocationTimeout,
    ModuleLoadError,
)
from wascc.host.health import ActorHealth, PenaltyBox
from wascc.host.inline import InlinePolicy
from wascc.host.pool import InstancePool, PoolClosed, PoolFull
from wascc.host.wapc import HostCallHandler, WapcInstance
from wascc.host.wasi import OutputSink, WasiGrants
from wascc.host.workers import WorkerThreads
from wascc.keys.claims import Claims

if TYPE_CHECKING:
    import wasmtime

__all__ = ["Actor", "ActorSettings"]

logger = logging.getLogger("wascc.host.actor")

TRAP_LOG_INTERVAL = 10.0
"""Seconds between two log lines about one actor's traps."""


@dataclass(frozen=True)
class ActorSettings:
    """Per-actor settings; ``None`` fields fall back to the host's defaults."""

    max_instances: int = 1
    max_queue: int = 1024
    limits: Limits | None = None
    wasi: WasiGrants = field(default_factory=WasiGrants)  # default: nothing granted
    # False: the actor may call no other actor, whatever its claims or generation say. A
    # call to one is refused, and the actor may then run on the event loop's thread (an
    # actor that may call actors never does: host.inline).
    calls_actors: bool = True


@dataclass(eq=False)
class Actor:
    """One actor on this host. ``invoke`` runs a call on a free instance, on a worker thread."""

    claims: Claims
    module: wasmtime.Module
    limits: Limits
    settings: ActorSettings
    path: str | None
    _pool: InstancePool[WapcInstance] = field(init=False, repr=False)

    @property
    def key(self) -> str:
        """The actor's public key (its claims' subject): its identity everywhere."""
        return self.claims.subject

    @property
    def name(self) -> str:
        """Its human name from the claims (the key if unnamed)."""
        return self.claims.name or self.key

    @property
    def label(self) -> str:
        """``name (key)``, the way every message names an actor."""
        return f"{self.name} ({self.key})"

    @property
    def inline(self) -> InlinePolicy:
        """Whether its calls run on the event loop thread (read-only use)."""
        return self._inline

    @property
    def pool(self) -> InstancePool[WapcInstance]:
        """Its instances (read-only use: metrics and inventory)."""
        return self._pool

    def attach(
        self,
        engine: Engine,
        handler: HostCallHandler,
        workers: WorkerThreads,
        *,
        fast: bool,
        loop_free: Callable[[], bool],
        penalty_box: PenaltyBox,
        output: OutputSink | None = None,
        sync: Callable[[WapcInstance], None] | None = None,
        on_trap: Callable[[int, str], None] | None = None,
    ) -> None:
        """Make the pool; instances are created on the worker threads as calls need them.
        ``output``: where WASI output granted to the log goes; ``sync``: run before each call
        on an instance (``WapcInstance.set_sync``); ``on_trap(count, error)``: told of traps
        as often as they are logged (``_log_trap``)."""
        wasi = self.settings.wasi

        def make() -> WapcInstance:
            instance = WapcInstance.create(
                engine, self.module, self.limits, handler, fast=fast, wasi=wasi, output=output
            )
            if sync is not None:
                instance.set_sync(sync)
            return instance

        async def create() -> WapcInstance:
            try:
                return await workers.submit(make)
            except ActorTrapped as exc:
                raise ModuleLoadError(
                    f"actor {self.label} trapped while starting (_start or wapc_init): {exc}"
                ) from exc

        self.handler = handler
        self._workers = workers
        self._inline = InlinePolicy(loop_free)
        self.health = ActorHealth(penalty_box, self.label, self.key)
        self._traps, self._trap_logged_at = 0, -TRAP_LOG_INTERVAL
        self._on_trap = on_trap
        self._pool = InstancePool(
            create, max_instances=self.settings.max_instances, max_queue=self.settings.max_queue
        )

    async def start(self) -> None:
        """Create the first instance, so a module that cannot start is refused at load."""
        await self._pool.warm()

    async def invoke(self, operation: str, payload: bytes, *, timeout: float) -> bytes:
        """Run ``operation`` on a free instance; a trapped instance is replaced.

        ``ActorBusy`` when no instance frees up within ``timeout``; ``InvocationTimeout`` when
        the call itself outlives it (the wasm keeps running until its own deadline stops it,
        then its instance goes back to the pool).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # An idle instance needs no wait, so no timeout scope either (this path is hot).
        instance = self._pool.try_acquire()
        if instance is None:
            instance = await self._acquire(deadline, timeout)
        in_lane = False
        if self.health.penalized:  # checked here, not awaited per call: this path is hot
            try:
                # After the wait for an instance: a call queued behind one that just got the
                # actor penalized must take the lane too.
                in_lane = await self.health.admit(max(0.0, deadline - loop.time()))
            except BaseException:
                self._pool.release(instance)
                raise
        if self._inline.allowed() and not in_lane:
            # Promoted while this call waited in the queue: run it inline too, or a queue
            # that built up before the promotion would keep every call on worker threads.
            return self.invoke_inline(instance, operation, payload)
        # The call's own duration and CPU time, measured on the worker: seen from the loop it
        # would include the wait for a busy loop (see ``_timed``).
        spent = [float("inf"), float("inf")]

        def finished(ok: bool, value: object) -> None:  # on the loop, when the wasm returned
            trap = value if not ok and isinstance(value, ActorTrapped) else None
            self._release(instance, trap, spent, in_lane)

        # Awaited without a shield: a timeout cancels only this wait, and the instance goes
        # back to the pool when the call has really ended (``finished``).
        work = self._workers.submit(_timed, instance, operation, payload, spent, finished=finished)
        try:
            async with asyncio.timeout_at(deadline):
                return await work
        except TimeoutError:
            raise InvocationTimeout(
                f"call {operation} to actor {self.label} did not finish within {timeout:g}s",
                actor=self.key,
            ) from None
        except (ActorTrapped, GuestError) as exc:
            raise self._identify(exc, operation) from None

    async def _acquire(self, deadline: float, timeout: float) -> WapcInstance:
        """An instance before ``deadline``; ``ActorBusy`` if none frees up."""
        try:
            async with asyncio.timeout_at(deadline):
                return await self._pool.acquire()
        except PoolFull:
            raise ActorBusy(
                f"actor {self.label} is busy: {self._pool.waiting} calls already wait for its "
                f"{self._pool.size} instance(s); raise max_instances or max_queue",
                actor=self.key,
            ) from None
        except PoolClosed:
            raise ActorBusy(
                f"actor {self.label} was stopped before an instance was free", actor=self.key
            ) from None
        except TimeoutError:
            raise ActorBusy(
                f"actor {self.label} is busy: no instance was free within {timeout:g}s; "
                "raise max_instances or the call timeout",
                actor=self.key,
            ) from None

    def try_inline(self) -> WapcInstance | None:
        """An idle instance to run the next call on the event loop thread, if the inline
        policy allows it (see ``host.inline``); the caller must pass it to ``invoke_inline``."""
        if self._inline.allowed():
            return self._pool.try_acquire()
        return None

    def release_inline(self, instance: WapcInstance) -> None:
        """Give back an instance from ``try_inline`` without running a call on it."""
        self._pool.release(instance)

    def invoke_inline(self, instance: WapcInstance, operation: str, payload: bytes) -> bytes:
        """Run a quick call on the event loop thread, on an instance from ``try_inline``."""
        started = time.perf_counter()
        try:
            result = instance.invoke(operation, payload)
        except BaseException as exc:
            trapped = isinstance(exc, ActorTrapped)
            spent = time.perf_counter() - started
            self._inline.record_inline(spent, failed=trapped)
            if trapped:
                self.health.done(spent, failed=True, in_lane=False)
            self._pool.release(instance, discard=trapped or instance.poisoned)
            if isinstance(exc, ActorTrapped | GuestError):
                if isinstance(exc, ActorTrapped):
                    self._log_trap(exc)
                raise self._identify(exc, operation) from None
            raise
        elapsed = time.perf_counter() - started
        policy = self._inline
        if elapsed > policy.SLOW:
            policy.record_inline(elapsed, failed=False)
        else:  # the common case, without a call: this path runs per invocation
            policy.inline_calls += 1
        self._pool.release(instance)
        return result

    def _identify(self, exc: ActorTrapped | GuestError, operation: str) -> InvocationError:
        """The same error, with the actor's name and key in front."""
        if isinstance(exc, ActorTrapped):
            return type(exc)(
                f"actor {self.label} {exc}",
                kind=exc.kind,
                actor=self.key,
                guest_error=exc.guest_error,
            )
        return GuestError(
            f"actor {self.label} failed {operation}: {exc.guest_error}",
            actor=self.key,
            guest_error=exc.guest_error,
        )

    def _release(
        self, instance: WapcInstance, trap: ActorTrapped | None, spent: list[float], in_lane: bool
    ) -> None:
        trapped = trap is not None
        if trap is not None:
            self._log_trap(trap)
        elapsed, cpu = spent
        self._inline.record_worker(cpu, failed=trapped)
        self.health.done(elapsed, failed=trapped, in_lane=in_lane)
        self._pool.release(instance, discard=trapped or instance.poisoned)

    def _log_trap(self, trap: ActorTrapped) -> None:
        """One line per ``TRAP_LOG_INTERVAL`` at most: an actor that traps on every call must
        not flood the log (the error itself goes to each caller), nor ``on_trap``'s events."""
        now = time.monotonic()
        self._traps += 1
        if now - self._trap_logged_at < TRAP_LOG_INTERVAL:
            return
        if self._traps == 1:
            logger.warning("actor %s trapped; replacing its instance", self.label)
        else:
            logger.warning(
                "actor %s trapped %d times in the last %.0fs; replacing its instances",
                self.label,
                self._traps,
                now - self._trap_logged_at,
            )
        if self._on_trap is not None:
            self._on_trap(self._traps, str(trap))
        self._traps, self._trap_logged_at = 0, now

    async def close(self) -> None:
        """Wait for calls in flight, then free every instance."""
        await self._pool.close()

    async def drain(self) -> None:
        """Serve every queued call, then free every instance (live update)."""
        await self._pool.drain()


def _timed(instance: WapcInstance, operation: str, payload: bytes, spent: list[float]) -> bytes:
    """``instance.invoke`` on a worker thread, writing its duration into ``spent[0]`` and the
    CPU time this thread used for it into ``spent[1]``.

    The CPU time is what tells the inline policy whether a call is quick: the wall time of a
    worker call includes the waits for the interpreter lock, which a busy event loop holds for
    up to the switch interval (5 ms) at a time, so under load every call would look slow and
    the actor would never be promoted, however little work its calls do."""
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        return instance.invoke(operation, payload)
    finally:
        spent[1] = time.thread_time() - cpu
        spent[0] = time.perf_counter() - started
