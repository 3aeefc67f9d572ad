"""The messages of the second generation of waPC actors: wasmCloud 0.15-0.18 (wapc-guest 0.4),
whose ``wasmcloud:*`` contracts differ from ``wascc:*`` in the shapes below.

Their keys mix spellings as their generator wrote them (``replyTo`` and ``statusCode`` beside
``new_count`` and ``random_number``), and their actors decode with no defaults: every key is
always written (``Record.to_wire`` writes every field), and a string is never nil. Reading
keeps the tolerances of ``_record`` (unknown keys ignored, a struct as an array). Contracts
not listed keep the ``wascc:*`` messages (key-value's requests, ``Push``/``ListItemDelete``'s
``{newCount}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from wascc.providers.codec._record import Record

__all__ = [
    "EXTRAS",
    "HTTP_SERVER",
    "KEYVALUE",
    "LOGGING",
    "MESSAGING",
    "BrokerMessage",
    "ExtrasResponse",
    "HealthCheckRequest",
    "HealthCheckResponse",
    "HttpRequest",
    "HttpResponse",
    "PublishMessage",
    "PublishResponse",
    "RequestMessage",
    "SetOperationResponse",
    "WriteLogRequest",
]

HTTP_SERVER = "wasmcloud:httpserver"
KEYVALUE = "wasmcloud:keyvalue"
MESSAGING = "wasmcloud:messaging"
LOGGING = "wasmcloud:logging"
EXTRAS = "wasmcloud:extras"


def _wire(name: str) -> dict[str, str]:
    return {"wire": name}


@dataclass(frozen=True, slots=True)
class HealthCheckRequest(Record):
    """``HealthRequest`` (host → actor or provider): ``{placeholder: true}``."""

    placeholder: bool = True


@dataclass(frozen=True, slots=True)
class HealthCheckResponse(Record):
    """The answer to ``HealthRequest``: ``{healthy, message}``."""

    healthy: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class HttpRequest(Record):
    """``wasmcloud:httpserver`` ``HandleRequest`` (provider → actor): ``{method, path,
    queryString, header, body}``, all five always sent."""

    method: str
    path: str
    query_string: str
    header: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpResponse(Record):
    """The actor's answer to ``HandleRequest``: ``{statusCode, status, header, body}``; the
    provider applies ``header``."""

    status_code: int
    status: str = ""
    header: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class SetOperationResponse(Record):
    """``wasmcloud:keyvalue`` ``SetAdd`` / ``SetRemove`` reply: ``{new_count}``, in snake
    case, where ``wascc:keyvalue`` and this generation's list operations say ``newCount``."""

    new_count: int = field(metadata=_wire("new_count"))


@dataclass(frozen=True, slots=True)
class PublishMessage(Record):
    """``wasmcloud:messaging`` ``Publish`` (actor → provider): ``{subject, replyTo, body}``."""

    subject: str
    reply_to: str = ""
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class PublishResponse(Record):
    """The reply to ``Publish``: ``{published}``."""

    published: bool


@dataclass(frozen=True, slots=True)
class RequestMessage(Record):
    """``wasmcloud:messaging`` ``Request`` (actor → provider): ``{subject, body, timeout}``
    (milliseconds). Its reply is a ``BrokerMessage``, not raw bytes."""

    subject: str
    body: bytes = b""
    timeout: int = 0


@dataclass(frozen=True, slots=True)
class BrokerMessage(Record):
    """A message: ``{subject, replyTo, body}``. ``HandleMessage`` (provider → actor, whose
    reply is nil) and the reply to ``Request``."""

    subject: str
    reply_to: str = ""
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class WriteLogRequest(Record):
    """``wasmcloud:logging`` ``WriteLog``: ``{target, level, text}``, the level a word
    (``error``, ``warn``, ``info``, ``debug``, ``trace``); the reply is empty."""

    target: str
    level: str
    text: str


@dataclass(frozen=True, slots=True)
class ExtrasResponse(Record):
    """``wasmcloud:extras`` reply: ``{guid, sequenceNumber, random_number}``, both numbers
    always present (the request is ``wascc:extras``'s ``ExtrasRequest``)."""

    guid: str | None = None
    sequence_number: int = 0
    random_number: int = field(default=0, metadata=_wire("random_number"))
