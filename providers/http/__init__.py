"""The HTTP server provider (contract ``wascc:http_server``) on aiohttp's low-level server."""

from __future__ import annotations

from wascc.providers.http.provider import HttpServerProvider
from wascc.providers.http.settings import HttpSettings

__all__ = ["HttpServerProvider", "HttpSettings"]
