"""The key-value provider, contract ``wascc:keyvalue``: one store per binding, chosen by its
``BACKEND`` value (memory, SQLite or Redis; see ``settings``).

``BindActor`` opens the actor's store, or shares one already open at the same location (the
same SQLite file or Redis URL); ``RemoveActor`` lets go of it, and the last binding to leave
closes it. Calls are bounded by the binding's ``TIMEOUT``: a store that does not answer in
time gives the actor an error reply, never a hang. Every error the actor sees names the
contract, the binding, the back end, the operation and the actor.

Calls come two ways. ``handle`` is a coroutine on the event loop; an actor's call through it
costs four thread switches when the actor runs on a worker thread. ``direct(actor, binding)``
gives the host the binding's ``StoreCalls``, which answer on the thread that runs the actor
(``host.typing.DirectCalls``), each back end as directly as it can:

- memory: right there, and always ``loop_safe`` (nothing to wait for);
- SQLite with ``SYNCHRONOUS=normal``: right there, in a transaction of its own (a commit does
  not wait for the disk), ``loop_safe`` while the store is open and no checkpoint holds it;
- SQLite with ``full``: the calling thread waits for the store thread's group commit, never
  ``loop_safe`` (every commit waits for an ``fsync``);
- Redis: a blocking client of the binding's own, ``loop_safe`` while Redis answers quickly
  (``QuickGate``).

``MemoryKeyValueProvider`` serves the memory back end only and is also a ``SyncProvider``
(``handle_sync``, the same calls), for hosts that route by provider rather than by binding.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

from wascc.host.errors import ProviderError
from wascc.host.typing import BindingValue, ProviderContext
from wascc.providers.codec import KEYVALUE, CodecError
from wascc.providers.keyvalue.dispatch import StoreCalls, dispatch
from wascc.providers.keyvalue.errors import (
    InvalidRequestError,
    KeyValueError,
    StoreUnavailableError,
)
from wascc.providers.keyvalue.memory import MemoryStore
from wascc.providers.keyvalue.redis_blocking import SyncRedisStore
from wascc.providers.keyvalue.redis_store import RedisStore, redact_url
from wascc.providers.keyvalue.settings import (
    BINDING_VALUES,
    Backend,
    KeyValueSettings,
    unusable_path,
)
from wascc.providers.keyvalue.sqlite import SqliteStore
from wascc.providers.keyvalue.store import KeyValueStore, SyncKeyValueStore

__all__ = ["DEFAULT_DATA_DIR", "KeyValueProvider", "MemoryKeyValueProvider"]

logger = logging.getLogger("wascc.provider.keyvalue")

DEFAULT_DATA_DIR = Path("~/.wascc/data")
"""Where SQLite files go unless the provider is given another data directory."""


@dataclass(slots=True)
class _Shared:
    store: KeyValueStore
    users: set[tuple[str, str]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class _Bound:
    store: KeyValueStore
    settings: KeyValueSettings
    label: str
    binding: str

    def context(self, operation: str) -> str:
        return (
            f"{KEYVALUE} {operation} for actor {self.label} (binding {self.binding!r}, "
            f"{self.settings.backend} back end)"
        )


class KeyValueProvider:
    """Serves ``wascc:keyvalue`` from memory, SQLite files under ``data_dir``, or Redis."""

    contract_id = KEYVALUE
    binding_values: ClassVar[tuple[BindingValue, ...]] = BINDING_VALUES
    default_backend: Backend = "sqlite"
    """The back end of bindings whose values name none (and give no Redis ``URL``)."""

    def __init__(self, *, data_dir: Path | None = None) -> None:
        self.data_dir = (data_dir or DEFAULT_DATA_DIR).expanduser()
        self._stores: dict[str, _Shared] = {}
        self._bound: dict[tuple[str, str], _Bound] = {}
        self._direct: dict[tuple[str, str], StoreCalls] = {}
        self._lock = asyncio.Lock()
        # The event loop's thread: Redis calls made there get short timeouts.
        self._loop_thread: int | None = None

    async def start(self, host: ProviderContext) -> None:
        """Note the event loop's thread; stores open when actors are bound."""
        self._loop_thread = threading.get_ident()

    async def stop(self) -> None:
        """Close every store still open (the host removes the bindings first)."""
        async with self._lock:
            shared = list(self._stores.values())
            self._stores.clear()
            self._bound.clear()
            for calls in self._direct.values():
                _close_direct(calls)
            self._direct.clear()
        results = await asyncio.gather(*(s.store.close() for s in shared), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    @classmethod
    def check_values(
        cls, values: Mapping[str, str], *, actor: str, label: str, binding: str
    ) -> None:
        """``ProviderError`` for values that ``bind_actor`` would refuse, found without
        opening anything (``wascc validate``)."""
        settings = KeyValueSettings.from_values(
            values,
            actor=actor,
            label=label,
            binding=binding,
            data_dir=DEFAULT_DATA_DIR,
            default_backend=cls.default_backend,
        )
        cls._check_settings(settings, label, binding)
        _check_path(settings, values, label, binding)

    @classmethod
    def _check_settings(cls, settings: KeyValueSettings, label: str, binding: str) -> None:
        """Hook for subclasses that serve only some back ends."""

    async def bind_actor(self, actor: str, binding: str, values: Mapping[str, str]) -> None:
        """Open (or share) the store the binding's values describe."""
        label = f"{values.get('__wascc_name') or actor} ({actor})"
        settings = KeyValueSettings.from_values(
            values,
            actor=actor,
            label=label,
            binding=binding,
            data_dir=self.data_dir,
            default_backend=self.default_backend,
        )
        self._check_settings(settings, label, binding)
        _check_path(settings, values, label, binding)  # bindings from the admin API or the lattice
        if self._loop_thread is None:  # a provider used without start() (tests, tools)
            self._loop_thread = threading.get_ident()
        async with self._lock:
            if (actor, binding) in self._bound:
                raise ProviderError(
                    f"{KEYVALUE} (binding {binding!r}) already serves actor {label}; remove "
                    "the binding first"
                )
            shared = self._stores.get(settings.location)
            if shared is None:
                try:
                    store = await _open(settings)
                except KeyValueError as exc:
                    raise exc.in_context(
                        f"{KEYVALUE} (binding {binding!r}) cannot bind actor {label}"
                    ) from exc
                shared = self._stores[settings.location] = _Shared(store)
            shared.users.add((actor, binding))
            self._bound[(actor, binding)] = _Bound(shared.store, settings, label, binding)
        logger.info(
            "actor %s uses the %s key-value store %s",
            label,
            settings.backend,
            _where(settings),
            extra={"actor_key": actor},
        )

    async def remove_actor(self, actor: str, binding: str) -> None:
        """Let go of the actor's store; close it if no other binding uses it."""
        async with self._lock:
            calls = self._direct.pop((actor, binding), None)
            if calls is not None:
                _close_direct(calls)
            bound = self._bound.pop((actor, binding), None)
            if bound is None:
                return
            shared = self._stores.get(bound.settings.location)
            if shared is None:
                return
            shared.users.discard((actor, binding))
            if shared.users:
                return
            del self._stores[bound.settings.location]
        await shared.store.close()

    def store_of(self, actor: str, binding: str = "default") -> KeyValueStore:
        """The store serving ``actor`` under ``binding`` (for tests and tools)."""
        return self._get(actor, binding, "store_of").store

    def _get(self, actor: str, binding: str, operation: str) -> _Bound:
        bound = self._bound.get((actor, binding))
        if bound is None:
            raise ProviderError(
                f"{KEYVALUE} {operation}: actor {actor} is not bound (binding {binding!r}); "
                "add a binding for it to the manifest"
            )
        return bound

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Serve one call within the binding's ``TIMEOUT``; failures are error replies."""
        bound = self._get(actor, binding, operation)
        try:
            async with asyncio.timeout(bound.settings.timeout):
                return await dispatch(bound.store, operation, payload)
        except (KeyValueError, CodecError, TimeoutError) as exc:
            raise _failure(bound, operation, exc) from exc

    def direct(self, actor: str, binding: str) -> StoreCalls:
        """The binding's calls answered on the calling thread (``host.typing.DirectCalls``);
        asked once per binding, after ``bind_actor``, on the event loop's thread."""
        calls = self._direct.get((actor, binding))
        if calls is None:
            bound = self._get(actor, binding, "direct")
            store = _sync_store(bound, self._loop_thread)
            calls = self._direct[(actor, binding)] = StoreCalls(store, partial(_failure, bound))
        return calls


class MemoryKeyValueProvider(KeyValueProvider):
    """The memory back end only, answered on the calling thread (a ``SyncProvider``): for
    tests and demos where speed matters and nothing needs to survive."""

    default_backend: Backend = "memory"

    def __init__(self) -> None:
        super().__init__()

    @classmethod
    def _check_settings(cls, settings: KeyValueSettings, label: str, binding: str) -> None:
        if settings.backend != "memory":
            raise ProviderError(
                f"{KEYVALUE} (binding {binding!r}) cannot bind actor {label} to a "
                f"{settings.backend} store: this provider keeps data in memory only; use "
                "KeyValueProvider, or BACKEND=memory"
            )

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        """Same as ``handle``, on the calling thread: the binding's ``direct`` calls."""
        calls = self._direct.get((actor, binding))
        if calls is None:
            self._get(actor, binding, operation)  # not bound: the error names the operation
            calls = self.direct(actor, binding)
        return calls.call(operation, payload)


def _check_path(
    settings: KeyValueSettings, values: Mapping[str, str], label: str, binding: str
) -> None:
    """``StoreUnavailableError`` if the SQLite file is somewhere no database belongs (a
    special file, /proc, /sys, /dev): SQLite would read or write it as one."""
    if settings.path is None:
        return
    reason = unusable_path(settings.path)
    if reason is None:
        return
    written = values.get("PATH", "").strip()
    where = f"value PATH={written!r}" if written else f"the SQLite file {settings.path}"
    if written and Path(written) != settings.path:
        where += f" ({settings.path})"
    raise StoreUnavailableError(
        f"{where} is {reason}; give PATH as a regular file in a writable directory (a "
        "missing file is created)",
        context=f"{KEYVALUE} (binding {binding!r}) cannot bind actor {label}",
    )


async def _open(settings: KeyValueSettings) -> KeyValueStore:
    if settings.backend == "memory":
        return MemoryStore()
    if settings.backend == "sqlite":
        assert settings.path is not None
        sqlite = SqliteStore(settings.path, synchronous=settings.synchronous)
        await sqlite.open()
        return sqlite
    assert settings.url is not None
    redis = RedisStore(settings.url, timeout=settings.timeout)
    try:
        async with asyncio.timeout(settings.timeout):
            await redis.ping()
    except (StoreUnavailableError, TimeoutError) as exc:
        # Not fatal: the binding stands and calls fail with a clear error until Redis is up.
        logger.warning("Redis at %s does not answer yet: %s", redact_url(settings.url), exc)
    return redis


def _sync_store(bound: _Bound, loop_thread: int | None) -> SyncKeyValueStore:
    """The binding's store for callers on their own thread (see the module docstring)."""
    store = bound.store
    if isinstance(store, MemoryStore):
        return store.sync
    if isinstance(store, SqliteStore):
        return store.direct(bound.settings.timeout)
    if isinstance(store, RedisStore):
        return SyncRedisStore(
            store.url,
            timeout=bound.settings.timeout,
            loop_thread=loop_thread,
            where=f"Redis at {redact_url(store.url)} (actor {bound.label}, binding "
            f"{bound.binding!r})",
        )
    raise TypeError(f"no direct calls for a {type(store).__name__}")  # a store of a subclass


def _close_direct(calls: StoreCalls) -> None:
    """Close what the binding's direct calls opened of their own (a Redis client)."""
    if isinstance(calls.store, SyncRedisStore):
        calls.store.close()


def _failure(bound: _Bound, operation: str, exc: Exception) -> KeyValueError:
    """The error an actor gets for a call that failed (``exc``), in the binding's context."""
    if isinstance(exc, KeyValueError):
        return exc.in_context(bound.context(operation))
    if isinstance(exc, CodecError):
        return InvalidRequestError(str(exc), context=bound.context(operation))
    return StoreUnavailableError(
        f"the {bound.settings.backend} store {_where(bound.settings)} did not answer "
        f"within {bound.settings.timeout:g}s (the binding's TIMEOUT)",
        context=bound.context(operation),
    )


def _where(settings: KeyValueSettings) -> str:
    if settings.path is not None:
        return str(settings.path)
    if settings.url is not None:
        return redact_url(settings.url)
    return "in memory"
