"""The invocation envelope and its anti-forgery token (docs/lattice.md), without NATS."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wascc.host.lattice import (
    Entity,
    ForgedInvocation,
    MalformedMessage,
    Subjects,
    decode_envelope,
    decode_response,
    encode_response,
    seal,
    verify_envelope,
)
from wascc.host.lattice.errors import LatticeError
from wascc.host.lattice.trust import LatticeTrust
from wascc.host.trust import TrustPolicy
from wascc.keys.jwt import decode_token, encode_token
from wascc.keys.nkeys import KeyPair

ACTOR = KeyPair.generate("module").public_key
OTHER = KeyPair.generate("module").public_key


@pytest.fixture
def server_key() -> KeyPair:
    """A host (server) key."""
    return KeyPair.generate("server")


def test_round_trip_keeps_every_field(server_key: KeyPair) -> None:
    """An envelope decodes to what was sealed and its token verifies."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"\x00hi", server_key)
    decoded = decode_envelope(envelope.encode())
    assert decoded == envelope
    verify_envelope(decoded)


def test_wire_shape_matches_the_spec(server_key: KeyPair) -> None:
    """Field order, entity maps keyed 0/1, msg as bin, host_id the N key."""
    target = Entity(capid="wascc:keyvalue", binding="default")
    envelope = seal(Entity(actor=ACTOR), target, "Get", b"x", server_key)
    raw = msgpack.unpackb(envelope.encode(), raw=False, strict_map_key=False)
    assert list(raw) == [
        "origin",
        "target",
        "operation",
        "msg",
        "id",
        "encoded_claims",
        "host_id",
    ]
    assert raw["origin"] == {0: ACTOR}
    assert raw["target"] == {1: {"capid": "wascc:keyvalue", "binding": "default"}}
    assert isinstance(raw["msg"], bytes)
    assert raw["host_id"] == server_key.public_key
    assert len(raw["id"]) == 36
    assert raw["id"][14] == "4"


def test_token_claims_hash_and_urls(server_key: KeyPair) -> None:
    """wascap = {target_url, origin_url, hash} with hash = SHA-256(origin+target+msg)."""
    target = Entity(capid="wascc:keyvalue", binding="kv2")
    envelope = seal(Entity(actor=ACTOR), target, "Get", b"payload", server_key)
    claims = decode_token(envelope.encoded_claims).claims
    wascap = claims["wascap"]
    assert wascap["origin_url"] == f"wasmbus://{ACTOR}"
    assert wascap["target_url"] == "wasmbus://wascc/keyvalue/kv2/Get"
    expected = hashlib.sha256(
        f"wasmbus://{ACTOR}wasmbus://wascc/keyvalue/kv2/Get".encode() + b"payload"
    ).hexdigest()
    assert wascap["hash"] == expected.upper()
    assert claims["iss"] == server_key.public_key


def test_msg_as_array_of_ints_is_accepted(server_key: KeyPair) -> None:
    """waSCC sent msg as an array of integers; the token still verifies."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"abc", server_key)
    raw = msgpack.unpackb(envelope.encode(), raw=False, strict_map_key=False)
    raw["msg"] = list(b"abc")
    decoded = decode_envelope(msgpack.packb(raw, use_bin_type=True))
    assert decoded.msg == b"abc"
    verify_envelope(decoded)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("msg", b"abd", "altered"),
        ("operation", "Other", "target"),
        ("target", Entity(actor=OTHER), "target"),
        ("origin", Entity(capid="wascc:http_server"), "origin"),
    ],
)
def test_altered_envelope_is_refused(
    server_key: KeyPair, field: str, value: object, reason: str
) -> None:
    """Changing message, operation, target or origin after signing is detected."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"abc", server_key)
    altered = dataclasses.replace(envelope, **{field: value})
    with pytest.raises(ForgedInvocation, match=reason):
        verify_envelope(decode_envelope(altered.encode()))


def test_token_of_another_host_is_refused(server_key: KeyPair) -> None:
    """A token signed by one host but claiming to come from another is refused."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", server_key)
    other = KeyPair.generate("server").public_key
    with pytest.raises(ForgedInvocation, match="not by the host it names"):
        verify_envelope(dataclasses.replace(envelope, host_id=other))


def test_tampered_signature_is_refused(server_key: KeyPair) -> None:
    """A token whose claims were edited no longer verifies."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", server_key)
    decoded = decode_token(envelope.encoded_claims)
    forged_claims = dict(decoded.claims, sub="another id")
    forged = encode_token(forged_claims, server_key).split(".")
    original = envelope.encoded_claims.split(".")
    token = f"{forged[0]}.{forged[1]}.{original[2]}"
    with pytest.raises(ForgedInvocation, match="does not verify"):
        verify_envelope(dataclasses.replace(envelope, encoded_claims=token))


def test_token_signed_by_a_non_server_key_is_refused() -> None:
    """Only host (N…) keys may sign invocations."""
    module_key = KeyPair.generate("module")
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", module_key)
    with pytest.raises(ForgedInvocation, match="expected server"):
        verify_envelope(envelope)


def test_garbage_token_is_refused(server_key: KeyPair) -> None:
    """A token that is not a JWT at all is refused as forged."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", server_key)
    with pytest.raises(ForgedInvocation):
        verify_envelope(dataclasses.replace(envelope, encoded_claims="not.a.token"))


def test_untrusted_host_is_refused(server_key: KeyPair) -> None:
    """With a list of trusted hosts, any other host's invocation is refused."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", server_key)
    claims = verify_envelope(envelope)

    def admit(hosts: set[str]) -> None:
        trust = LatticeTrust(TrustPolicy.build(hosts=hosts), "N-receiver", rpc_timeout=2)
        trust.admit(envelope.describe, envelope.host_id, None, claims)

    admit({server_key.public_key})
    with pytest.raises(ForgedInvocation, match="is not trusted here"):
        admit({KeyPair.generate("server").public_key})


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",
        msgpack.packb([1, 2]),
        msgpack.packb({"origin": {0: ACTOR}}),
        msgpack.packb({"origin": {7: ACTOR}, "target": {0: ACTOR}}),
    ],
)
def test_malformed_envelope(data: bytes) -> None:
    """Anything but an envelope is a MalformedMessage, never another exception."""
    with pytest.raises(MalformedMessage):
        decode_envelope(data)


def test_oversized_envelope(server_key: KeyPair) -> None:
    """An envelope over the limit is refused before it is parsed."""
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"x" * 2000, server_key)
    with pytest.raises(MalformedMessage, match="more than the 1000 allowed"):
        decode_envelope(envelope.encode(), limit=1000)


def test_response_round_trip() -> None:
    """``{msg, error, invocation_id}`` with msg as bin; error may be nil."""
    data = encode_response(b"ok", None, "id-1")
    assert msgpack.unpackb(data, raw=False) == {
        "msg": b"ok",
        "error": None,
        "invocation_id": "id-1",
    }
    assert decode_response(data).msg == b"ok"
    failed = decode_response(encode_response(b"", "boom", "id-2"))
    assert (failed.error, failed.invocation_id) == ("boom", "id-2")
    with pytest.raises(MalformedMessage):
        decode_response(b"\xc1")


def test_entity_of_origin_strings() -> None:
    """Actor keys become actor entities; contract ids and ``system`` capability entities
    (asked twice: the second answer comes from the cache and must be the same)."""
    for _ in range(2):
        assert Entity.of(ACTOR) == Entity(actor=ACTOR)
        assert Entity.of("wascc:http_server").url == "wasmbus://wascc/http_server/default"
        assert Entity.of("system").name == "system"
        assert Entity.of("").name == "system"
        altered = ACTOR[:-1] + ("B" if ACTOR.endswith("A") else "A")  # the key is random
        assert Entity.of(altered).actor is None  # a bad checksum is no actor key


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(capid=_TEXT, binding=_TEXT, operation=_TEXT, msg=st.binary(max_size=40), sub=_TEXT)
def test_token_is_what_encode_token_writes(
    capid: str, binding: str, operation: str, msg: bytes, sub: str
) -> None:
    """The token seal writes directly is byte for byte the one keys.jwt.encode_token makes
    from the same claims (quotes, backslashes, control and non-ASCII characters included),
    and it verifies."""
    key = KeyPair.generate("server")
    target = Entity(capid=capid, binding=binding)
    envelope = seal(Entity(actor=ACTOR), target, operation, msg, key, invocation_id=sub or None)
    claims = decode_token(envelope.encoded_claims).claims
    assert list(claims) == ["jti", "iat", "iss", "sub", "wascap"]
    assert list(claims["wascap"]) == ["target_url", "origin_url", "hash"]
    assert claims["sub"] == envelope.id
    assert uuid.UUID(claims["jti"]).version == 4
    assert envelope.encoded_claims == encode_token(claims, key)
    verify_envelope(decode_envelope(envelope.encode()))


def test_subjects_with_and_without_namespace() -> None:
    """Every subject is under wasmbus. or {ns}.wasmbus.; capids lower-case with dots."""
    plain, spaced = Subjects(), Subjects("prod")
    assert plain.actor(ACTOR) == f"wasmbus.actor.{ACTOR}"
    assert spaced.actor(ACTOR) == f"prod.wasmbus.actor.{ACTOR}"
    assert (
        plain.provider_root("wascc:KeyValue", "default")
        == "wasmbus.provider.wascc.keyvalue.default"
    )
    assert (
        plain.provider_actor("wascc:keyvalue", "b", ACTOR)
        == f"wasmbus.provider.wascc.keyvalue.b.{ACTOR}"
    )
    assert spaced.inventory("hosts") == "prod.wasmbus.inventory.hosts"
    assert plain.events == "wasmbus.events"
    assert plain.control("NX", "launch") == "wasmbus.control.NX.actor.launch"
    assert plain.auction == "wasmbus.control.auction.request"
    with pytest.raises(LatticeError, match="binding name"):
        plain.provider_root("wascc:keyvalue", "a.b")
    with pytest.raises(LatticeError, match="namespace"):
        Subjects("a b")


@pytest.mark.parametrize("window", [{"exp": 1_000_000_000}, {"nbf": 4_000_000_000}])
@pytest.mark.parametrize("host_seen_before", [False, True])
def test_token_outside_its_time_window_is_refused(
    window: dict[str, int], host_seen_before: bool
) -> None:
    """A well-signed token that expired (or is not valid yet) is refused, whether its host
    was seen before (cached key) or not."""
    key = KeyPair.generate("server")
    if host_seen_before:
        verify_envelope(seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", key))
    envelope = seal(Entity(actor=OTHER), Entity(actor=ACTOR), "Echo", b"", key)
    claims = {**decode_token(envelope.encoded_claims).claims, **window}
    timed = dataclasses.replace(envelope, encoded_claims=encode_token(claims, key))
    with pytest.raises(
        ForgedInvocation, match=r"does not verify: the token (expired|is not valid)"
    ):
        verify_envelope(timed)
