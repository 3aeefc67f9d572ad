"""The Redis back end (``BACKEND=redis``, ``URL=redis://host:port/db``), via redis-py's asyncio
client for ``Provider.handle`` (``SyncRedisStore`` is the blocking twin for direct calls).

Each operation is one Redis command, or one ``MULTI`` transaction where the answer needs two
(``SADD`` + ``SCARD``), so it stays atomic. Redis's own errors are translated in one place
(``redis_common.translate``) into the provider's errors with the same wording as the other
back ends. While Redis is down every call fails fast with ``StoreUnavailableError`` (connect
and socket timeouts bound each attempt; the provider bounds the whole call), and the
connection pool reconnects by itself on the first call after Redis is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wascc.providers.keyvalue.redis_common import (
    FAILURES,
    combined,
    follow_up,
    pool_options,
    redact_url,
    translate,
    unique,
)
from wascc.providers.keyvalue.store import Kind

__all__ = ["RedisStore", "redact_url"]


class RedisStore:
    """A key-value store in the Redis database at ``url``; ``timeout`` bounds each connect
    and each socket read or write, in seconds."""

    backend = "redis"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        pool = aioredis.BlockingConnectionPool.from_url(url, **pool_options(timeout))
        self._client: aioredis.Redis = aioredis.Redis.from_pool(pool)

    async def open(self) -> None:
        """Nothing to do: connections open on first use (Redis may be down at bind time)."""

    @asynccontextmanager
    async def _translated(
        self, operation: str, key: str = "", expected: Kind | None = None
    ) -> AsyncIterator[None]:
        try:
            yield
        except FAILURES as exc:
            command = follow_up(exc, expected)
            found = None if command is None else await self._ask(command, key)
            error = translate(
                exc, url=self.url, operation=operation, key=key, expected=expected, found=found
            )
            raise error from error.__cause__

    async def _ask(self, command: str, key: str) -> str | None:
        try:
            answer = await (self._client.type(key) if command == "TYPE" else self._client.get(key))
        except RedisError:
            return None
        return str(answer)

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
        names = unique(keys)
        if not names:
            return []
        async with self._translated(operation):
            pipe = self._client.pipeline(transaction=True)
            for key in names:
                pipe.type(key)
            pipe.execute_command(command, *names)
            results = await pipe.execute(raise_on_error=False)
        return combined(operation, names, results)

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
