"""Cross-origin resource sharing for the HTTP server, switched on by the ``CORS`` value.

Only what browsers need: answer preflight requests for allowed origins without bothering the
actor, and mark responses to allowed origins. The actor's own CORS headers always win.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["Cors"]

_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
_MAX_AGE = "600"


class Cors:
    """The CORS policy of one listener: ``origins`` lists allowed origins, or holds ``*``."""

    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def _allow(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if not allowed."""
        if origin is None:
            return None
        if self._any:
            return "*"
        return origin if origin in self._origins else None

    def preflight(self, request: web.BaseRequest) -> web.Response | None:
        """The answer to a preflight request from an allowed origin; None for anything else."""
        if request.method != "OPTIONS":
            return None
        method = request.headers.get("Access-Control-Request-Method")
        allowed = self._allow(request.headers.get("Origin"))
        if method is None or allowed is None:
            return None
        response = web.Response(status=204)
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = allowed
        headers["Access-Control-Allow-Methods"] = _METHODS
        asked = request.headers.get("Access-Control-Request-Headers")
        if asked:
            headers["Access-Control-Allow-Headers"] = asked
        headers["Access-Control-Max-Age"] = _MAX_AGE
        if allowed != "*":
            headers["Vary"] = "Origin"
        return response

    def decorate(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Add ``Access-Control-Allow-Origin`` for an allowed origin unless the actor set it."""
        headers = response.headers
        if "Access-Control-Allow-Origin" in headers:
            return
        allowed = self._allow(request.headers.get("Origin"))
        if allowed is None:
            return
        headers["Access-Control-Allow-Origin"] = allowed
        if allowed != "*":
            headers.add("Vary", "Origin")
