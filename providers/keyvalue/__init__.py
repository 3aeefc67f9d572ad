"""The key-value provider, contract ``wascc:keyvalue``, with memory, SQLite and Redis back ends.

All fourteen operations of docs/contracts.md behave the same on every back end (the rules are in
``providers.keyvalue.store``); the binding's ``BACKEND`` value picks one (see
``providers.keyvalue.settings``).
"""

from __future__ import annotations

from wascc.providers.keyvalue.errors import (
    InvalidRequestError,
    KeyValueError,
    NotAnIntegerError,
    StoreUnavailableError,
    WrongKindError,
)
from wascc.providers.keyvalue.memory import MemoryStore
from wascc.providers.keyvalue.provider import (
    DEFAULT_DATA_DIR,
    KeyValueProvider,
    MemoryKeyValueProvider,
)
from wascc.providers.keyvalue.redis_store import RedisStore
from wascc.providers.keyvalue.settings import KeyValueSettings
from wascc.providers.keyvalue.sqlite import SqliteStore
from wascc.providers.keyvalue.store import KeyValueStore

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
