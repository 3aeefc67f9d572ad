"""The Redis back end for calls answered on the calling thread (``Provider.direct``): redis-py's
blocking connections, the same commands as ``RedisStore``, the same translation of errors.

The calling thread may be the event loop's own (an actor running inline), where every
millisecond spent waiting for Redis is a millisecond nothing else runs. So each call is timed
by a ``QuickGate`` that says ``loop_safe`` only while Redis answers quickly, and calls on the
loop's thread use a connection whose connect and read timeouts are at most ``LOOP_TIMEOUT``
and whose timeouts are not retried: a stopped or unreachable Redis holds the loop up that long
once, the gate closes, and later calls run on worker threads with the binding's ``TIMEOUT``.

Each thread talks to Redis over a connection of its own (``redis.Connection``'s
``send_command``/``read_response``), not through ``redis.Redis`` and a pool: a thread makes
one call at a time, so the pool's locking, the client's retry wrapper and its instrumentation
(three times the CPU of the command itself, measured with redis-py 8.1) buy nothing here.
What they did is done here: one retry on a dead connection (Redis restarted), none on a
timeout (a frozen Redis costs one TIMEOUT, not two), a connection dropped after any failure so
that a late answer is never read as the next one, and MULTI/EXEC for the operations whose
answer needs two commands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from wascc.providers.keyvalue.errors import StoreUnavailableError
from wascc.providers.keyvalue.quickgate import QUICK_ON_WORKER, QuickGate
from wascc.providers.keyvalue.redis_common import (
    FAILURES,
    combined,
    connection_options,
    follow_up,
    redact_url,
    translate,
    unique,
)
from wascc.providers.keyvalue.store import Kind

__all__ = ["LOOP_TIMEOUT", "SyncRedisStore"]

LOOP_TIMEOUT = 0.5
"""The longest a call on the event loop's thread waits to connect or for an answer."""

T = TypeVar("T")
Args = tuple[str | int, ...]
# redis.Connection, whose methods are not annotated (Any keeps mypy --strict quiet about it).
Conn = Any
_Exchange = Callable[[Conn], T]


class SyncRedisStore:
    """The Redis database at ``url`` for callers on their own thread. ``loop_thread`` is the
    event loop's thread id (``threading.get_ident()``); ``where`` names the store and the
    binding in log lines."""

    backend = "redis"

    def __init__(self, url: str, *, timeout: float, loop_thread: int | None, where: str) -> None:
        self.url = url
        self.gate = QuickGate(where)
        self._loop_thread = loop_thread
        # Pools used only as factories of connections configured from the URL.
        self._worker_factory = _factory(url, timeout)
        self._loop_factory = _factory(url, min(timeout, LOOP_TIMEOUT))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Conn] = []
        self._closed = False

    @property
    def loop_safe(self) -> bool:
        """Whether Redis answered quickly of late (see ``QuickGate``)."""
        return self.gate.open

    def _connection(self, on_loop: bool) -> Conn:
        if self._closed:  # a thread's cached connection would quietly connect again
            raise self._closed_error()
        conn: Conn | None = getattr(self._local, "conn", None)
        if conn is None:
            factory = self._loop_factory if on_loop else self._worker_factory
            conn = factory.make_connection()
            with self._lock:
                if self._closed:
                    raise self._closed_error()
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _closed_error(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the Redis store {redact_url(self.url)} is closed (its binding was removed)"
        )

    def _run(self, operation: str, key: str, expected: Kind | None, exchange: _Exchange[T]) -> T:
        on_loop = threading.get_ident() == self._loop_thread
        conn = self._connection(on_loop)
        try:
            started = time.perf_counter()
            conn.connect()  # a no-op when connected
            # A connect (a few ms: TCP, then redis-py's handshake) is judged leniently, as a
            # worker's call is: only a Redis too slow to take a connection closes the gate.
            if (took := time.perf_counter() - started) > QUICK_ON_WORKER:
                self.gate.answered(took, on_loop=False)
            started = time.perf_counter()
            try:
                result = exchange(conn)
            except (RedisTimeoutError, TimeoutError):
                raise  # not retried (TimeoutError is an OSError: caught before the next line)
            except (RedisConnectionError, OSError):
                conn.disconnect()  # Redis restarted: its old connections are dead; once more
                conn.connect()
                started = time.perf_counter()
                result = exchange(conn)
        except FAILURES as exc:
            if not isinstance(exc, ResponseError):
                conn.disconnect()  # whatever Redis sends late must not answer the next call
                self.gate.failed()
                error = translate(exc, url=self.url, operation=operation, key=key)
                raise error from error.__cause__
            self.gate.answered(time.perf_counter() - started, on_loop=on_loop)
            extra = follow_up(exc, expected)
            found = None if extra is None else _ask(conn, extra, key)
            error = translate(
                exc, url=self.url, operation=operation, key=key, expected=expected, found=found
            )
            raise error from error.__cause__
        self.gate.answered(time.perf_counter() - started, on_loop=on_loop)
        return result

    def _one(self, operation: str, key: str, expected: Kind | None, *args: str | int) -> Any:
        """One command's answer."""
        return self._run(operation, key, expected, lambda conn: _command(conn, args))

    def _multi(
        self, operation: str, key: str, expected: Kind, *commands: Args, raise_on_error: bool = True
    ) -> list[Any]:
        """The answers of ``commands`` run in one MULTI/EXEC (the first error raised, unless
        ``raise_on_error`` is False: then errors are among the answers)."""
        return self._run(
            operation, key, expected, lambda conn: _transaction(conn, commands, raise_on_error)
        )

    def get(self, key: str) -> str | None:
        value = self._one("Get", key, "string", "GET", key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, expires: int) -> None:
        if expires > 0:
            self._one("Set", key, None, "SET", key, value, "EX", expires)
        else:
            self._one("Set", key, None, "SET", key, value)

    def add(self, key: str, delta: int) -> int:
        return int(self._one("Add", key, "string", "INCRBY", key, delta))

    def delete(self, key: str) -> None:
        self._one("Del", key, None, "DEL", key)

    def exists(self, key: str) -> bool:
        return bool(self._one("KeyExists", key, None, "EXISTS", key))

    def list_range(self, key: str, start: int, stop: int) -> list[str]:
        values = self._one("Range", key, "list", "LRANGE", key, start, stop)
        return [str(v) for v in values]

    def list_push(self, key: str, value: str) -> int:
        return int(self._one("Push", key, "list", "RPUSH", key, value))

    def list_remove(self, key: str, value: str) -> int:
        results = self._multi("ListItemDelete", key, "list", ("LREM", key, 0, value), ("LLEN", key))
        return int(results[-1])

    def set_add(self, key: str, value: str) -> int:
        results = self._multi("SetAdd", key, "set", ("SADD", key, value), ("SCARD", key))
        return int(results[-1])

    def set_remove(self, key: str, value: str) -> int:
        results = self._multi("SetRemove", key, "set", ("SREM", key, value), ("SCARD", key))
        return int(results[-1])

    def set_members(self, key: str) -> list[str]:
        members = self._one("SetQuery", key, "set", "SMEMBERS", key)
        return sorted(str(m) for m in members)

    def _combine(self, operation: str, command: str, keys: Sequence[str]) -> list[str]:
        names = unique(keys)
        if not names:
            return []
        commands = [("TYPE", key) for key in names]
        results = self._run(
            operation,
            "",
            None,
            lambda conn: _transaction(conn, (*commands, (command, *names)), False),
        )
        return combined(operation, names, results)

    def set_union(self, keys: Sequence[str]) -> list[str]:
        return self._combine("SetUnion", "SUNION", keys)

    def set_intersection(self, keys: Sequence[str]) -> list[str]:
        return self._combine("SetIntersection", "SINTER", keys)

    def close(self) -> None:
        """Close every thread's connection (calls in flight fail)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.disconnect()


def _factory(url: str, timeout: float) -> redis.ConnectionPool:
    """A pool used only for ``make_connection``: connections of the URL's kind (TCP, TLS or
    Unix socket, its password and database), with ``timeout`` on connect and socket."""
    # No retries inside redis-py (it would retry a connect 3 times by default): ``_run``
    # retries a dead connection once, and a timeout not at all, so a call waits at most
    # TIMEOUT for its connect and TIMEOUT for its answer.
    return redis.ConnectionPool.from_url(
        url, **connection_options(timeout), retry=Retry(NoBackoff(), 0)
    )


def _command(conn: Conn, args: Args) -> Any:
    """Send one command and read its answer (Redis's error reply raised)."""
    conn.send_command(*args)
    return conn.read_response()


def _transaction(conn: Conn, commands: Sequence[Args], raise_on_error: bool) -> list[Any]:
    """``MULTI``, ``commands``, ``EXEC`` in one write; ``EXEC``'s answers."""
    conn.send_packed_command(conn.pack_commands([("MULTI",), *commands, ("EXEC",)]))
    try:
        conn.read_response()  # OK
        for _ in commands:
            conn.read_response()  # QUEUED
        answers = conn.read_response()
    except ResponseError:  # refused while queued: EXEC's EXECABORT may still be unread
        conn.disconnect()
        raise
    if answers is None:
        raise RedisConnectionError("the transaction was aborted")
    if raise_on_error:
        for answer in answers:
            if isinstance(answer, ResponseError):
                raise answer
    return list(answers)


def _ask(conn: Conn, command: str, key: str) -> str | None:
    """The answer to ``TYPE key`` or ``GET key``, to word an error; ``None`` if it fails."""
    try:
        return str(_command(conn, (command, key)))
    except (RedisError, OSError):
        conn.disconnect()
        return None
