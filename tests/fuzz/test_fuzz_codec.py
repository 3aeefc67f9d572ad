"""Fuzz: the msgpack records of ``providers.codec``, request and response of every operation.

A record decodes what an actor or a provider sends, so any bytes may arrive. Each property
holds for every record the operation table names (``OPERATIONS``, ``find_operation``): the
decoder returns a record whose fields have the types of its annotations (and which encodes
and decodes back to itself), or raises ``CodecError``; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import DEEP, FUZZ, msgpack_values, mutated, raises_only, scaled, text
from wascc.providers.codec import (
    OPERATIONS,
    CodecError,
    HttpResponse,
    Kind,
    Record,
    decode_http_response,
    find_operation,
)

# Every request and response record of the operation table, each once.
RECORDS: list[type[Record]] = sorted(
    {op.request for op in OPERATIONS.values()}
    | {op.response for op in OPERATIONS.values() if op.response is not None},
    key=lambda cls: cls.__name__,
)

_ids = [cls.__name__ for cls in RECORDS]


def _well_typed(kind: Kind) -> st.SearchStrategy[Any]:
    """Values a field of ``kind`` holds when the sender follows docs/contracts.md."""
    return {
        Kind.STR: text,
        Kind.OPT_STR: st.none() | text,
        Kind.BIN: st.binary(max_size=24),
        Kind.INT: st.integers(-(2**63), 2**64 - 1),
        Kind.BOOL: st.booleans(),
        Kind.STR_MAP: st.dictionaries(text, text, max_size=4),
        Kind.STR_LIST: st.lists(text, max_size=4),
    }[kind]


def _tolerated(kind: Kind) -> st.SearchStrategy[Any]:
    """Values the readers convert (bin for str, str or byte arrays for bin, header arrays)."""
    strings = text | text.map(str.encode) | st.binary(max_size=8)
    return {
        Kind.STR: strings,
        Kind.OPT_STR: st.none() | strings,
        Kind.BIN: text | st.lists(st.integers(-2, 300), max_size=6),
        Kind.INT: st.booleans() | st.floats(),
        Kind.BOOL: st.integers(0, 1),
        Kind.STR_MAP: st.dictionaries(strings, strings | st.lists(strings, max_size=3)),
        Kind.STR_LIST: st.lists(strings, max_size=4) | st.tuples(),
    }[kind]


@st.composite
def wire_maps(draw: st.DrawFn, cls: type[Record]) -> dict[Any, Any]:
    """A map with some of ``cls``'s wire fields (each well typed, tolerated or anything) and
    keys that belong to no field."""
    out: dict[Any, Any] = {}
    for field in cls.wire_fields():
        choice = draw(st.integers(0, 4))
        if choice == 0:
            continue  # missing
        if choice == 1:
            out[field.wire] = draw(msgpack_values)
        elif choice == 2:
            out[field.wire] = draw(_tolerated(field.kind))
        else:
            out[field.wire] = draw(_well_typed(field.kind))
    extra = draw(st.dictionaries(text | st.integers(-(2**63), 2**63), msgpack_values, max_size=3))
    return {**extra, **out}


@st.composite
def wire_arrays(draw: st.DrawFn, cls: type[Record]) -> list[Any]:
    """An array of values for ``cls``'s fields in wire order (as rmp-serde writes a struct),
    each well typed, tolerated or anything; sometimes short, sometimes one element too long."""
    values = [
        draw(_well_typed(f.kind) | _tolerated(f.kind) | msgpack_values) for f in cls.wire_fields()
    ]
    values.append(draw(msgpack_values))
    return values[: draw(st.integers(0, len(values)))]


# What may follow a message: nothing, the AssemblyScript codec's 0x00, or any bytes.
tails = st.sampled_from([b"", b"\x00"]) | st.binary(max_size=6)


def _valid_encodings(cls: type[Record]) -> st.SearchStrategy[bytes]:
    """The bytes of well-formed messages of ``cls``."""
    fields = {f.wire: _well_typed(f.kind) for f in cls.wire_fields()}
    return st.fixed_dictionaries(fields).map(lambda wire: msgpack.packb(wire, use_bin_type=True))


_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.STR: (str,),
    Kind.OPT_STR: (str, type(None)),
    Kind.BIN: (bytes,),
    Kind.INT: (int,),
    Kind.BOOL: (bool,),
    Kind.STR_MAP: (Mapping,),
    Kind.STR_LIST: (tuple,),
}


def _check_decoded(cls: type[Record], record: Record) -> None:
    """A decoded record is of ``cls``, each field of its annotated type, and it round-trips."""
    assert type(record) is cls
    for field in cls.wire_fields():
        value = getattr(record, field.attr)
        assert isinstance(value, _TYPES[field.kind]), (field.wire, value)
        if field.kind is Kind.INT:
            assert type(value) is int
        if field.kind is Kind.STR_MAP:
            assert all(type(k) is str and type(v) is str for k, v in value.items())
        if field.kind is Kind.STR_LIST:
            assert all(type(item) is str for item in value)
    assert cls.decode(record.encode()) == record


def _decode(cls: type[Record], data: bytes) -> None:
    record, _ = raises_only(lambda: cls.decode(data), CodecError)
    if record is not None:
        _check_decoded(cls, record)


def test_every_operation_record_is_fuzzed() -> None:
    """The fuzzed records are exactly those find_operation gives for the documented operations."""
    found = set()
    for name, op in OPERATIONS.items():
        assert find_operation(name, op.contract_id) is op
        found |= {op.request} | ({op.response} if op.response is not None else set())
    assert set(RECORDS) == found
    assert len(RECORDS) >= 30  # every key-value, HTTP, logging, extras, messaging, lifecycle one


@pytest.mark.parametrize("cls", RECORDS, ids=_ids)
@settings(FUZZ, max_examples=scaled(15))
@given(data=st.data())
@example(data=b"")
@example(data=b"\xc1")  # the one byte msgpack never uses
@example(data=b"\x91" * DEEP + b"\xc0")  # arrays nested past any stack
@example(data=b"\x81\xa1a" * DEEP + b"\xc0")  # maps nested past any stack
@example(data=b"\xdf\xff\xff\xff\xff")  # a map announcing 4 billion entries, then nothing
@example(data=b"\xdb\xff\xff\xff\xff")  # a string announcing 4 GiB
def test_decode_any_bytes(cls: type[Record], data: st.DataObject | bytes) -> None:
    """Any bytes, and well-formed messages with bytes flipped, inserted, deleted or cut off,
    decode to a well-typed record or raise CodecError."""
    if not isinstance(data, bytes):
        data = data.draw(st.binary(max_size=64) | mutated(_valid_encodings(cls)), label="data")
    _decode(cls, data)


@pytest.mark.parametrize("cls", RECORDS, ids=_ids)
@settings(FUZZ, max_examples=scaled(8))
@given(data=st.data())
def test_decode_any_map_of_the_fields(cls: type[Record], data: st.DataObject) -> None:
    """A map with the record's wire fields, or an array of them, holding anything (well typed,
    convertible, or of any other msgpack type) decodes to a well-typed record or raises
    CodecError, from bytes and from the unpacked value; bytes after it change nothing."""
    wire = data.draw(wire_maps(cls) | wire_arrays(cls) | msgpack_values, label="wire")
    packed = msgpack.packb(wire, use_bin_type=True)
    _decode(cls, packed)
    record, _ = raises_only(lambda: cls.from_wire(wire), CodecError)
    if record is not None:
        _check_decoded(cls, record)
    tail = data.draw(tails, label="tail")
    alone = raises_only(lambda: cls.decode(packed), CodecError)
    followed = raises_only(lambda: cls.decode(packed + tail), CodecError)
    assert (followed[0], str(followed[1])) == (alone[0], str(alone[1]))


@settings(FUZZ, max_examples=scaled(120))
@given(wire=wire_maps(HttpResponse) | wire_arrays(HttpResponse) | msgpack_values, tail=tails)
@example(wire={"statusCode": 200, "header": {"a": ["b", 1]}}, tail=b"")
@example(wire={"statusCode": True}, tail=b"")
@example(wire={"statusCode": 200}, tail=b"\x00")
@example(wire=[200, "OK", {}, b""], tail=b"")
def test_http_response_fast_path_agrees(wire: Any, tail: bytes) -> None:
    """decode_http_response (the HTTP server's hot path) and the generic record decoder
    return the same fields for the same bytes (whatever follows them), or both raise
    CodecError."""
    payload = msgpack.packb(wire, use_bin_type=True) + tail
    fast, fast_error = raises_only(lambda: decode_http_response(payload), CodecError)
    slow, slow_error = raises_only(lambda: HttpResponse.from_wire(wire), CodecError)
    assert (fast_error is None) == (slow_error is None), (fast_error, slow_error)
    if slow is not None:
        _check_decoded(HttpResponse, slow)
        assert HttpResponse(*fast) == slow
