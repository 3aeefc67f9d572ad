"""Native Python capability providers: HTTP server, logging and extras, and the message codec.

Providers depend on the provider interface (``host.typing``), the exception tree
(``host.errors``) and the codec (``providers.codec``) only.
"""

from __future__ import annotations

from providers.codec import CodecError
from providers.extras import ExtrasProvider
from providers.http import HttpServerProvider, HttpSettings
from providers.logging_provider import LoggingProvider

__all__ = [
    "CodecError",
    "ExtrasProvider",
    "HttpServerProvider",
    "HttpSettings",
    "LoggingProvider",
]
