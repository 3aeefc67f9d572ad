"""The HTTP server's codec fast paths (``encode_http_request``, ``decode_http_response``):
the same bytes, values and errors as the generic record machinery, in every shape."""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wascc.providers.codec import (
    CodecError,
    HttpRequest,
    HttpResponse,
    Record,
    decode_http_response,
    encode_http_request,
)
from wascc.providers.codec._record import unpack_first


def _generic_encode(record: Record) -> bytes:
    return msgpack.packb(record.to_wire(), use_bin_type=True)  # type: ignore[no-any-return]


def _generic_decode(data: bytes) -> tuple[Any, ...]:
    """What ``Record.decode`` (without the fast path) gives, as a tuple."""
    try:
        reply = HttpResponse.from_wire(unpack_first(data, "HttpResponse"))
    except CodecError as exc:
        return ("error", str(exc), exc.field, exc.message_type)
    return (reply.status_code, reply.status, dict(reply.header), reply.body)


def _fast_decode(data: bytes) -> tuple[Any, ...]:
    try:
        code, status, header, body = decode_http_response(data)
    except CodecError as exc:
        return ("error", str(exc), exc.field, exc.message_type)
    return (code, status, dict(header), body)


@given(
    method=st.text(max_size=8),
    path=st.text(max_size=40),
    query=st.text(max_size=40),
    header=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    body=st.binary(max_size=300),
)
def test_request_bytes_are_those_of_the_generic_encoder(
    method: str, path: str, query: str, header: dict[str, str], body: bytes
) -> None:
    """Byte for byte ``packb(to_wire(), use_bin_type=True)``, through the function and the
    record alike."""
    record = HttpRequest(method, path, query, header, body)
    expected = _generic_encode(record)
    assert encode_http_request(method, path, query, header, body) == expected
    assert record.encode() == expected


def test_request_header_mapping_that_is_not_a_dict() -> None:
    """Any Mapping is packed as the dict it holds."""
    header = MappingProxyType({"a": "1", "b": "2"})
    record = HttpRequest("GET", "/", "", header, b"")
    assert record.encode() == _generic_encode(record)
    assert encode_http_request("GET", "/", "", header, b"") == _generic_encode(record)


def test_request_that_cannot_be_encoded_raises_and_leaves_the_encoder_usable() -> None:
    """A lone surrogate cannot be UTF-8: ``CodecError``; the next message is unaffected."""
    with pytest.raises(CodecError, match="HttpRequest: cannot encode") as caught:
        encode_http_request("GET", "/\udcff", "", {"a": "b" * 100}, b"x" * 100)
    assert caught.value.message_type == "HttpRequest"
    record = HttpRequest("GET", "/", "q=1", {"h": "v"}, b"body")
    assert record.encode() == _generic_encode(record)


def test_requests_encoded_from_several_threads() -> None:
    """Each thread has its own packer: concurrent encodes give the exact bytes."""
    failures: list[int] = []

    def work(n: int) -> None:
        for i in range(2000):
            record = HttpRequest("POST", f"/{n}/{i}", "", {"n": str(n)}, bytes([n]) * (i % 50))
            if record.encode() != _generic_encode(record):
                failures.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


RESPONSES: list[object] = [
    {"statusCode": 200, "status": "OK", "header": {"Content-Type": "text/plain"}, "body": b"hi"},
    {"statusCode": 204},
    {"statusCode": 204, "status": None, "header": None, "body": None},
    {"statusCode": 200, "extra": [1, 2], "body": b""},
    {"statusCode": 200, "status": b"OK", "body": "text"},
    {"statusCode": 200, "body": [0, 1, 255]},
    {"statusCode": 200, "body": [0, 1, 256]},
    {"statusCode": 200, "header": {"set-cookie": ["a=1", "b=2"]}},
    {"statusCode": 200, "header": {b"x-bin": b"value"}},
    {"statusCode": 200, "header": {"x": None}},
    {"statusCode": 200, "header": {"x": 1}},
    {"statusCode": 200, "header": {"x": b"\xff"}},
    {"statusCode": 200, "header": ["a", "b"]},
    {"statusCode": True},
    {"statusCode": "200"},
    {"statusCode": None},
    {"status": "OK"},
    {"statusCode": 200, "status": 5},
    [200, "OK", {}, b""],
    None,
    "response",
]


@pytest.mark.parametrize("tail", [b"", b"\x00"])
@pytest.mark.parametrize("obj", RESPONSES)
def test_response_decodes_as_the_generic_decoder(obj: object, tail: bytes) -> None:
    """The same fields for every shape the generic decoder accepts, and the same errors (text
    and field) for every one it refuses, with or without a byte after the message."""
    data = msgpack.packb(obj, use_bin_type=True) + tail
    assert _fast_decode(data) == _generic_decode(data)
    if _generic_decode(data)[0] != "error":
        assert HttpResponse.decode(data) == HttpResponse(*_generic_decode(data))


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\x81\xa1a"])
def test_response_that_is_not_msgpack(data: bytes) -> None:
    """Invalid msgpack (empty, reserved bytes, truncated) is a ``CodecError``."""
    with pytest.raises(CodecError, match="HttpResponse: the payload is not valid msgpack"):
        decode_http_response(data)
    with pytest.raises(CodecError, match="HttpResponse: the payload is not valid msgpack"):
        HttpResponse.decode(data)


def test_response_from_any_bytes_like_container() -> None:
    """bytes, bytearray and memoryview decode alike."""
    data = HttpResponse(201, "Created", {"a": "b"}, b"x").encode()
    expected = (201, "Created", {"a": "b"}, b"x")
    assert decode_http_response(data) == expected
    assert decode_http_response(bytearray(data)) == expected
    assert decode_http_response(memoryview(data)) == expected
