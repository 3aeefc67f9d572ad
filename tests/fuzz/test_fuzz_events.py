"""Fuzz: lattice events, the CloudEvents every host publishes on ``wasmbus.events``.

A host reads an event with ``parse_event`` (the event, or ``MalformedMessage``), checks its
signature with ``verify_event`` (the token's claims, or ``ForgedInvocation``) and admits its
sender with ``LatticeTrust.admit`` (nothing, or a ``ForgedInvocation``). Inputs: any bytes,
any JSON, genuine signed events damaged byte by byte, and genuine events with one or two
attributes, their data or their token replaced by anything, including tokens that pass
every check but one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import (
    DEEP,
    FUZZ,
    KEYS,
    alter_fields,
    claims_dicts,
    deep_token,
    json_values,
    mutated,
    near,
    raises_only,
    scaled,
    text,
    tokens,
)
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage
from wascc.host.lattice.events import EVENT_TYPES, cloud_event, parse_event, verify_event
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.trust import TrustPolicy
from wascc.keys.jwt import decode_token
from wascc.keys.vouch import vouch

SENDER = KEYS["server"]
VOUCHER = vouch(KEYS["account"], SENDER.public_key)
_types = st.sampled_from(sorted(EVENT_TYPES))
# Event data as hosts send it: JSON objects of printable text (cloud_event signs its data).
_data = st.dictionaries(text, st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text)


@st.composite
def genuine_events(draw: st.DrawFn) -> bytes:
    """An event as ``SENDER`` publishes it, signed (with its voucher or without) or not."""
    signed = draw(st.integers(0, 4)) > 0
    return cloud_event(
        draw(_types),
        SENDER.public_key,
        draw(_data),
        signer=SENDER if signed else None,
        voucher=draw(st.sampled_from([None, VOUCHER])) if signed else None,
    )


_ATTRIBUTES: dict[str, st.SearchStrategy[Any]] = {
    "specversion": st.just("1.0") | text,
    "id": st.uuids().map(str) | text,
    "source": st.sampled_from([p.public_key for p in KEYS.values()]) | text,
    "type": _types | text,
    "time": text,
    "datacontenttype": text,
    "data": _data | json_values,
    "wascctoken": tokens(claims_dicts) | text,
    "wasccvoucher": st.just(VOUCHER) | tokens(claims_dicts) | text,
}


@st.composite
def altered_events(draw: st.DrawFn) -> dict[str, Any]:
    """A genuine signed event, then mostly altered: its token replaced by one over the same
    claims with one or two changed, and up to two attributes dropped, set to a near miss or
    set to any JSON value."""
    event: dict[str, Any] = json.loads(draw(genuine_events()))
    if "wascctoken" in event and draw(st.integers(0, 2)) == 0:
        claims = decode_token(event["wascctoken"]).claims
        event["wascctoken"] = draw(tokens(near(st.just(claims))))
    alter_fields(draw, event, _ATTRIBUTES, json_values)
    return event


event_bytes = (
    st.binary(max_size=48)
    | json_values.map(lambda value: json.dumps(value).encode())
    | mutated(genuine_events())
    | altered_events().map(lambda event: json.dumps(event).encode())
)


def _with(**attributes: Any) -> bytes:
    """A genuine signed event with ``attributes`` replaced."""
    event = json.loads(cloud_event("host_started", SENDER.public_key, {}, signer=SENDER))
    return json.dumps(event | attributes).encode()


@settings(FUZZ, max_examples=scaled(200))
@given(raw=event_bytes, trusted=st.booleans())
@example(raw=_with(type=[]), trusted=False)  # found: TypeError (unhashable) escaped parse_event
@example(raw=b"[" * DEEP, trusted=False)  # found: RecursionError escaped parse_event
@example(raw=_with(data={"a": "\ud800"}), trusted=False)  # found: UnicodeEncodeError
@example(raw=_with(wascctoken=deep_token(SENDER)), trusted=False)
@example(raw=b'{"specversion": "1.0", "type": "host_started", "data": {}}', trusted=True)
def test_receive_event(raw: bytes, trusted: bool) -> None:
    """Any message parses to a CloudEvent of a known type with data and a source, or raises
    MalformedMessage; a parsed event verifies (signed by its source, covering its id, type
    and data) or raises ForgedInvocation; a verified one is admitted or refused with a
    ForgedInvocation."""
    event, _ = raises_only(lambda: parse_event(raw), MalformedMessage, "parse")
    if event is None:
        return
    assert event["specversion"] == "1.0"
    assert event["type"] in EVENT_TYPES
    assert isinstance(event["data"], dict)
    assert isinstance(event["source"], str)
    claims, _ = raises_only(lambda: verify_event(event), ForgedInvocation, "verify")
    if claims is None:
        return
    assert claims["iss"] == event["source"]
    assert claims["sub"] == event["id"]
    policy = (
        TrustPolicy.build(hosts=[SENDER.public_key])
        if trusted
        else TrustPolicy.build(lattice_account=KEYS["account"].public_key)
    )
    trust = LatticeTrust(policy, "NRECEIVER", rpc_timeout=2)
    voucher = event.get("wasccvoucher")
    raises_only(
        lambda: trust.admit(
            lambda: "event",
            event["source"],
            voucher if isinstance(voucher, str) else None,
            claims,
        ),
        ForgedInvocation,
        "admit",
    )


def test_event_nested_to_the_reader_limit_is_refused() -> None:
    """An event whose data nests as deeply as parse_event still reads is refused by
    verify_event with ForgedInvocation: re-serialising such data for the digest runs out of
    stack, which escaped as RecursionError."""
    signed = json.loads(cloud_event("host_started", SENDER.public_key, {}, signer=SENDER))
    text_of = json.dumps(signed | {"data": {"a": "DEEP"}})

    def raw(depth: int) -> bytes:
        return text_of.replace('"DEEP"', "[" * depth + "]" * depth).encode()

    low, high = 1, 4 * DEEP // 100  # the deepest data parse_event reads lies in between
    while low < high:  # bounded: halves the interval each round
        middle = (low + high + 1) // 2
        try:
            parse_event(raw(middle))
        except MalformedMessage:
            high = middle - 1
        else:
            low = middle
    event = parse_event(raw(low))
    with pytest.raises(ForgedInvocation, match="another event"):
        verify_event(event)


def test_genuine_event_is_received() -> None:
    """The genuine events the fuzzing starts from are parsed and verified."""
    raw = cloud_event("actor_started", SENDER.public_key, {"public_key": "M"}, signer=SENDER)
    claims = verify_event(parse_event(raw))
    assert claims["iss"] == SENDER.public_key
