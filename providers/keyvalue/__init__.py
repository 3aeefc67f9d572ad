"""The key-value provider, contract ``wascc:keyvalue``, with memory, SQLite and Redis back ends.

All fourteen operations of spec §4 behave the same on every back end (the rules are in
``providers.keyvalue.store``); the binding's ``BACKEND`` value picks one (see
``providers.keyvalue.settings``).
"""

from __future__ import annotations

from providers.keyvalue.errors import (
    InvalidRequestError,
    KeyValueError,
    NotAnIntegerError,
    StoreUnavailableError,
    WrongKindError,
)
from providers.keyvalue.memory import MemoryStore
from providers.keyvalue.provider import DEFAULT_DATA_DIR, KeyValueProvider, MemoryKeyValueProvider
from providers.keyvalue.redis_store import RedisStore
from providers.keyvalue.settings import KeyValueSettings
from providers.keyvalue.sqlite import SqliteStore
from providers.keyvalue.store import KeyValueStore

__all__ = [
    "DEFAULT_DATA_DIR",
    "InvalidRequestError",
    "KeyValueError",
    "KeyValueProvider",
    "KeyValueSettings",
    "KeyValueStore",
    "MemoryKeyValueProvider",
    "MemoryStore",
    "NotAnIntegerError",
    "RedisStore",
    "SqliteStore",
    "StoreUnavailableError",
    "WrongKindError",
]
