"""The message codec: exact bytes, wire field order, round trips, tolerance and strictness."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wascc.host.errors import WasccError
from wascc.providers import codec
from wascc.providers.codec import (
    OPERATIONS,
    AddRequest,
    BindActor,
    CodecError,
    ExtrasResponse,
    GetRequest,
    GetResponse,
    HttpRequest,
    HttpResponse,
    Kind,
    Record,
    SetUnionRequest,
    WriteLogRequest,
    find_operation,
)

# The field order of every message, written out by hand (docs/contracts.md).
SPEC_FIELDS: dict[type[Record], list[str]] = {
    codec.HttpRequest: ["method", "path", "queryString", "header", "body"],
    codec.HttpResponse: ["statusCode", "status", "header", "body"],
    codec.GetRequest: ["key"],
    codec.GetResponse: ["value", "exists"],
    codec.SetRequest: ["key", "value", "expires"],
    codec.SetResponse: ["value"],
    codec.AddRequest: ["key", "value"],
    codec.AddResponse: ["value"],
    codec.DelRequest: ["key"],
    codec.DelResponse: ["key"],
    codec.ClearRequest: ["key"],
    codec.ClearResponse: ["key"],
    codec.RangeRequest: ["key", "start", "stop"],
    codec.RangeResponse: ["values"],
    codec.PushRequest: ["key", "value"],
    codec.PushResponse: ["newCount"],
    codec.ListItemDeleteRequest: ["key", "value"],
    codec.ListItemDeleteResponse: ["newCount"],
    codec.SetAddRequest: ["key", "value"],
    codec.SetAddResponse: ["newCount"],
    codec.SetRemoveRequest: ["key", "value"],
    codec.SetRemoveResponse: ["newCount"],
    codec.SetUnionRequest: ["keys"],
    codec.SetUnionResponse: ["values"],
    codec.SetIntersectionRequest: ["keys"],
    codec.SetIntersectionResponse: ["values"],
    codec.SetQueryRequest: ["key"],
    codec.SetQueryResponse: ["values"],
    codec.KeyExistsRequest: ["key"],
    codec.KeyExistsResponse: ["value", "exists"],
    codec.WriteLogRequest: ["level", "body"],
    codec.ExtrasRequest: ["guid", "sequence", "random", "min", "max"],
    codec.ExtrasResponse: ["guid", "sequenceNumber", "randomNumber"],
    codec.PublishMessage: ["subject", "replyTo", "body"],
    codec.RequestMessage: ["subject", "body", "timeout"],
    codec.DeliverMessage: ["subject", "replyTo", "body"],
    codec.BindActor: ["module", "values"],
    codec.RemoveActor: ["module", "values"],
    codec.HealthRequest: ["placeholder"],
}

RECORDS = sorted(SPEC_FIELDS, key=lambda cls: cls.__name__)

SPEC_OPERATIONS: dict[str, list[str]] = {
    "wascc:http_server": ["HandleRequest"],
    "wascc:keyvalue": [
        "Get",
        "Set",
        "Add",
        "Del",
        "Clear",
        "Range",
        "Push",
        "ListItemDelete",
        "SetAdd",
        "SetRemove",
        "SetUnion",
        "SetIntersection",
        "SetQuery",
        "KeyExists",
    ],
    "wascc:logging": ["WriteLog"],
    "wascc:extras": ["RequestGuid", "RequestRandom", "RequestSequence"],
    "wascc:messaging": ["Publish", "Request", "DeliverMessage"],
}

_VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.STR: st.text(max_size=20),
    Kind.OPT_STR: st.none() | st.text(max_size=20),
    Kind.BIN: st.binary(max_size=64),
    Kind.INT: st.integers(min_value=-(2**63), max_value=2**64 - 1),
    Kind.BOOL: st.booleans(),
    Kind.STR_MAP: st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
    Kind.STR_LIST: st.lists(st.text(max_size=8), max_size=4).map(tuple),
}


def records(cls: type[Record]) -> st.SearchStrategy[Record]:
    """Any instance of ``cls`` whose fields fit the wire."""
    fields = {f.attr: _VALUES[f.kind] for f in cls.wire_fields()}
    return st.builds(cls, **fields)


def any_record() -> st.SearchStrategy[Record]:
    """Any instance of any message record."""
    return st.sampled_from(RECORDS).flatmap(records)


def spec_dict(record: Record) -> dict[str, Any]:
    """The record as the dict docs/contracts.md describes, keyed in its order."""
    names = SPEC_FIELDS[type(record)]
    values = [getattr(record, f.name) for f in dataclasses.fields(record)]  # type: ignore[arg-type]
    assert len(names) == len(values)
    return dict(zip(names, values, strict=True))


# exact bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (GetRequest("k"), b"\x81\xa3key\xa1k"),
        (AddRequest("n", -1), b"\x82\xa3key\xa1n\xa5value\xff"),
        (WriteLogRequest(3, "hello"), b"\x82\xa5level\x03\xa4body\xa5hello"),
        (GetResponse("", False), b"\x82\xa5value\xa0\xa6exists\xc2"),
        (
            ExtrasResponse(None, 0, 300),
            b"\x83\xa4guid\xc0\xaesequenceNumber\x00\xacrandomNumber\xcd\x01\x2c",
        ),
        (SetUnionRequest(("a", "b")), b"\x81\xa4keys\x92\xa1a\xa1b"),
        (
            HttpResponse(200, "OK", {"x": "y"}, b"\x00\xff"),
            b"\x84\xaastatusCode\xcc\xc8\xa6status\xa2OK\xa6header\x81\xa1x\xa1y"
            b"\xa4body\xc4\x02\x00\xff",
        ),
        (
            HttpRequest("GET", "/", "a=1", {}, b""),
            b"\x85\xa6method\xa3GET\xa4path\xa1/\xabqueryString\xa3a=1\xa6header\x80"
            b"\xa4body\xc4\x00",
        ),
        (BindActor("M1", {"PORT": "80"}), b"\x82\xa6module\xa2M1\xa6values\x81\xa4PORT\xa280"),
    ],
)
def test_encode_gives_hand_written_bytes(record: Record, expected: bytes) -> None:
    """Encoding a few messages gives exactly the bytes written by hand from docs/contracts.md."""
    assert record.encode() == expected
    assert type(record).decode(expected) == record


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_wire_fields_follow_the_spec_order(cls: type[Record]) -> None:
    """Every record's wire names and order are those of docs/contracts.md."""
    assert [f.wire for f in cls.wire_fields()] == SPEC_FIELDS[cls]


@settings(max_examples=300)
@given(any_record())
def test_encode_is_packb_of_the_spec_dict_and_round_trips(record: Record) -> None:
    """Each message encodes as msgpack.packb of its fields in documented order and decodes back."""
    encoded = record.encode()
    assert encoded == msgpack.packb(spec_dict(record), use_bin_type=True)
    assert type(record).decode(encoded) == record


# operations --------------------------------------------------------------------------------


def test_every_spec_operation_has_its_records() -> None:
    """The operation table lists every operation of docs/contracts.md under its contract."""
    for contract, names in SPEC_OPERATIONS.items():
        for name in names:
            op = find_operation(name, contract)
            assert op is not None, name
            assert op.contract_id == contract
    for name in ("BindActor", "RemoveActor", "HealthRequest"):
        op = find_operation(name, "wascc:keyvalue")
        assert op is not None
        assert op.contract_id is None
    used = {op.request for op in OPERATIONS.values()}
    used |= {op.response for op in OPERATIONS.values() if op.response is not None}
    assert used == set(SPEC_FIELDS)


def test_find_operation_respects_the_contract() -> None:
    """A name looked up under another contract, or an unknown name, finds nothing."""
    assert find_operation("Get", "wascc:messaging") is None
    assert find_operation("NoSuchOp") is None
    op = find_operation("Get")
    assert op is not None
    assert (op.request, op.response) == (codec.GetRequest, codec.GetResponse)


# tolerance ---------------------------------------------------------------------------------


def _pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def test_unknown_keys_and_non_string_keys_are_ignored() -> None:
    """Keys the message does not have, including integer keys, are skipped."""
    data = _pack({"key": "k", "extra": [1, 2], 7: "seven"})
    assert GetRequest.decode(data) == GetRequest("k")


def test_strings_may_arrive_as_bin_and_bytes_as_str() -> None:
    """A str field accepts bin holding UTF-8; a bin field accepts str."""
    data = _pack({"method": b"GET", "path": "/p", "header": {b"a": b"b"}, "body": "text"})
    assert HttpRequest.decode(data) == HttpRequest("GET", "/p", "", {"a": "b"}, b"text")


def test_bytes_may_arrive_as_an_array_of_integers() -> None:
    """waSCC's serde codec wrote some byte vectors as arrays; they decode to the same bytes."""
    data = _pack({"subject": "s", "replyTo": "", "body": [0, 1, 255]})
    assert codec.PublishMessage.decode(data).body == b"\x00\x01\xff"


def test_missing_or_nil_optional_fields_take_their_defaults() -> None:
    """Optional fields that are absent or nil get their documented defaults."""
    assert HttpResponse.decode(_pack({"statusCode": 204})) == HttpResponse(204, "", {}, b"")
    assert HttpResponse.decode(_pack({"statusCode": 204, "header": None})).header == {}
    assert codec.ExtrasRequest.decode(_pack({})) == codec.ExtrasRequest()
    assert ExtrasResponse.decode(_pack({"guid": None})).guid is None


def test_header_values_given_as_arrays_are_joined() -> None:
    """A header given as a list of values (as later HTTP codecs send) becomes one joined value."""
    data = _pack({"statusCode": 200, "header": {"set-cookie": ["a=1", "b=2"]}})
    assert HttpResponse.decode(data).header == {"set-cookie": "a=1, b=2"}


def test_decode_accepts_bytearray_and_memoryview() -> None:
    """Payloads in any bytes-like container decode alike."""
    data = GetRequest("k").encode()
    assert GetRequest.decode(bytearray(data)) == GetRequest.decode(memoryview(data))


# strictness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "obj", "field"),
    [
        (HttpResponse, {"status": "OK"}, "statusCode"),
        (HttpResponse, {"statusCode": None}, "statusCode"),
        (HttpResponse, {"statusCode": "200"}, "statusCode"),
        (HttpResponse, {"statusCode": True}, "statusCode"),
        (HttpResponse, {"statusCode": 1.5}, "statusCode"),
        (HttpResponse, {"statusCode": 200, "header": ["a"]}, "header"),
        (HttpResponse, {"statusCode": 200, "header": {"a": 1}}, "header"),
        (HttpResponse, {"statusCode": 200, "header": {1: "a"}}, "header"),
        (HttpResponse, {"statusCode": 200, "body": 5}, "body"),
        (HttpResponse, {"statusCode": 200, "body": [1, 256]}, "body"),
        (HttpResponse, {"statusCode": 200, "body": [1, "a"]}, "body"),
        (HttpRequest, {"method": "GET"}, "path"),
        (HttpRequest, {"method": b"\xff\xfe", "path": "/"}, "method"),
        (GetResponse, {"exists": 1}, "exists"),
        (WriteLogRequest, {"body": "x"}, "level"),
        (SetUnionRequest, {"keys": "a"}, "keys"),
        (SetUnionRequest, {"keys": [1]}, "keys"),
        (ExtrasResponse, {"guid": 5}, "guid"),
        (BindActor, {"values": {}}, "module"),
    ],
)
def test_wrong_or_missing_fields_name_message_and_field(
    cls: type[Record], obj: object, field: str
) -> None:
    """A missing required field or a value of the wrong type raises CodecError naming both."""
    with pytest.raises(CodecError) as info:
        cls.decode(_pack(obj))
    assert info.value.message_type == cls.__name__
    assert info.value.field == field
    assert cls.__name__ in str(info.value)
    assert repr(field) in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"\x85\xa6method",
        b"\x91" * 100_000 + b"\x00",
        b"\xa1\xff",
    ],
    ids=["empty", "reserved-byte", "truncated", "too-deep", "bad-utf8"],
)
def test_payloads_that_are_not_msgpack_raise_codec_error(data: bytes) -> None:
    """Bytes that do not start with a valid msgpack value raise CodecError, not a msgpack
    exception (bytes after a valid value are ignored: tests/providers/test_codec_tolerance.py)."""
    with pytest.raises(CodecError) as info:
        GetRequest.decode(data)
    assert info.value.field is None
    assert "GetRequest" in str(info.value)


@pytest.mark.parametrize("obj", [[1, 2], 5, "key", None, {"key": {"nested": 1}}])
def test_values_that_are_not_the_message_map_raise_codec_error(obj: object) -> None:
    """A msgpack value that is not a map of the message's fields raises CodecError."""
    with pytest.raises(CodecError, match="GetRequest"):
        GetRequest.decode(_pack(obj))


def test_codec_error_is_a_wascc_error() -> None:
    """CodecError belongs to the project's exception tree."""
    assert issubclass(CodecError, WasccError)


def test_encode_errors_become_codec_errors() -> None:
    """Values msgpack cannot write raise CodecError naming the message."""
    with pytest.raises(CodecError, match="AddRequest"):
        AddRequest("k", 2**64).encode()
    with pytest.raises(CodecError, match="WriteLogRequest"):
        WriteLogRequest(3, "\ud800").encode()


_MSGPACK_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=12) | st.integers(0, 9), inner, max_size=6),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300)
@given(cls=st.sampled_from(RECORDS), data=st.binary(max_size=64))
def test_decoding_random_bytes_gives_a_record_or_codec_error(
    cls: type[Record], data: bytes
) -> None:
    """Arbitrary bytes never escape decode as anything but a record or CodecError."""
    with contextlib.suppress(CodecError):
        assert isinstance(cls.decode(data), cls)


@settings(max_examples=300)
@given(cls=st.sampled_from(RECORDS), obj=_MSGPACK_VALUES, wire=st.data())
def test_decoding_random_maps_gives_a_record_or_codec_error(
    cls: type[Record], obj: Any, wire: st.DataObject
) -> None:
    """Maps with the message's keys and random values decode or raise CodecError, nothing else."""
    if isinstance(obj, dict):
        for f in cls.wire_fields():
            if wire.draw(st.booleans()):
                obj[f.wire] = wire.draw(_MSGPACK_VALUES)
    with contextlib.suppress(CodecError):
        assert isinstance(cls.decode(_pack(obj)), cls)
