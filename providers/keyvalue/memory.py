"""The in-memory back end (``BACKEND=memory``): for tests and throwaway demos.

Nothing survives the provider. ``SyncMemoryStore`` holds the data and answers on the calling
thread without ever waiting (``Provider.direct``, ``handle_sync``); ``MemoryStore`` is the same
store behind the asynchronous interface, thin wrappers for ``Provider.handle``. A lock makes it
safe when worker threads and the event loop use it at once. Expired keys are dropped when
touched and, in bulk, from a deadline heap on every write.

Its methods are the hot path of an actor counting in memory, so they avoid Python calls where
a test of a field would do (no clock read while no key expires, no sweep while none is due).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence

from wascc.providers.keyvalue.errors import WrongKindError
from wascc.providers.keyvalue.store import (
    Kind,
    checked_total,
    parse_integer,
    range_slice,
    wrong_kind,
)

__all__ = ["MemoryStore", "SyncMemoryStore"]

Value = str | list[str] | set[str]

_KINDS: dict[type, Kind] = {str: "string", list: "list", set: "set"}


class SyncMemoryStore:
    """Strings, lists and sets in dictionaries; expiry on a monotonic clock."""

    backend = "memory"
    loop_safe = True  # never waits for anything but its own lock, held for microseconds

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, Value] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    # helpers (call with the lock held) ------------------------------------------------------

    def _live(self, key: str) -> Value | None:
        value = self._data.get(key)
        if value is not None and self._deadlines and self._expired(key):
            return None
        return value

    def _expired(self, key: str) -> bool:
        """Whether the key's deadline passed (it is dropped then)."""
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= self._clock():
            self._drop(key)
            return True
        return False

    def _drop(self, key: str) -> None:
        self._data.pop(key, None)
        self._deadlines.pop(key, None)

    def _sweep(self) -> None:
        """Drop every key whose deadline passed (amortised: each deadline is popped once)."""
        now = self._clock()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self._deadlines.get(key) == deadline:
                self._drop(key)

    def _typed(self, key: str, operation: str, kind: type[Value]) -> Value | None:
        value = self._live(key)
        if value is not None and type(value) is not kind:
            raise _wrong_kind(key, value, operation, kind)
        return value

    def _list(self, key: str, operation: str) -> list[str] | None:
        value = self._typed(key, operation, list)
        return value if isinstance(value, list) else None

    def _set(self, key: str, operation: str) -> set[str] | None:
        value = self._typed(key, operation, set)
        return value if isinstance(value, set) else None

    # strings ---------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._data.get(key)
            if value is None or (self._deadlines and self._expired(key)):
                return None
            if type(value) is not str:
                raise _wrong_kind(key, value, "Get", str)
            return value

    def set(self, key: str, value: str, expires: int) -> None:
        with self._lock:
            if self._heap:
                self._sweep()
            self._data[key] = value
            if expires > 0:
                deadline = self._clock() + expires
                self._deadlines[key] = deadline
                heapq.heappush(self._heap, (deadline, key))
            elif self._deadlines:
                self._deadlines.pop(key, None)

    def add(self, key: str, delta: int) -> int:
        with self._lock:
            if self._heap:
                self._sweep()
            value = self._data.get(key)
            if value is None or (self._deadlines and self._expired(key)):
                total = checked_total(key, 0, delta)
            elif type(value) is str:
                total = checked_total(key, parse_integer(key, value), delta)
            else:
                raise _wrong_kind(key, value, "Add", str)
            self._data[key] = str(total)  # the deadline, if any, stays
            return total

    def delete(self, key: str) -> None:
        with self._lock:
            if self._heap:
                self._sweep()
            self._drop(key)

    def exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    # lists -----------------------------------------------------------------------------------

    def list_range(self, key: str, start: int, stop: int) -> list[str]:
        with self._lock:
            items = self._list(key, "Range")
            if items is None:
                return []
            window = range_slice(len(items), start, stop)
            return [] if window is None else items[window]

    def list_push(self, key: str, value: str) -> int:
        with self._lock:
            if self._heap:
                self._sweep()
            items = self._list(key, "Push")
            if items is None:
                items = self._data[key] = []
            items.append(value)
            return len(items)

    def list_remove(self, key: str, value: str) -> int:
        with self._lock:
            if self._heap:
                self._sweep()
            items = self._list(key, "ListItemDelete")
            if items is None:
                return 0
            items[:] = [item for item in items if item != value]
            if not items:
                self._drop(key)
            return len(items)

    # sets ------------------------------------------------------------------------------------

    def set_add(self, key: str, value: str) -> int:
        with self._lock:
            if self._heap:
                self._sweep()
            members = self._set(key, "SetAdd")
            if members is None:
                members = self._data[key] = set()
            members.add(value)
            return len(members)

    def set_remove(self, key: str, value: str) -> int:
        with self._lock:
            if self._heap:
                self._sweep()
            members = self._set(key, "SetRemove")
            if members is None:
                return 0
            members.discard(value)
            if not members:
                self._drop(key)
            return len(members)

    def set_members(self, key: str) -> list[str]:
        with self._lock:
            members = self._set(key, "SetQuery")
            return sorted(members) if members else []

    def set_union(self, keys: Sequence[str]) -> list[str]:
        with self._lock:
            found = [self._set(key, "SetUnion") for key in keys]
            return sorted(set().union(*(m for m in found if m)))

    def set_intersection(self, keys: Sequence[str]) -> list[str]:
        with self._lock:
            found = [self._set(key, "SetIntersection") for key in keys]
            if not found or any(m is None for m in found):
                return []
            first, *rest = (m for m in found if m is not None)
            return sorted(first.intersection(*rest))

    def clear(self) -> None:
        """Forget everything (the store is closed)."""
        with self._lock:
            self._data.clear()
            self._deadlines.clear()
            self._heap.clear()


def _wrong_kind(key: str, value: Value, operation: str, expected: type[Value]) -> WrongKindError:
    return wrong_kind(key, _KINDS[type(value)], operation, _KINDS[expected])


class MemoryStore:
    """``SyncMemoryStore`` behind the asynchronous store interface (``KeyValueStore``): each
    method answers at once, never suspending. ``sync`` is the store itself."""

    backend = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sync = SyncMemoryStore(clock=clock)

    async def get(self, key: str) -> str | None:
        return self.sync.get(key)

    async def set(self, key: str, value: str, expires: int) -> None:
        self.sync.set(key, value, expires)

    async def add(self, key: str, delta: int) -> int:
        return self.sync.add(key, delta)

    async def delete(self, key: str) -> None:
        self.sync.delete(key)

    async def exists(self, key: str) -> bool:
        return self.sync.exists(key)

    async def list_range(self, key: str, start: int, stop: int) -> list[str]:
        return self.sync.list_range(key, start, stop)

    async def list_push(self, key: str, value: str) -> int:
        return self.sync.list_push(key, value)

    async def list_remove(self, key: str, value: str) -> int:
        return self.sync.list_remove(key, value)

    async def set_add(self, key: str, value: str) -> int:
        return self.sync.set_add(key, value)

    async def set_remove(self, key: str, value: str) -> int:
        return self.sync.set_remove(key, value)

    async def set_members(self, key: str) -> list[str]:
        return self.sync.set_members(key)

    async def set_union(self, keys: Sequence[str]) -> list[str]:
        return self.sync.set_union(keys)

    async def set_intersection(self, keys: Sequence[str]) -> list[str]:
        return self.sync.set_intersection(keys)

    async def close(self) -> None:
        self.sync.clear()
