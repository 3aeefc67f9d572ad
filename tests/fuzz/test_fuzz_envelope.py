"""Fuzz: lattice invocation envelopes and responses, as a host receives them from NATS.

Anything that reaches NATS can publish on a host's subjects. The receive path is
``decode_envelope`` (an ``Envelope`` or ``MalformedMessage``), then ``verify_envelope`` (the
token's claims or ``ForgedInvocation``), then ``LatticeTrust.admit`` (nothing, or a
``ForgedInvocation``: untrusted host, replay); a caller reads the answer with
``decode_response`` (a ``Response`` or ``MalformedMessage``). Inputs: any bytes, genuine
envelopes damaged byte by byte, and genuine envelopes with fields or the token replaced by
anything, including tokens that pass every check but one.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_support import (
    DEEP,
    FUZZ,
    KEYS,
    alter_fields,
    claims_dicts,
    deep_token,
    msgpack_values,
    mutated,
    near,
    raises_only,
    scaled,
    text,
    tokens,
)
from wascc.host.lattice.envelope import (
    Entity,
    Envelope,
    Response,
    decode_envelope,
    decode_response,
    encode_response,
    seal,
    verify_envelope,
)
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.trust import TrustPolicy
from wascc.keys.jwt import decode_token
from wascc.keys.vouch import vouch

SENDER = KEYS["server"]
RECEIVER = "NRECEIVER"  # the receiving host's id: only compared, never decoded
ACTOR = KEYS["module"].public_key
VOUCHER = vouch(KEYS["account"], SENDER.public_key)
FIELDS = ("origin", "target", "msg", "operation", "id", "encoded_claims", "host_id")

entities = st.builds(Entity, actor=st.just(ACTOR) | text) | st.builds(
    lambda capid, binding: Entity(capid=capid, binding=binding),
    st.sampled_from(["wascc:keyvalue", "wascc:http_server"]) | text,
    st.just("default") | text,
)

_entity_wires = (
    entities.map(Entity.to_wire)
    | st.dictionaries(st.integers(-1, 2) | text, msgpack_values, max_size=2)
    | st.builds(
        lambda capid, binding: {1: {"capid": capid, "binding": binding}},
        msgpack_values,
        msgpack_values,
    )
)
# Values a field may plausibly hold (the right type, a near miss) besides anything at all.
_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "origin": _entity_wires,
    "target": _entity_wires,
    "operation": text,
    "msg": st.binary(max_size=16) | st.lists(st.integers(-1, 300), max_size=6),
    "id": text,
    "encoded_claims": tokens(claims_dicts),
    "host_id": st.sampled_from([pair.public_key for pair in KEYS.values()]) | text,
    "host_voucher": st.just(VOUCHER) | tokens(claims_dicts) | text,
    "extra": msgpack_values,
}


@st.composite
def sealed(draw: st.DrawFn) -> Envelope:
    """A genuine envelope from ``SENDER``, with its voucher or without."""
    return seal(
        draw(entities),
        draw(entities),
        draw(st.sampled_from(["HandleRequest", "Get"]) | text),
        draw(st.binary(max_size=24)),
        SENDER,
        voucher=draw(st.sampled_from([None, VOUCHER])),
    )


@st.composite
def envelope_wires(draw: st.DrawFn) -> dict[Any, Any]:
    """A genuine envelope as a msgpack map, then (mostly) altered: its token replaced by
    one over the same claims with one or two of them changed, and up to two fields
    dropped, set to a near miss or set to anything."""
    envelope = draw(sealed())
    wire: dict[Any, Any] = msgpack.unpackb(envelope.encode(), raw=False, strict_map_key=False)
    if draw(st.integers(0, 2)) == 0:
        claims = decode_token(envelope.encoded_claims).claims
        wire["encoded_claims"] = draw(tokens(near(st.just(claims))))
    alter_fields(draw, wire, _FIELD_VALUES, msgpack_values)
    return wire


envelope_bytes = (
    st.binary(max_size=64)
    | mutated(sealed().map(Envelope.encode))
    | envelope_wires().map(lambda wire: msgpack.packb(wire, use_bin_type=True))
)

# The bomb that found the escape: a token over claims nested past the recursion limit, in
# an envelope whose host id is its signer (the fast path of verify_envelope parses it).
DEEP_ENVELOPE = Envelope(
    Entity(actor=ACTOR),
    Entity(capid="wascc:keyvalue"),
    "Get",
    b"",
    "id",
    deep_token(SENDER),
    SENDER.public_key,
).encode()


def _trust(trusted: bool) -> LatticeTrust:
    """The receiver's trust: anchored in the account that vouched for ``SENDER``, or
    listing ``SENDER`` by name."""
    policy = (
        TrustPolicy.build(hosts=[SENDER.public_key])
        if trusted
        else TrustPolicy.build(lattice_account=KEYS["account"].public_key)
    )
    return LatticeTrust(policy, RECEIVER, rpc_timeout=2)


@settings(FUZZ, max_examples=scaled(200))
@given(
    data=envelope_bytes,
    limit=st.none() | st.integers(0, 512),
    trusted=st.none() | st.booleans(),
)
@example(data=DEEP_ENVELOPE, limit=None, trusted=None)  # RecursionError escaped verify
@example(data=b"\x91" * DEEP + b"\xc0", limit=None, trusted=None)
@example(data=b"\xde\xff\xff", limit=None, trusted=None)  # a map of 65535 entries, then nothing
def test_receive_envelope(data: bytes, limit: int | None, trusted: bool | None) -> None:
    """Any message decodes to a well-typed envelope or raises MalformedMessage; a decoded
    envelope verifies (signed by its host, covering its origin, target, operation and
    message) or raises ForgedInvocation; a verified one is admitted or refused with a
    ForgedInvocation."""
    envelope, _ = raises_only(
        lambda: decode_envelope(data, limit=limit), MalformedMessage, "decode"
    )
    if envelope is None:
        return
    assert limit is None or len(data) <= limit
    assert all(isinstance(getattr(envelope, f), str) for f in FIELDS[4:])
    assert isinstance(envelope.origin, Entity)
    assert isinstance(envelope.target, Entity)
    assert isinstance(envelope.msg, bytes)
    assert envelope.voucher is None or isinstance(envelope.voucher, str)
    assert decode_envelope(envelope.encode()) == envelope
    claims, _ = raises_only(lambda: verify_envelope(envelope), ForgedInvocation, "verify")
    if claims is None:
        return
    assert claims["iss"] == envelope.host_id
    raises_only(
        lambda: _trust(bool(trusted)).admit(
            envelope.describe, envelope.host_id, envelope.voucher, claims
        ),
        ForgedInvocation,
        "admit",
    )


@st.composite
def response_wires(draw: st.DrawFn) -> dict[Any, Any]:
    """A genuine response as a map with up to two fields dropped or set to anything."""
    wire: dict[Any, Any] = {
        "msg": draw(st.binary(max_size=16)),
        "error": draw(st.none() | text),
        "invocation_id": draw(text),
    }
    for key in draw(st.lists(st.sampled_from([*wire, "extra"]), max_size=2, unique=True)):
        if draw(st.booleans()):
            wire.pop(key, None)
        else:
            wire[key] = draw(msgpack_values | st.lists(st.integers(-1, 300), max_size=6))
    return wire


_genuine_responses = st.builds(encode_response, st.binary(max_size=16), st.none() | text, text)


@settings(FUZZ, max_examples=scaled(120))
@given(
    data=st.binary(max_size=48)
    | mutated(_genuine_responses)
    | response_wires().map(lambda wire: msgpack.packb(wire, use_bin_type=True))
)
@example(data=b"\x91" * DEEP + b"\xc0")
def test_decode_response(data: bytes) -> None:
    """Any answer decodes to a response with bytes, an optional error text and an id, or
    raises MalformedMessage."""
    response, _ = raises_only(lambda: decode_response(data), MalformedMessage)
    if response is not None:
        assert isinstance(response, Response)
        assert isinstance(response.msg, bytes)
        assert response.error is None or isinstance(response.error, str)
        assert isinstance(response.invocation_id, str)
        assert (
            decode_response(encode_response(response.msg, response.error, response.invocation_id))
            == response
        )


def test_genuine_envelope_is_received() -> None:
    """The genuine envelopes the fuzzing starts from are decoded, verified and admitted."""
    envelope = seal(Entity(actor=ACTOR), Entity(actor=ACTOR), "Echo", b"hi", SENDER)
    decoded = decode_envelope(envelope.encode())
    claims = verify_envelope(decoded)
    _trust(True).admit(decoded.describe, decoded.host_id, None, claims)
