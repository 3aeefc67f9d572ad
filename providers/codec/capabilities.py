"""Messages of the smaller contracts: logging, extras and messaging."""

from __future__ import annotations

from dataclasses import dataclass

from wascc.providers.codec._record import Record

__all__ = [
    "DeliverMessage",
    "ExtrasRequest",
    "ExtrasResponse",
    "PublishMessage",
    "RequestMessage",
    "WriteLogRequest",
]


@dataclass(frozen=True, slots=True)
class WriteLogRequest(Record):
    """``wascc:logging`` ``WriteLog``: ``{level, body}``; levels 1 error, 2 warn, 3 info,
    4 debug, 5 trace. The reply is an empty payload."""

    level: int
    body: str = ""


@dataclass(frozen=True, slots=True)
class ExtrasRequest(Record):
    """``wascc:extras`` ``RequestGuid`` / ``RequestRandom`` / ``RequestSequence``:
    ``{guid, sequence, random, min, max}``. The operation decides what is generated; the
    flags are written for compatibility. Random numbers are in ``[min, max)``."""

    guid: bool = False
    sequence: bool = False
    random: bool = False
    min: int = 0
    max: int = 0


@dataclass(frozen=True, slots=True)
class ExtrasResponse(Record):
    """``wascc:extras`` reply: ``{guid: str|nil, sequenceNumber, randomNumber}``."""

    guid: str | None = None
    sequence_number: int = 0
    random_number: int = 0


@dataclass(frozen=True, slots=True)
class PublishMessage(Record):
    """``wascc:messaging`` ``Publish`` (actor → provider): ``{subject, replyTo, body}``;
    the reply is an empty payload."""

    subject: str
    reply_to: str = ""
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestMessage(Record):
    """``wascc:messaging`` ``Request`` (actor → provider): ``{subject, body, timeout}``
    (milliseconds); the reply is the raw bytes of the answer."""

    subject: str
    body: bytes = b""
    timeout: int = 0


@dataclass(frozen=True, slots=True)
class DeliverMessage(Record):
    """``wascc:messaging`` ``DeliverMessage`` (provider → actor): ``{subject, replyTo, body}``."""

    subject: str
    reply_to: str = ""
    body: bytes = b""
