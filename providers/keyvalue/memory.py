"""The in-memory back end (``BACKEND=memory``): for tests and throwaway demos.

Nothing survives the provider. Every method is ``async`` for the store interface but never
suspends, so the synchronous provider can drive it on a worker thread (``run_sync``); a lock
makes it safe when several worker threads and the event loop use it at once. Expired keys
are dropped when touched and, in bulk, from a deadline heap on every write.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence

from providers.keyvalue.store import (
    Kind,
    checked_total,
    parse_integer,
    range_slice,
    wrong_kind,
)

__all__ = ["MemoryStore"]

Value = str | list[str] | set[str]

_KINDS: dict[type, Kind] = {str: "string", list: "list", set: "set"}


class MemoryStore:
    """Strings, lists and sets in dictionaries; expiry on a monotonic clock."""

    backend = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, Value] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    # helpers (call with the lock held) ------------------------------------------------------

    def _live(self, key: str) -> Value | None:
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= self._clock():
            self._drop(key)
            return None
        return self._data.get(key)

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
            raise wrong_kind(key, _KINDS[type(value)], operation, _KINDS[kind])
        return value

    def _list(self, key: str, operation: str) -> list[str] | None:
        value = self._typed(key, operation, list)
        return value if isinstance(value, list) else None

    def _set(self, key: str, operation: str) -> set[str] | None:
        value = self._typed(key, operation, set)
        return value if isinstance(value, set) else None

    # strings ---------------------------------------------------------------------------------

    async def get(self, key: str) -> str | None:
        with self._lock:
            value = self._typed(key, "Get", str)
            return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, expires: int) -> None:
        with self._lock:
            self._sweep()
            self._data[key] = value
            if expires > 0:
                deadline = self._clock() + expires
                self._deadlines[key] = deadline
                heapq.heappush(self._heap, (deadline, key))
            else:
                self._deadlines.pop(key, None)

    async def add(self, key: str, delta: int) -> int:
        with self._lock:
            self._sweep()
            value = self._typed(key, "Add", str)
            current = 0 if value is None else parse_integer(key, str(value))
            total = checked_total(key, current, delta)
            self._data[key] = str(total)  # the deadline, if any, stays
            return total

    async def delete(self, key: str) -> None:
        with self._lock:
            self._sweep()
            self._drop(key)

    async def exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    # lists -----------------------------------------------------------------------------------

    async def list_range(self, key: str, start: int, stop: int) -> list[str]:
        with self._lock:
            items = self._list(key, "Range")
            if items is None:
                return []
            window = range_slice(len(items), start, stop)
            return [] if window is None else items[window]

    async def list_push(self, key: str, value: str) -> int:
        with self._lock:
            self._sweep()
            items = self._list(key, "Push")
            if items is None:
                items = self._data[key] = []
            items.append(value)
            return len(items)

    async def list_remove(self, key: str, value: str) -> int:
        with self._lock:
            self._sweep()
            items = self._list(key, "ListItemDelete")
            if items is None:
                return 0
            items[:] = [item for item in items if item != value]
            if not items:
                self._drop(key)
            return len(items)

    # sets ------------------------------------------------------------------------------------

    async def set_add(self, key: str, value: str) -> int:
        with self._lock:
            self._sweep()
            members = self._set(key, "SetAdd")
            if members is None:
                members = self._data[key] = set()
            members.add(value)
            return len(members)

    async def set_remove(self, key: str, value: str) -> int:
        with self._lock:
            self._sweep()
            members = self._set(key, "SetRemove")
            if members is None:
                return 0
            members.discard(value)
            if not members:
                self._drop(key)
            return len(members)

    async def set_members(self, key: str) -> list[str]:
        with self._lock:
            members = self._set(key, "SetQuery")
            return sorted(members) if members else []

    async def set_union(self, keys: Sequence[str]) -> list[str]:
        with self._lock:
            found = [self._set(key, "SetUnion") for key in keys]
            return sorted(set().union(*(m for m in found if m)))

    async def set_intersection(self, keys: Sequence[str]) -> list[str]:
        with self._lock:
            found = [self._set(key, "SetIntersection") for key in keys]
            if not found or any(m is None for m in found):
                return []
            first, *rest = (m for m in found if m is not None)
            return sorted(first.intersection(*rest))

    async def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._deadlines.clear()
            self._heap.clear()
