"""What every key-value back end implements, and the rules they share.

A store holds three kinds of values under string keys: strings, lists and sets, like Redis.
The rules below are Redis's, so the Redis back end gets them for free and the memory and
SQLite back ends implement them to match:

- A key holds one kind at a time. ``Set`` replaces whatever was there (and its expiry);
  the other operations refuse a key of another kind with ``WrongKindError``.
- Only strings expire (``Set`` with ``expires`` seconds). ``Add`` keeps the expiry; an expired
  key is gone for every operation.
- ``Add`` treats a missing key as ``"0"`` and needs a canonical 64-bit decimal integer.
- Lists and sets that become empty are deleted: ``KeyExists`` is false afterwards.
- ``Range`` takes Redis's ``LRANGE`` indices: ``stop`` inclusive, negative counts from the end.
- Set members come back sorted (Python string order), so every back end answers alike.

``KeyValueStore`` is the asynchronous interface ``Provider.handle`` uses on the event loop;
``SyncKeyValueStore`` the same methods, blocking, for calls answered on the calling thread
(``Provider.direct``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

from wascc.providers.keyvalue.errors import NotAnIntegerError, WrongKindError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "KeyValueStore",
    "Kind",
    "SyncKeyValueStore",
    "checked_total",
    "parse_integer",
    "range_slice",
    "wrong_kind",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Kind = Literal["string", "list", "set"]

_CANONICAL_INT = re.compile(r"-?[1-9][0-9]{0,18}|0")


class KeyValueStore(Protocol):
    """One back end (memory, SQLite, Redis). Methods raise ``KeyValueError`` subclasses with
    the bare reason; the provider adds the context. ``backend`` names the kind of store."""

    backend: str

    async def get(self, key: str) -> str | None:
        """The string under ``key``, or ``None`` if there is none."""
        ...

    async def set(self, key: str, value: str, expires: int) -> None:
        """Store a string, replacing any value; ``expires`` seconds (0: never)."""
        ...

    async def add(self, key: str, delta: int) -> int:
        """Add ``delta`` to the integer under ``key`` (missing: 0) and return the new total."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the key, whatever it holds (no error if missing)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether the key holds anything."""
        ...

    async def list_range(self, key: str, start: int, stop: int) -> list[str]:
        """Items ``start..stop`` (inclusive, negative from the end) of a list."""
        ...

    async def list_push(self, key: str, value: str) -> int:
        """Append to a list (creating it); returns the new length."""
        ...

    async def list_remove(self, key: str, value: str) -> int:
        """Remove every item equal to ``value``; returns the new length."""
        ...

    async def set_add(self, key: str, value: str) -> int:
        """Add a member (creating the set); returns the new size."""
        ...

    async def set_remove(self, key: str, value: str) -> int:
        """Remove a member; returns the new size."""
        ...

    async def set_members(self, key: str) -> list[str]:
        """The members of a set, sorted."""
        ...

    async def set_union(self, keys: Sequence[str]) -> list[str]:
        """Members of any of the sets (missing keys are empty sets), sorted."""
        ...

    async def set_intersection(self, keys: Sequence[str]) -> list[str]:
        """Members of all of the sets (a missing key makes it empty), sorted."""
        ...

    async def close(self) -> None:
        """Release connections, threads and files."""
        ...


class SyncKeyValueStore(Protocol):
    """``KeyValueStore``'s methods (without ``close``), answered on the calling thread.
    ``loop_safe``: whether a call may run on the event loop's thread now (it never waits for
    the loop, and is quick: see ``host.typing.DirectCalls``)."""

    @property
    def loop_safe(self) -> bool: ...

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str, expires: int) -> None: ...
    def add(self, key: str, delta: int) -> int: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list_range(self, key: str, start: int, stop: int) -> list[str]: ...
    def list_push(self, key: str, value: str) -> int: ...
    def list_remove(self, key: str, value: str) -> int: ...
    def set_add(self, key: str, value: str) -> int: ...
    def set_remove(self, key: str, value: str) -> int: ...
    def set_members(self, key: str) -> list[str]: ...
    def set_union(self, keys: Sequence[str]) -> list[str]: ...
    def set_intersection(self, keys: Sequence[str]) -> list[str]: ...


def parse_integer(key: str, text: str) -> int:
    """The integer a stored string holds, as Redis reads it for ``INCRBY``: canonical decimal
    (no sign ``+``, no leading zeros, no spaces) within 64 bits."""
    if _CANONICAL_INT.fullmatch(text):
        value = int(text)
        if INT64_MIN <= value <= INT64_MAX:
            return value
    raise NotAnIntegerError(
        f"key {key!r} holds {text[:40]!r}, which is not a 64-bit integer; Add needs one"
    )


def checked_total(key: str, current: int, delta: int) -> int:
    """``current + delta``, or ``NotAnIntegerError`` if it leaves the 64-bit range."""
    total = current + delta
    if not INT64_MIN <= total <= INT64_MAX:
        raise NotAnIntegerError(
            f"adding {delta} to key {key!r} (now {current}) would overflow a 64-bit integer"
        )
    return total


def range_slice(length: int, start: int, stop: int) -> slice | None:
    """The Python slice of a list of ``length`` items that ``LRANGE start stop`` selects, or
    ``None`` when it selects nothing."""
    if start < 0:
        start = max(length + start, 0)
    if stop < 0:
        stop += length
    if start > stop or start >= length:
        return None
    return slice(start, min(stop, length - 1) + 1)


def wrong_kind(key: str, actual: str, operation: str, expected: Kind) -> WrongKindError:
    """The error for an operation on a key of another kind, worded the same on every back end."""
    return WrongKindError(
        f"key {key!r} holds a {actual}, but {operation} works on a {expected}; use another key "
        "or Del it first"
    )
