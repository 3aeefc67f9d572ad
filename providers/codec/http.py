"""HTTP messages, contract ``wascc:http_server``, operation ``HandleRequest`` (provider → actor).

Besides the records, two functions serve the HTTP server's hot path without building records:
``encode_http_request`` (the bytes of ``HttpRequest(...).encode()``) and
``decode_http_response`` (the fields of ``HttpResponse.decode(data)``, same checks and
errors). They take the common shapes directly and hand anything else to the generic record
machinery, so both paths always agree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

import msgpack

from wascc.providers.codec._record import CodecError, Record, _reason, unpack_first

__all__ = ["HttpRequest", "HttpResponse", "decode_http_response", "encode_http_request"]


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

    def encode(self) -> bytes:
        """The msgpack bytes: exactly ``msgpack.packb(self.to_wire(), use_bin_type=True)``."""
        return encode_http_request(
            self.method, self.path, self.query_string, self.header, self.body
        )


@dataclass(frozen=True, slots=True)
class HttpResponse(Record):
    """``{statusCode, status, header, body}``: the actor's answer (``status`` is the reason)."""

    status_code: int
    status: str = ""
    header: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Self:
        """Decode a msgpack payload; ``CodecError`` if it is not this message."""
        return cls(*decode_http_response(data))


# A packer per thread: ``Packer(use_bin_type=True).pack`` is what ``packb`` does, without
# allocating a new packer (and its buffer) for every message. One packer must not be shared
# between threads.
_local = threading.local()


def _packer() -> msgpack.Packer:
    try:
        return _local.packer
    except AttributeError:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
        return packer


def encode_http_request(
    method: str, path: str, query_string: str, header: Mapping[str, str], body: bytes
) -> bytes:
    """The bytes of ``HttpRequest(method, path, query_string, header, body).encode()``;
    ``CodecError`` if a value cannot be encoded."""
    wire = {
        "method": method,
        "path": path,
        "queryString": query_string,
        # msgpack packs dicts only, not every Mapping.
        "header": header if type(header) is dict else dict(header),
        "body": body,
    }
    try:
        return _packer().pack(wire)  # type: ignore[no-any-return]
    except Exception as exc:  # out-of-range ints, unencodable strings, wrong types
        raise CodecError(
            f"HttpRequest: cannot encode: {_reason(exc)}", message_type="HttpRequest"
        ) from None


def decode_http_response(
    data: bytes | bytearray | memoryview,
) -> tuple[int, str, Mapping[str, str], bytes]:
    """``(status_code, status, header, body)`` of ``HttpResponse.decode(data)``, with the same
    tolerance and the same ``CodecError``s."""
    obj = unpack_first(data, "HttpResponse")
    if type(obj) is dict:
        # The common shape: every field present (or missing/nil: its default) with its exact
        # type, header names and values all strings. Anything else takes the generic path.
        code = obj.get("statusCode")
        status = obj.get("status")
        header = obj.get("header")
        body = obj.get("body")
        if status is None:
            status = ""
        if header is None:
            header = {}
        if body is None:
            body = b""
        if (
            type(code) is int
            and type(status) is str
            and type(header) is dict
            and type(body) is bytes
        ):
            for name, value in header.items():
                if type(name) is not str or type(value) is not str:
                    break
            else:
                return code, status, header, body
    # An array of the fields, odd types, bin header names: the generic reader decides.
    reply = HttpResponse.from_wire(obj)
    return reply.status_code, reply.status, reply.header, reply.body
