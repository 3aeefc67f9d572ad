"""What the codec accepts from actors of other toolchains, and what it refuses from a person.

waSCC's own codec (serde with rmp-serde) read one msgpack value and ignored what followed it
(the 2020 AssemblyScript waPC codec ends every message with an extra 0x00), and read a struct
written as an array of its fields (rmp-serde's ``to_vec``). The fixtures below are written
by hand, byte by byte, for every message the host reads from an actor; they do not come from
our encoder. ``wascc call``'s JSON, on the other hand, is a person's input: a key that is no
field is refused with the field meant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.process.process_support import run_wascc, wascc_env
from tests.providers.providers_support import HTTP, Handler, Served, SignerLike, sign_forwarder
from wascc.host import Host
from wascc.host.admin import AdminServer
from wascc.host.call import encode_request
from wascc.host.metrics import HostMetrics, _http_status
from wascc.host.testing import FunctionProvider
from wascc.providers import LoggingProvider
from wascc.providers.codec import (
    EXTRAS,
    KEYVALUE,
    LOGGING,
    MESSAGING,
    OPERATIONS,
    AddRequest,
    ClearRequest,
    CodecError,
    DelRequest,
    ExtrasRequest,
    GetRequest,
    GetResponse,
    HttpResponse,
    KeyExistsRequest,
    ListItemDeleteRequest,
    PublishMessage,
    PushRequest,
    RangeRequest,
    Record,
    RequestMessage,
    SetAddRequest,
    SetIntersectionRequest,
    SetQueryRequest,
    SetRemoveRequest,
    SetRequest,
    SetResponse,
    SetUnionRequest,
    WriteLogRequest,
    decode_http_response,
)
from wascc.providers.keyvalue import MemoryKeyValueProvider
from wascc.providers.keyvalue.dispatch import OPERATIONS as KV_OPERATIONS


@dataclass(frozen=True)
class Sent:
    """One message as an actor sends it: as a map, as an array of its fields, and what both
    decode to. ``operation`` is the key-value operation that carries it, if any."""

    as_map: bytes
    as_array: bytes
    record: Record
    operation: str | None = None

    @property
    def name(self) -> str:
        return type(self.record).__name__


SENT = [
    Sent(
        b"\x84\xaastatusCode\xcc\xc8\xa6status\xa2OK"
        b"\xa6header\x81\xaccontent-type\xaatext/plain\xa4body\xc4\x02hi",
        b"\x94\xcc\xc8\xa2OK\x81\xaccontent-type\xaatext/plain\xc4\x02hi",
        HttpResponse(200, "OK", {"content-type": "text/plain"}, b"hi"),
    ),
    Sent(b"\x81\xa3key\xa5hello", b"\x91\xa5hello", GetRequest("hello"), "Get"),
    Sent(
        b"\x83\xa3key\xa1k\xa5value\xa1v\xa7expires\xcd\x0e\x10",
        b"\x93\xa1k\xa1v\xcd\x0e\x10",
        SetRequest("k", "v", 3600),
        "Set",
    ),
    Sent(b"\x82\xa3key\xa1n\xa5value\xfb", b"\x92\xa1n\xfb", AddRequest("n", -5), "Add"),
    Sent(b"\x81\xa3key\xa1k", b"\x91\xa1k", DelRequest("k"), "Del"),
    Sent(b"\x81\xa3key\xa1l", b"\x91\xa1l", ClearRequest("l"), "Clear"),
    Sent(
        b"\x83\xa3key\xa1l\xa5start\x00\xa4stop\xff",
        b"\x93\xa1l\x00\xff",
        RangeRequest("l", 0, -1),
        "Range",
    ),
    Sent(b"\x82\xa3key\xa1l\xa5value\xa1x", b"\x92\xa1l\xa1x", PushRequest("l", "x"), "Push"),
    Sent(
        b"\x82\xa3key\xa1l\xa5value\xa1x",
        b"\x92\xa1l\xa1x",
        ListItemDeleteRequest("l", "x"),
        "ListItemDelete",
    ),
    Sent(b"\x82\xa3key\xa1s\xa5value\xa1m", b"\x92\xa1s\xa1m", SetAddRequest("s", "m"), "SetAdd"),
    Sent(
        b"\x82\xa3key\xa1s\xa5value\xa1m",
        b"\x92\xa1s\xa1m",
        SetRemoveRequest("s", "m"),
        "SetRemove",
    ),
    Sent(
        b"\x81\xa4keys\x92\xa1a\xa1b",
        b"\x91\x92\xa1a\xa1b",
        SetUnionRequest(("a", "b")),
        "SetUnion",
    ),
    Sent(
        b"\x81\xa4keys\x92\xa1a\xa1b",
        b"\x91\x92\xa1a\xa1b",
        SetIntersectionRequest(("a", "b")),
        "SetIntersection",
    ),
    Sent(b"\x81\xa3key\xa1s", b"\x91\xa1s", SetQueryRequest("s"), "SetQuery"),
    Sent(b"\x81\xa3key\xa1k", b"\x91\xa1k", KeyExistsRequest("k"), "KeyExists"),
    Sent(
        b"\x82\xa5level\x03\xa4body\xa5hello",
        b"\x92\x03\xa5hello",
        WriteLogRequest(3, "hello"),
    ),
    Sent(
        b"\x85\xa4guid\xc2\xa8sequence\xc2\xa6random\xc3\xa3min\x01\xa3max\x0a",
        b"\x95\xc2\xc2\xc3\x01\x0a",
        ExtrasRequest(guid=False, sequence=False, random=True, min=1, max=10),
    ),
    Sent(
        b"\x83\xa7subject\xa3a.b\xa7replyTo\xa0\xa4body\xc4\x02hi",
        b"\x93\xa3a.b\xa0\xc4\x02hi",
        PublishMessage("a.b", "", b"hi"),
    ),
    Sent(
        b"\x83\xa7subject\xa3a.b\xa4body\xc4\x02hi\xa7timeout\xcd\x03\xe8",
        b"\x93\xa3a.b\xc4\x02hi\xcd\x03\xe8",
        RequestMessage("a.b", b"hi", 1000),
    ),
]

_ids = [sent.name for sent in SENT]

# 0x00 is what the AssemblyScript codec adds; the others stand for any bytes after the value:
# a reserved byte, a truncated map, a second whole value.
TAILS = [b"\x00", b"\x00\x00\x00", b"\xc1", b"\x85\xa6method", b"\x81\xa1a\x01"]


def _fields(record: Record) -> tuple[object, ...]:
    return tuple(getattr(record, f.attr) for f in record.wire_fields())


def _too_long(array: bytes) -> bytes:
    """A fixarray one element longer (a trailing nil) than ``array``."""
    assert 0x90 <= array[0] < 0x9F
    return bytes([array[0] + 1]) + array[1:] + b"\xc0"


def test_the_fixtures_cover_every_message_read_from_actors() -> None:
    """Every request an actor sends to a provider, and the HTTP response, has a fixture."""
    from_actors = {
        op.request
        for op in OPERATIONS.values()
        if op.contract_id in (KEYVALUE, LOGGING, EXTRAS, MESSAGING) and op.name != "DeliverMessage"
    }
    assert {type(sent.record) for sent in SENT} == from_actors | {HttpResponse}
    assert {sent.operation for sent in SENT if sent.operation} == set(KV_OPERATIONS)


@pytest.mark.parametrize("sent", SENT, ids=_ids)
def test_map_and_array_forms_decode_to_the_same_record(sent: Sent) -> None:
    """The hand-written map and the array of the fields in wire order decode alike."""
    cls = type(sent.record)
    assert cls.decode(sent.as_map) == sent.record
    assert cls.decode(sent.as_array) == sent.record


@pytest.mark.parametrize("tail", TAILS)
@pytest.mark.parametrize("sent", SENT, ids=_ids)
def test_bytes_after_the_message_are_ignored(sent: Sent, tail: bytes) -> None:
    """A message followed by anything decodes as the message alone, map or array."""
    cls = type(sent.record)
    assert cls.decode(sent.as_map + tail) == sent.record
    assert cls.decode(sent.as_array + tail) == sent.record


@pytest.mark.parametrize("sent", SENT, ids=_ids)
def test_an_array_longer_than_the_message_is_refused(sent: Sent) -> None:
    """One element more than the message has fields is an error naming the fields."""
    cls = type(sent.record)
    with pytest.raises(CodecError) as info:
        cls.decode(_too_long(sent.as_array) + b"\x00")
    wires = [f.wire for f in cls.wire_fields()]
    assert str(info.value) == (
        f"{cls.__name__}: an array of {len(wires) + 1} values, but the message has "
        f"{len(wires)} fields ({', '.join(wires)})"
    )
    assert info.value.message_type == cls.__name__


@pytest.mark.parametrize("sent", SENT, ids=_ids)
def test_an_empty_array_names_the_first_required_field(sent: Sent) -> None:
    """With no elements, the first required field is refused by name; a message without
    required fields takes every default."""
    cls = type(sent.record)
    required = [f.wire for f in cls.wire_fields() if f.required]
    if not required:
        assert cls.decode(b"\x90\x00") == cls()
        return
    with pytest.raises(CodecError) as info:
        cls.decode(b"\x90\x00")
    assert info.value.field == required[0]
    assert str(info.value) == f"{cls.__name__}: required field {required[0]!r} is missing"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x92\xa1k\xa1v\x00", SetRequest("k", "v", 0)),  # expires left out
        (b"\x93\xa1k\xa1v\xc0", SetRequest("k", "v", 0)),  # expires nil
        (b"\x91\xcd\x01\x94", HttpResponse(404)),
        (b"\x92\xcc\xc8\xc0", HttpResponse(200)),
        (b"\x91\xa3a.b", PublishMessage("a.b")),
        # waSCC's serde codec wrote a body without serde_bytes as an array of integers.
        (b"\x93\xa3a.b\x92\x68\x69\x05", RequestMessage("a.b", b"hi", 5)),
    ],
)
def test_short_arrays_leave_the_rest_to_defaults(data: bytes, expected: Record) -> None:
    """Elements left out at the end, or nil, take the field's default."""
    assert type(expected).decode(data) == expected


@pytest.mark.parametrize(
    ("cls", "data", "field"),
    [
        (SetRequest, b"\x91\xa1k", "value"),
        (SetRequest, b"\x92\xa1k\xc0", "value"),
        (RangeRequest, b"\x92\xa1l\x00", "stop"),
        (WriteLogRequest, b"\x90", "level"),
        (HttpResponse, b"\x94\xa2OK\xa2OK\x80\xc4\x00", "statusCode"),  # a string for the code
    ],
)
def test_arrays_are_checked_field_by_field(cls: type[Record], data: bytes, field: str) -> None:
    """A required element missing or nil, or of the wrong type, is refused by field name."""
    with pytest.raises(CodecError) as info:
        cls.decode(data)
    assert info.value.field == field
    assert repr(field) in str(info.value)


def test_a_struct_inside_an_array_is_not_a_message() -> None:
    """Only the message itself may be an array: an array where a string belongs is refused."""
    with pytest.raises(CodecError, match="GetRequest: field 'key': expected a string"):
        GetRequest.decode(b"\x91\x91\xa1k")


# the hot paths -----------------------------------------------------------------------------


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\xc1"])
def test_the_http_fast_path_reads_arrays_and_ignores_trailing_bytes(tail: bytes) -> None:
    """decode_http_response gives the record's fields for both forms, with anything after."""
    sent = SENT[0]
    assert isinstance(sent.record, HttpResponse)
    for data in (sent.as_map + tail, sent.as_array + tail):
        assert decode_http_response(data) == _fields(sent.record)
        assert HttpResponse.decode(data) == sent.record


@pytest.mark.parametrize(
    "data", [b"\x95\xcc\xc8\xa2OK\x80\xc4\x00\xc0", b"\x90", b"\x81\xa1a\x01\x00"]
)
def test_the_http_fast_path_refuses_like_the_record(data: bytes) -> None:
    """Too long, empty, or without statusCode: the same CodecError from both decoders."""
    with pytest.raises(CodecError) as expected:
        HttpResponse.decode(data)
    with pytest.raises(CodecError) as got:
        decode_http_response(data)
    assert (str(got.value), got.value.field) == (str(expected.value), expected.value.field)


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\xc1"])
@pytest.mark.parametrize("sent", [s for s in SENT if s.operation], ids=lambda s: s.operation)
def test_key_value_decoders_read_both_forms(sent: Sent, tail: bytes) -> None:
    """Every key-value operation's decoder (the hand-written Get, Set, Add and KeyExists
    ones too) reads the map and the array, with or without bytes after them."""
    assert sent.operation is not None
    decode = KV_OPERATIONS[sent.operation].decode
    assert decode(sent.as_map + tail) == _fields(sent.record)
    assert decode(sent.as_array + tail) == _fields(sent.record)


@pytest.mark.parametrize("operation", ["Get", "Set", "Add", "KeyExists"])
def test_hot_key_value_decoders_refuse_long_arrays_like_the_records(operation: str) -> None:
    """An array with one element too many is refused by the hot decoder in the record's words."""
    sent = next(s for s in SENT if s.operation == operation)
    data = _too_long(sent.as_array)
    with pytest.raises(CodecError) as expected:
        type(sent.record).decode(data)
    with pytest.raises(CodecError) as got:
        KV_OPERATIONS[operation].decode(data)
    assert str(got.value) == str(expected.value)


# through real actors -----------------------------------------------------------------------


Slow = Callable[..., Awaitable[tuple[Served, FunctionProvider]]]


def _answering(reply: bytes) -> Handler:
    """A ``test:slow`` handler that answers ``reply`` (raw bytes): the actor returns them."""

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return reply

    return handle


@pytest.mark.parametrize(
    "reply",
    [SENT[0].as_map + b"\x00", SENT[0].as_array, SENT[0].as_array + b"\x00"],
    ids=["assemblyscript-map", "rmp-serde-array", "array-and-zero"],
)
async def test_http_requests_get_the_actors_answer(
    slow: Slow, client: aiohttp.ClientSession, reply: bytes
) -> None:
    """An actor whose Response ends with 0x00, or is an array, is answered 200 with its
    header and body (not 500 "actor sent an invalid response")."""
    served, _ = await slow(_answering(reply))
    async with client.get(served.url) as resp:
        assert (resp.status, resp.reason) == (200, "OK")
        assert resp.headers["content-type"] == "text/plain"
        assert await resp.read() == b"hi"


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (SENT[0].as_map + b"\x00", "200"),
        (SENT[0].as_array, "200"),
        (b"\x81\xaastatusCode\xcd\x03\x84", "500"),  # 900: the provider refuses it
        (b"\xc1", "500"),
    ],
)
def test_metrics_count_the_status_the_provider_answers(reply: bytes, status: str) -> None:
    """``wascc_http_requests_total`` reads the answer as the HTTP provider does: a tolerated
    reply counts as its status, one the provider refuses as 500."""
    assert _http_status(reply, None) == status


async def test_key_value_calls_from_a_real_actor(host: Host, signer: SignerLike) -> None:
    """Set as an array and Get as a map with a trailing 0x00 reach the store through an actor."""
    await host.add_provider(MemoryKeyValueProvider())
    claims = await host.add_actor(sign_forwarder(signer, "kvclient", KEYVALUE, caps=[KEYVALUE]))
    await host.set_binding(claims.subject, KEYVALUE, values={"BACKEND": "memory"})
    stored = await host.call_actor(claims.subject, "Set", b"\x93\xa1k\xa2v1\x00\x00")
    assert SetResponse.decode(stored) == SetResponse("v1")
    got = await host.call_actor(claims.subject, "Get", b"\x81\xa3key\xa1k\x00")
    assert GetResponse.decode(got) == GetResponse("v1", True)


async def test_write_log_from_a_real_actor(
    host: Host, signer: SignerLike, caplog: pytest.LogCaptureFixture
) -> None:
    """A WriteLog array with a trailing 0x00 is logged at its level under the actor's name."""
    await host.add_provider(LoggingProvider())
    claims = await host.add_actor(sign_forwarder(signer, "fwd", LOGGING, caps=[LOGGING]))
    await host.set_binding(claims.subject, LOGGING)
    with caplog.at_level(logging.INFO, logger="wascc.actor"):
        await host.call_actor(claims.subject, "WriteLog", b"\x92\x02\xa4late\x00")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("wascc.actor.fwd", logging.WARNING, "late")
    ]


# a person's JSON: `wascc call` ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "value", "field", "expected"),
    [
        (
            "HandleRequest",
            {"method": "GET", "path": "/", "query_string": "name=Ada"},
            "query_string",
            "HttpRequest: unknown field 'query_string' (did you mean 'queryString'?); "
            "the fields are method, path, queryString, header, body",
        ),
        (
            "HandleRequest",
            {"method": "GET", "path": "/", "headers": {}, "Body": "x", "verb": "GET"},
            "headers",
            "HttpRequest: unknown fields 'headers' (did you mean 'header'?), "
            "'Body' (did you mean 'body'?), 'verb'; "
            "the fields are method, path, queryString, header, body",
        ),
        (
            "Push",
            {"key": "l", "value": "x", "new-count": 1},
            "new-count",
            "PushRequest: unknown field 'new-count'; the fields are key, value",
        ),
        (
            "RequestRandom",
            {"random": True, "minimum": 1, "max": 5},
            "minimum",
            "ExtrasRequest: unknown field 'minimum' (did you mean 'min'?); "
            "the fields are guid, sequence, random, min, max",
        ),
        (
            "Publish",
            {"subject": "a", "reply_to": "b"},
            "reply_to",
            "PublishMessage: unknown field 'reply_to' (did you mean 'replyTo'?); "
            "the fields are subject, replyTo, body",
        ),
    ],
)
def test_call_json_with_an_unknown_key_is_refused(
    operation: str, value: dict[str, object], field: str, expected: str
) -> None:
    """A key that is no field of the message is named, with the field meant and the list."""
    with pytest.raises(CodecError) as info:
        encode_request(operation, value)
    assert str(info.value) == expected
    assert info.value.field == field


def test_call_json_stays_a_map_and_known_keys_still_work() -> None:
    """The JSON of a known operation is a map; its fields in camelCase encode as before."""
    value = {"method": "GET", "path": "/", "queryString": "name=Ada"}
    assert encode_request("HandleRequest", value) == (
        b"\x85\xa6method\xa3GET\xa4path\xa1/\xabqueryString\xa8name=Ada\xa6header\x80"
        b"\xa4body\xc4\x00"
    )
    with pytest.raises(CodecError, match="HttpRequest: expected a map, got array"):
        encode_request("HandleRequest", ["GET", "/"])
    assert encode_request("Echo", {"query_string": 1}) == b"\x81\xacquery_string\x01"


def test_actors_may_still_send_unknown_keys() -> None:
    """What an actor sends is read as before: keys that are no field are ignored."""
    data = b"\x82\xaastatusCode\xcc\xc8\xabstatus_code\x01"
    assert HttpResponse.decode(data) == HttpResponse(200)


_UNKNOWN = '{"method": "GET", "path": "/", "query_string": "name=Ada"}'
_REFUSAL = (
    "Error: HttpRequest: unknown field 'query_string' (did you mean 'queryString'?); "
    "the fields are method, path, queryString, header, body"
)


def test_wascc_call_prints_the_refusal_as_one_line(signer: SignerLike, tmp_path: Path) -> None:
    """`wascc call FILE HandleRequest JSON` with a snake_case key exits 1 with one line."""
    (tmp_path / "echo.wasm").write_bytes(signer.sign("echo", caps=[HTTP]))
    env = wascc_env(tmp_path / "keys")
    result = run_wascc("call", "echo.wasm", "HandleRequest", _UNKNOWN, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == _REFUSAL


async def test_wascc_call_on_a_running_host_prints_the_refusal_as_one_line(
    host: Host, signer: SignerLike, tmp_path: Path
) -> None:
    """Through a host's admin endpoint, the host refuses the JSON and `wascc call` prints
    the same one line."""
    claims = await host.add_actor(signer.sign("echo", caps=[HTTP]))
    admin = AdminServer(
        host,
        HostMetrics(),
        address="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        accepting=lambda: True,
    )
    (tmp_path / "data").mkdir()
    await admin.start()
    try:
        assert admin.token_file is not None
        args = (
            *("call", claims.subject, "HandleRequest", _UNKNOWN),
            *("--host-admin", f"127.0.0.1:{admin.port}"),
            *("--admin-token-file", str(admin.token_file)),
        )
        env = wascc_env(tmp_path / "keys")
        # In a thread: the admin endpoint answers on this test's event loop.
        result = await asyncio.to_thread(run_wascc, *args, env=env, cwd=tmp_path)
    finally:
        await admin.close()
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == _REFUSAL
