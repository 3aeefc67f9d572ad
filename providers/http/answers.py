"""The responses the HTTP server builds: an actor's answer made safe to send, and the short
JSON bodies of the answers it gives itself (errors, refusals)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from aiohttp import web

from wascc.host.errors import ActorBusy, Unavailable

__all__ = ["error_response", "retry_after", "to_response", "unavailable_reason"]

# Headers aiohttp computes itself from the body and the connection; an actor's values for
# them would contradict what is really sent.
_MANAGED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# A header name an actor may not send: one containing CR, LF or ":".
_BAD_NAME = re.compile(r"[\r\n:]").search


def to_response(status: int, reason: str, header: Mapping[str, str], body: bytes) -> web.Response:
    """The aiohttp response for an actor's ``Response`` (its fields, as
    ``decode_http_response`` gives them); ``ValueError`` if it cannot be sent."""
    if not 200 <= status <= 599:
        raise ValueError(f"status code {status} is not a final HTTP status (200-599)")
    # Reason "" means the standard phrase; aiohttp itself refuses CR/LF in it (ValueError).
    response = web.Response(status=status, reason=reason or None, body=body)
    headers = response.headers
    for name, value in header.items():
        if not name or _BAD_NAME(name) or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} cannot be sent (empty, or contains CR, LF or :)")
        if name.lower() not in _MANAGED:
            headers.add(name, value)
    return response


def error_response(status: int, reason: str, **fields: str) -> web.Response:
    """A short JSON error body: ``{"error": reason, **fields}`` (``invocation_id``,
    ``detail``)."""
    document = {"error": reason, **fields}
    return web.Response(
        status=status, body=json.dumps(document).encode(), content_type="application/json"
    )


def unavailable_reason(exc: Unavailable) -> str:
    """The ``error`` of a 503 for an actor that cannot take the call now."""
    return "actor busy" if isinstance(exc, ActorBusy) else "actor unavailable"


def retry_after(exc: Unavailable) -> str:
    """``Retry-After`` in whole seconds, rounded up (1 if the error's value is unusable)."""
    try:
        return str(max(0, math.ceil(exc.retry_after)))
    except (TypeError, ValueError, OverflowError):
        return "1"
