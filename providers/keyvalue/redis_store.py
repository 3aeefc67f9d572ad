"""The Redis back end (``BACKEND=redis``, ``URL=redis://host:port/db``), via redis-py's asyncio
client.

Each operation is one Redis command, or one ``MULTI`` transaction where the answer needs two
(``SADD`` + ``SCARD``), so it stays atomic. Redis's own errors are translated in one place
(``_translated``) into the provider's errors with the same wording as the other back ends.
While Redis is down every call fails fast with ``StoreUnavailableError`` (connect and socket
timeouts bound each attempt; the provider bounds the whole call), and the connection pool
reconnects by itself on the first call after Redis is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from providers.keyvalue.errors import (
    KeyValueError,
    NotAnIntegerError,
    StoreUnavailableError,
)
from providers.keyvalue.store import Kind, wrong_kind

__all__ = ["RedisStore", "redact_url"]


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class RedisStore:
    """A key-value store in the Redis database at ``url``; ``timeout`` bounds each connect
    and each socket read or write, in seconds."""

    backend = "redis"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # One retry: after Redis restarts, pooled connections are dead; the retry opens
            # a fresh one, so the first call after the restart already succeeds.
            retry=Retry(NoBackoff(), 1),
        )

    async def open(self) -> None:
        """Nothing to do: connections open on first use (Redis may be down at bind time)."""

    @asynccontextmanager
    async def _translated(
        self, operation: str, key: str = "", expected: Kind | None = None
    ) -> AsyncIterator[None]:
        try:
            yield
        except ResponseError as exc:
            text = str(exc)
            if "WRONGTYPE" in text and expected is not None:
                raise wrong_kind(key, await self._kind_of(key), operation, expected) from None
            if "not an integer" in text:
                value = await self._peek(key)
                raise NotAnIntegerError(
                    f"key {key!r} holds {value[:40]!r}, which is not a 64-bit integer; "
                    "Add needs one"
                ) from None
            if "overflow" in text:
                raise NotAnIntegerError(
                    f"adding to key {key!r} would overflow a 64-bit integer"
                ) from None
            raise KeyValueError(f"Redis refused {operation}: {text}") from None
        except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"Redis at {redact_url(self.url)} is unreachable ({exc or type(exc).__name__}); "
                "calls fail until it is back"
            ) from exc
        except RedisError as exc:
            raise StoreUnavailableError(f"Redis failed {operation}: {exc}") from exc

    async def _peek(self, key: str) -> str:
        try:
            return str(await self._client.get(key))
        except RedisError:
            return "?"

    async def _kind_of(self, key: str) -> str:
        try:
            kind = await self._client.type(key)
        except RedisError:
            return "value of another kind"
        return str(kind)

    async def _multi(self, operation: str, key: str, expected: Kind, *commands: Any) -> list[Any]:
        """Run ``(name, *args)`` commands in one MULTI/EXEC and return their results."""
        async with self._translated(operation, key, expected):
            pipe = self._client.pipeline(transaction=True)
            for name, *args in commands:
                pipe.execute_command(name, *args)
            return list(await pipe.execute())

    async def get(self, key: str) -> str | None:
        async with self._translated("Get", key, "string"):
            value = await self._client.get(key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str, expires: int) -> None:
        async with self._translated("Set", key):
            await self._client.set(key, value, ex=expires if expires > 0 else None)

    async def add(self, key: str, delta: int) -> int:
        async with self._translated("Add", key, "string"):
            return int(await self._client.incrby(key, delta))

    async def delete(self, key: str) -> None:
        async with self._translated("Del", key):
            await self._client.delete(key)

    async def exists(self, key: str) -> bool:
        async with self._translated("KeyExists", key):
            return bool(await self._client.exists(key))

    async def list_range(self, key: str, start: int, stop: int) -> list[str]:
        async with self._translated("Range", key, "list"):
            return [str(v) for v in await self._client.lrange(key, start, stop)]

    async def list_push(self, key: str, value: str) -> int:
        async with self._translated("Push", key, "list"):
            return int(await self._client.rpush(key, value))

    async def list_remove(self, key: str, value: str) -> int:
        results = await self._multi(
            "ListItemDelete", key, "list", ("LREM", key, 0, value), ("LLEN", key)
        )
        return int(results[-1])

    async def set_add(self, key: str, value: str) -> int:
        results = await self._multi("SetAdd", key, "set", ("SADD", key, value), ("SCARD", key))
        return int(results[-1])

    async def set_remove(self, key: str, value: str) -> int:
        results = await self._multi("SetRemove", key, "set", ("SREM", key, value), ("SCARD", key))
        return int(results[-1])

    async def set_members(self, key: str) -> list[str]:
        async with self._translated("SetQuery", key, "set"):
            return sorted(str(m) for m in await self._client.smembers(key))

    async def _combine(self, operation: str, command: str, keys: Sequence[str]) -> list[str]:
        # TYPE of every key in the same transaction: Redis's SINTER stops at the first missing
        # key without looking at the others, but the store's rule is that any key of another
        # kind is an error.
        unique = list(dict.fromkeys(keys))
        async with self._translated(operation):
            pipe = self._client.pipeline(transaction=True)
            for key in unique:
                pipe.type(key)
            pipe.execute_command(command, *unique)
            results = await pipe.execute(raise_on_error=False)
        for key, kind in zip(unique, results, strict=False):
            if kind not in ("set", "none"):
                raise wrong_kind(key, str(kind), operation, "set")
        members = results[-1]
        if isinstance(members, Exception):
            raise KeyValueError(f"Redis refused {operation}: {members}")
        return sorted(str(m) for m in members)

    async def set_union(self, keys: Sequence[str]) -> list[str]:
        return await self._combine("SetUnion", "SUNION", keys)

    async def set_intersection(self, keys: Sequence[str]) -> list[str]:
        return await self._combine("SetIntersection", "SINTER", keys)

    async def ping(self) -> None:
        """Round trip to Redis; ``StoreUnavailableError`` if it does not answer."""
        async with self._translated("PING"):
            await self._client.ping()

    async def close(self) -> None:
        await asyncio.shield(self._client.aclose())
