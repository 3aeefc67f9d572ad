"""Native Python capability providers: HTTP server, logging, extras, key-value and messaging,
and the message codec.

Providers depend on the provider interface (``host.typing``), the exception tree
(``host.errors``) and the codec (``providers.codec``) only (messaging also signs NATS
nonces with ``keys.nkeys``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wascc.host.lazy import lazy_exports

if TYPE_CHECKING:
    from wascc.providers.codec import CodecError
    from wascc.providers.extras import ExtrasProvider
    from wascc.providers.http import HttpServerProvider, HttpSettings
    from wascc.providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider
    from wascc.providers.logging_provider import LoggingProvider
    from wascc.providers.messaging import MessagingProvider

__all__ = [
    "CodecError",
    "ExtrasProvider",
    "HttpServerProvider",
    "HttpSettings",
    "KeyValueProvider",
    "LoggingProvider",
    "MemoryKeyValueProvider",
    "MessagingProvider",
]

# Imported on first use: a provider's module loads only what that provider needs.
__getattr__ = lazy_exports(
    __name__,
    {
        "CodecError": "codec",
        "ExtrasProvider": "extras",
        "HttpServerProvider": "http",
        "HttpSettings": "http",
        "KeyValueProvider": "keyvalue",
        "MemoryKeyValueProvider": "keyvalue",
        "LoggingProvider": "logging_provider",
        "MessagingProvider": "messaging",
    },
)
