"""What the two Redis stores share: how they connect, and the one translation of Redis's
errors and answers into the provider's (``RedisStore`` on the event loop, ``SyncRedisStore``
on the calling thread).

Translating an error sometimes needs one more fact from Redis (which kind of value a key
holds, what it holds), fetched the way each store talks to Redis; ``follow_up`` says which,
``translate`` words the error with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from wascc.providers.keyvalue.errors import KeyValueError, NotAnIntegerError, StoreUnavailableError
from wascc.providers.keyvalue.store import Kind, wrong_kind

__all__ = [
    "FAILURES",
    "MAX_CONNECTIONS",
    "FollowUp",
    "combined",
    "connection_options",
    "follow_up",
    "pool_options",
    "redact_url",
    "translate",
    "unique",
]

FAILURES = (RedisError, OSError, TimeoutError)
"""What a Redis call may raise that ``translate`` turns into a ``KeyValueError``."""

FollowUp = Literal["TYPE", "GET"] | None


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


MAX_CONNECTIONS = 64
"""Connections a pool opens at most; a call beyond waits for one to be free."""


def connection_options(timeout: float) -> dict[str, Any]:
    """Keywords for one connection (any redis-py pool's ``from_url``): answers decoded as
    text, ``timeout`` on each connect and each socket read or write."""
    return {
        "decode_responses": True,
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
    }


def pool_options(timeout: float) -> dict[str, Any]:
    """Keywords for ``BlockingConnectionPool.from_url``: ``connection_options``, and
    ``timeout`` on the wait for a free connection too (the plain pool refuses a call beyond
    its limit instead: "Too many connections"). One retry: after Redis restarts, pooled
    connections are dead; the retry opens a fresh one, so the first call after the restart
    already succeeds."""
    errors = (RedisConnectionError, RedisTimeoutError, TimeoutError)
    return {
        **connection_options(timeout),
        "max_connections": MAX_CONNECTIONS,
        "timeout": timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=errors),
    }


def follow_up(exc: BaseException, expected: Kind | None) -> FollowUp:
    """The command whose answer the message for ``exc`` needs on the key, if any."""
    if not isinstance(exc, ResponseError):
        return None
    text = str(exc)
    if "WRONGTYPE" in text and expected is not None:
        return "TYPE"
    if "not an integer" in text:
        return "GET"
    return None


def translate(
    exc: BaseException,
    *,
    url: str,
    operation: str,
    key: str = "",
    expected: Kind | None = None,
    found: str | None = None,
) -> KeyValueError:
    """The provider's error for ``exc``, a Redis call's failure; ``found`` is the answer to
    ``follow_up``'s command (``None`` if it failed too). Raise it ``from`` its ``__cause__``."""
    error = _translated(exc, url=url, operation=operation, key=key, expected=expected, found=found)
    # Redis's own error explains an outage; a refusal is said in full by the message.
    error.__cause__ = exc if isinstance(error, StoreUnavailableError) else None
    error.__suppress_context__ = True
    return error


def _translated(
    exc: BaseException,
    *,
    url: str,
    operation: str,
    key: str,
    expected: Kind | None,
    found: str | None,
) -> KeyValueError:
    if isinstance(exc, ResponseError):
        text = str(exc)
        if "WRONGTYPE" in text and expected is not None:
            return wrong_kind(key, found or "value of another kind", operation, expected)
        if "not an integer" in text:
            return NotAnIntegerError(
                f"key {key!r} holds {(found or '?')[:40]!r}, which is not a 64-bit integer; "
                "Add needs one"
            )
        if "overflow" in text:
            return NotAnIntegerError(f"adding to key {key!r} would overflow a 64-bit integer")
        return KeyValueError(f"Redis refused {operation}: {text}")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError | TimeoutError):
        return StoreUnavailableError(
            f"Redis at {redact_url(url)} is unreachable ({exc or type(exc).__name__}); "
            "calls fail until it is back"
        )
    return StoreUnavailableError(f"Redis failed {operation}: {exc}")


def unique(keys: Sequence[str]) -> list[str]:
    """``keys`` without repeats, in order (for ``SUNION``/``SINTER`` and their ``TYPE``s)."""
    return list(dict.fromkeys(keys))


def combined(operation: str, keys: list[str], results: list[Any]) -> list[str]:
    """The sorted members from a transaction of ``TYPE key`` for each of ``keys`` and then
    ``SUNION``/``SINTER``: any key of another kind is an error (Redis's ``SINTER`` stops at
    the first missing key without looking at the others)."""
    for key, kind in zip(keys, results, strict=False):
        if kind not in ("set", "none"):
            raise wrong_kind(key, str(kind), operation, "set")
    members = results[-1]
    if isinstance(members, Exception):
        raise KeyValueError(f"Redis refused {operation}: {members}")
    return sorted(str(m) for m in members)
