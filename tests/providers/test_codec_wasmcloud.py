"""The wasmCloud 0.18 generation's messages, byte for byte: every key written, its spelling as
that generation's actors decode it (camel and snake case mixed)."""

from __future__ import annotations

import msgpack
import pytest

from wascc.providers.codec import AddRequest, CodecError, ExtrasRequest
from wascc.providers.codec.wasmcloud import (
    BrokerMessage,
    ExtrasResponse,
    HealthCheckRequest,
    HealthCheckResponse,
    HttpRequest,
    HttpResponse,
    PublishResponse,
    SetOperationResponse,
    WriteLogRequest,
)


def fixture(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


FIXTURES = [
    (HealthCheckRequest(), "81 ab 706c616365686f6c646572 c3"),
    (HealthCheckResponse(healthy=True, message=""), "82 a7 6865616c746879 c3 a7 6d657373616765 a0"),
    (AddRequest(key=":foo", value=1), "82 a3 6b6579 a4 3a666f6f a5 76616c7565 01"),
    (
        ExtrasRequest(guid=False, sequence=False, random=True, min=0, max=100),
        "85 a4 67756964 c2 a8 73657175656e6365 c2 a6 72616e646f6d c3 a3 6d696e 00 a3 6d6178 64",
    ),
    (
        ExtrasResponse(guid=None, sequence_number=0, random_number=42),
        "83 a4 67756964 c0 ae 73657175656e63654e756d626572 00 ad 72616e646f6d5f6e756d626572 2a",
    ),
    (SetOperationResponse(new_count=1), "81 a9 6e65775f636f756e74 01"),
    (PublishResponse(published=True), "81 a9 7075626c6973686564 c3"),
    (
        WriteLogRequest(target="", level="info", text="hi"),
        "83 a6 746172676574 a0 a5 6c6576656c a4 696e666f a4 74657874 a2 6869",
    ),
]


@pytest.mark.parametrize(("message", "wire"), FIXTURES, ids=lambda v: type(v).__name__)
def test_each_message_is_written_as_the_reference_bytes_and_read_back(
    message: object, wire: str
) -> None:
    assert message.encode() == fixture(wire)  # type: ignore[attr-defined]
    assert type(message).decode(fixture(wire)) == message  # type: ignore[attr-defined]


def test_every_key_is_written_even_when_it_holds_the_default() -> None:
    """This generation's actors decode with no defaults: a missing key traps them."""
    assert msgpack.unpackb(HttpResponse(status_code=200).encode()) == {
        "statusCode": 200,
        "status": "",
        "header": {},
        "body": b"",
    }
    assert set(msgpack.unpackb(BrokerMessage(subject="a").encode())) == {
        "subject",
        "replyTo",
        "body",
    }


def test_an_http_request_needs_all_five_fields() -> None:
    whole = {"method": "GET", "path": "/", "queryString": "", "header": {}, "body": b""}
    assert HttpRequest.decode(msgpack.packb(whole)) == HttpRequest("GET", "/", "", {}, b"")
    for missing in whole:
        partial = {k: v for k, v in whole.items() if k != missing}
        with pytest.raises(CodecError, match=missing):
            HttpRequest.decode(msgpack.packb(partial))


def test_the_snake_case_keys_are_not_read_under_the_camel_spelling() -> None:
    """``new_count`` and ``random_number`` are their own keys here: ``newCount`` (the list
    operations' spelling) is an unknown key, so a set reply without ``new_count`` fails."""
    with pytest.raises(CodecError, match="new_count"):
        SetOperationResponse.decode(msgpack.packb({"newCount": 1}))
    reply = ExtrasResponse.decode(msgpack.packb({"guid": None, "randomNumber": 7}))
    assert reply.random_number == 0
