"""The SQLite back end (``BACKEND=sqlite``): the embedded default, durable across restarts.

One file per store in WAL mode, one connection (``dbthread.Worker``); a reply to the actor
always comes after the write is committed. ``SqliteStore`` serves the event loop through the
store's own thread; ``SyncSqliteStore`` serves callers on their own thread (``Provider.direct``):
with ``SYNCHRONOUS=normal`` each job runs right there, in a transaction of its own, because a
commit never waits for the disk; with ``full`` the caller's thread blocks on the store
thread's group commit, where one ``fsync`` serves many callers. Three tables: ``kv_keys``
(every key with its kind, a string's value and expiry, a collection's size), ``kv_list_items``
(list items by position) and ``kv_set_members``. Expiry uses the wall clock, as Redis does,
so it holds across restarts; expired keys are invisible at once and deleted within a minute.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from wascc.providers.keyvalue.dbthread import Synchronous, Worker
from wascc.providers.keyvalue.store import (
    Kind,
    checked_total,
    parse_integer,
    range_slice,
    wrong_kind,
)

__all__ = ["SCHEMA_VERSION", "SqliteStore", "SyncSqliteStore"]

SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS kv_keys (
        key TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL,              -- 'string', 'list' or 'set'
        value TEXT,                      -- strings only
        size INTEGER NOT NULL DEFAULT 0, -- lists and sets: how many items
        expires_at REAL                  -- strings with an expiry: Unix time
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS kv_keys_expiry ON kv_keys (expires_at) "
    "WHERE expires_at IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS kv_list_items (
        key TEXT NOT NULL, pos INTEGER NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, pos)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS kv_set_members (
        key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member)
    ) WITHOUT ROWID""",
)

Row = tuple[str, str | None, int]  # kind, value, size


def _setup(conn: sqlite3.Connection) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the file has schema version {version}; this host understands up to "
            f"{SCHEMA_VERSION} (written by a newer wascc-py?)"
        )
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _sweep(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM kv_keys WHERE expires_at <= ?", (time.time(),))


def _live(conn: sqlite3.Connection, key: str) -> Row | None:
    row = conn.execute(
        "SELECT kind, value, size FROM kv_keys WHERE key = ? "
        "AND (expires_at IS NULL OR expires_at > ?)",
        (key, time.time()),
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def _typed(conn: sqlite3.Connection, key: str, operation: str, kind: Kind) -> Row | None:
    row = _live(conn, key)
    if row is not None and row[0] != kind:
        raise wrong_kind(key, row[0], operation, kind)
    return row


def _drop(conn: sqlite3.Connection, key: str) -> None:
    """Delete the key and its items, whatever its kind and expiry."""
    row = conn.execute("SELECT kind FROM kv_keys WHERE key = ?", (key,)).fetchone()
    if row is None:
        return
    if row[0] == "list":
        conn.execute("DELETE FROM kv_list_items WHERE key = ?", (key,))
    elif row[0] == "set":
        conn.execute("DELETE FROM kv_set_members WHERE key = ?", (key,))
    conn.execute("DELETE FROM kv_keys WHERE key = ?", (key,))


def _resize(conn: sqlite3.Connection, key: str, size: int) -> int:
    if size:
        conn.execute("UPDATE kv_keys SET size = ? WHERE key = ?", (size, key))
    else:
        conn.execute("DELETE FROM kv_keys WHERE key = ?", (key,))
    return size


def _new_collection(conn: sqlite3.Connection, key: str, kind: Kind) -> None:
    # A string that expired may still have its row: replace it.
    conn.execute(
        "INSERT OR REPLACE INTO kv_keys (key, kind, value, size, expires_at) "
        "VALUES (?, ?, NULL, 0, NULL)",
        (key, kind),
    )


# one function per operation (each runs in a transaction, or a savepoint of a batch) -------


def _get(key: str, conn: sqlite3.Connection) -> str | None:
    row = _typed(conn, key, "Get", "string")
    return None if row is None else row[1]


def _set(key: str, value: str, expires: int, conn: sqlite3.Connection) -> None:
    _drop(conn, key)
    expires_at = time.time() + expires if expires > 0 else None
    conn.execute(
        "INSERT INTO kv_keys (key, kind, value, size, expires_at) VALUES (?, 'string', ?, 0, ?)",
        (key, value, expires_at),
    )


def _add(key: str, delta: int, conn: sqlite3.Connection) -> int:
    row = _typed(conn, key, "Add", "string")
    if row is None:
        total = checked_total(key, 0, delta)
        conn.execute(
            "INSERT OR REPLACE INTO kv_keys (key, kind, value, size, expires_at) "
            "VALUES (?, 'string', ?, 0, NULL)",
            (key, str(total)),
        )
        return total
    total = checked_total(key, parse_integer(key, row[1] or ""), delta)
    conn.execute("UPDATE kv_keys SET value = ? WHERE key = ?", (str(total), key))
    return total


def _delete(key: str, conn: sqlite3.Connection) -> None:
    _drop(conn, key)


def _exists(key: str, conn: sqlite3.Connection) -> bool:
    return _live(conn, key) is not None


def _range(key: str, start: int, stop: int, conn: sqlite3.Connection) -> list[str]:
    row = _typed(conn, key, "Range", "list")
    window = None if row is None else range_slice(row[2], start, stop)
    if window is None:
        return []
    rows = conn.execute(
        "SELECT value FROM kv_list_items WHERE key = ? ORDER BY pos LIMIT ? OFFSET ?",
        (key, window.stop - window.start, window.start),
    )
    return [r[0] for r in rows]


def _push(key: str, value: str, conn: sqlite3.Connection) -> int:
    row = _typed(conn, key, "Push", "list")
    if row is None:
        _new_collection(conn, key, "list")
        pos, size = 0, 0
    else:
        last = conn.execute("SELECT max(pos) FROM kv_list_items WHERE key = ?", (key,)).fetchone()
        pos, size = int(last[0]) + 1, row[2]
    conn.execute("INSERT INTO kv_list_items (key, pos, value) VALUES (?, ?, ?)", (key, pos, value))
    return _resize(conn, key, size + 1)


def _list_remove(key: str, value: str, conn: sqlite3.Connection) -> int:
    row = _typed(conn, key, "ListItemDelete", "list")
    if row is None:
        return 0
    removed = conn.execute(
        "DELETE FROM kv_list_items WHERE key = ? AND value = ?", (key, value)
    ).rowcount
    return _resize(conn, key, row[2] - removed)


def _set_add(key: str, value: str, conn: sqlite3.Connection) -> int:
    row = _typed(conn, key, "SetAdd", "set")
    if row is None:
        _new_collection(conn, key, "set")
    added = conn.execute(
        "INSERT OR IGNORE INTO kv_set_members (key, member) VALUES (?, ?)", (key, value)
    ).rowcount
    return _resize(conn, key, (0 if row is None else row[2]) + added)


def _set_remove(key: str, value: str, conn: sqlite3.Connection) -> int:
    row = _typed(conn, key, "SetRemove", "set")
    if row is None:
        return 0
    removed = conn.execute(
        "DELETE FROM kv_set_members WHERE key = ? AND member = ?", (key, value)
    ).rowcount
    return _resize(conn, key, row[2] - removed)


def _members(conn: sqlite3.Connection, key: str, operation: str) -> set[str] | None:
    if _typed(conn, key, operation, "set") is None:
        return None
    rows = conn.execute("SELECT member FROM kv_set_members WHERE key = ?", (key,))
    return {r[0] for r in rows}


def _set_query(key: str, conn: sqlite3.Connection) -> list[str]:
    return sorted(_members(conn, key, "SetQuery") or ())


def _union(keys: Sequence[str], conn: sqlite3.Connection) -> list[str]:
    found = [_members(conn, key, "SetUnion") for key in dict.fromkeys(keys)]
    return sorted(set().union(*(m for m in found if m)))


def _intersection(keys: Sequence[str], conn: sqlite3.Connection) -> list[str]:
    found = [_members(conn, key, "SetIntersection") for key in dict.fromkeys(keys)]
    if not found or any(m is None for m in found):
        return []
    first, *rest = (m for m in found if m is not None)
    return sorted(first.intersection(*rest))


T = TypeVar("T")


class _Runner(Protocol):
    """How a store runs a job on its database thread (``Worker.run``)."""

    def __call__(self, job: Callable[[sqlite3.Connection], T], /) -> Awaitable[T]: ...


class _BlockingRunner(Protocol):
    """How a ``SyncSqliteStore`` runs a job: on this thread, or waiting for the store's."""

    def __call__(self, job: Callable[[sqlite3.Connection], T], /) -> T: ...


class SqliteStore:
    """A key-value store in the SQLite file at ``path`` (created with its directories)."""

    backend = "sqlite"

    def __init__(self, path: Path, *, synchronous: Synchronous = "full") -> None:
        self.path = path
        self.synchronous = synchronous
        self._worker = Worker(path, synchronous=synchronous, setup=_setup, periodic=_sweep)
        self._run: _Runner = self._worker.run

    def direct(self, timeout: float) -> SyncSqliteStore:
        """The same store for callers on their own thread (never waiting for the event loop):
        ``TimeoutError`` after ``timeout`` seconds of waiting for the database."""
        return SyncSqliteStore(self._worker, timeout)

    async def open(self) -> None:
        """Open the file, create the schema, and drop keys that expired while it was closed."""
        await self._worker.start()
        await self._worker.run(_sweep)

    async def get(self, key: str) -> str | None:
        return await self._run(partial(_get, key))

    async def set(self, key: str, value: str, expires: int) -> None:
        await self._run(partial(_set, key, value, expires))

    async def add(self, key: str, delta: int) -> int:
        return await self._run(partial(_add, key, delta))

    async def delete(self, key: str) -> None:
        await self._run(partial(_delete, key))

    async def exists(self, key: str) -> bool:
        return await self._run(partial(_exists, key))

    async def list_range(self, key: str, start: int, stop: int) -> list[str]:
        return await self._run(partial(_range, key, start, stop))

    async def list_push(self, key: str, value: str) -> int:
        return await self._run(partial(_push, key, value))

    async def list_remove(self, key: str, value: str) -> int:
        return await self._run(partial(_list_remove, key, value))

    async def set_add(self, key: str, value: str) -> int:
        return await self._run(partial(_set_add, key, value))

    async def set_remove(self, key: str, value: str) -> int:
        return await self._run(partial(_set_remove, key, value))

    async def set_members(self, key: str) -> list[str]:
        return await self._run(partial(_set_query, key))

    async def set_union(self, keys: Sequence[str]) -> list[str]:
        return await self._run(partial(_union, tuple(keys)))

    async def set_intersection(self, keys: Sequence[str]) -> list[str]:
        return await self._run(partial(_intersection, tuple(keys)))

    async def close(self) -> None:
        await self._worker.close()


class SyncSqliteStore:
    """A ``SqliteStore``'s operations for a caller on its own thread: with ``NORMAL`` the job
    runs on that thread (``Worker.run_here``), with ``FULL`` it waits for the database
    thread's group commit (``Worker.run_blocking``). The same jobs as ``SqliteStore``."""

    backend = "sqlite"

    def __init__(self, worker: Worker, timeout: float) -> None:
        self._worker = worker
        self._here = worker.synchronous == "normal"
        self._run: _BlockingRunner = partial(
            worker.run_here if self._here else worker.run_blocking, timeout=timeout
        )

    @property
    def loop_safe(self) -> bool:
        """Whether a call never waits for the disk now: ``NORMAL``, open, and no checkpoint
        holding the connection (see ``dbthread``)."""
        return self._here and self._worker.open and not self._worker.stalled

    def get(self, key: str) -> str | None:
        return self._run(partial(_get, key))

    def set(self, key: str, value: str, expires: int) -> None:
        self._run(partial(_set, key, value, expires))

    def add(self, key: str, delta: int) -> int:
        return self._run(partial(_add, key, delta))

    def delete(self, key: str) -> None:
        self._run(partial(_delete, key))

    def exists(self, key: str) -> bool:
        return self._run(partial(_exists, key))

    def list_range(self, key: str, start: int, stop: int) -> list[str]:
        return self._run(partial(_range, key, start, stop))

    def list_push(self, key: str, value: str) -> int:
        return self._run(partial(_push, key, value))

    def list_remove(self, key: str, value: str) -> int:
        return self._run(partial(_list_remove, key, value))

    def set_add(self, key: str, value: str) -> int:
        return self._run(partial(_set_add, key, value))

    def set_remove(self, key: str, value: str) -> int:
        return self._run(partial(_set_remove, key, value))

    def set_members(self, key: str) -> list[str]:
        return self._run(partial(_set_query, key))

    def set_union(self, keys: Sequence[str]) -> list[str]:
        return self._run(partial(_union, tuple(keys)))

    def set_intersection(self, keys: Sequence[str]) -> list[str]:
        return self._run(partial(_intersection, tuple(keys)))
