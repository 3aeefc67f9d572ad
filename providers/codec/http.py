"""HTTP messages, contract ``wascc:http_server``, operation ``HandleRequest`` (provider → actor)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.codec._record import Record

__all__ = ["HttpRequest", "HttpResponse"]


@dataclass(frozen=True, slots=True)
class HttpRequest(Record):
    """``{method, path, queryString, header, body}``: one HTTP request for an actor.

    ``query_string`` has no leading ``?``; header names are lower-case and repeated headers
    are joined with ``", "``.
    """

    method: str
    path: str
    query_string: str = ""
    header: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpResponse(Record):
    """``{statusCode, status, header, body}``: the actor's answer (``status`` is the reason)."""

    status_code: int
    status: str = ""
    header: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
