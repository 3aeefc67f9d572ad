"""A running actor: its claims, its compiled module, and the pool of instances serving it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from host.engine import Engine, Limits
from host.errors import (
    ActorBusy,
    ActorTrapped,
    GuestError,
    InvocationTimeout,
    ModuleLoadError,
)
from host.pool import InstancePool, PoolClosed, PoolFull
from host.wapc import HostCallHandler, WapcInstance
from host.workers import WorkerThreads
from keys.claims import Claims

if TYPE_CHECKING:
    import wasmtime

__all__ = ["Actor", "ActorSettings"]

logger = logging.getLogger("wascc.host.actor")


@dataclass(frozen=True)
class ActorSettings:
    """Per-actor settings; ``None`` fields fall back to the host's defaults."""

    max_instances: int = 1
    max_queue: int = 1024
    limits: Limits | None = None


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
    ) -> None:
        """Make the pool; instances are created on the worker threads as calls need them."""

        def make() -> WapcInstance:
            return WapcInstance.create(engine, self.module, self.limits, handler, fast=fast)

        async def create() -> WapcInstance:
            try:
                return await workers.submit(make)
            except ActorTrapped as exc:
                raise ModuleLoadError(
                    f"actor {self.label} trapped while starting (_start or wapc_init): {exc}"
                ) from exc

        self._workers = workers
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
        try:
            async with asyncio.timeout_at(deadline):
                instance = await self._pool.acquire()
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
        work = self._workers.submit(instance.invoke, operation, payload)
        work.add_done_callback(lambda fut: self._release(instance, fut))
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(work)
        except TimeoutError:
            raise InvocationTimeout(
                f"call {operation} to actor {self.label} did not finish within {timeout:g}s",
                actor=self.key,
            ) from None
        except ActorTrapped as exc:
            raise type(exc)(
                f"actor {self.label} {exc}",
                kind=exc.kind,
                actor=self.key,
                guest_error=exc.guest_error,
            ) from None
        except GuestError as exc:
            raise GuestError(
                f"actor {self.label} failed {operation}: {exc.guest_error}",
                actor=self.key,
                guest_error=exc.guest_error,
            ) from None

    def _release(self, instance: WapcInstance, done: asyncio.Future[bytes]) -> None:
        trapped = not done.cancelled() and isinstance(done.exception(), ActorTrapped)
        if trapped:
            logger.warning("actor %s trapped; replacing its instance", self.label)
        self._pool.release(instance, discard=trapped or instance.poisoned)

    async def close(self) -> None:
        """Wait for calls in flight, then free every instance."""
        await self._pool.close()

    async def drain(self) -> None:
        """Serve every queued call, then free every instance (live update)."""
        await self._pool.drain()
