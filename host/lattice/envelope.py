"""The invocation envelope and its anti-forgery token (docs/lattice.md), as msgpack bytes.

An envelope is ``{origin, target, operation, msg, id, encoded_claims, host_id}``; an entity is
``{0: "M…"}`` (an actor) or ``{1: {capid, binding}}`` (a capability). ``encoded_claims`` is a
JWT signed by the sending host's ``N…`` key whose ``wascap`` is ``{target_url, origin_url,
hash}``: the hash covers origin, target, operation and message, so a receiver that checks the
token knows none of them was altered on the way and which host sent it.

waSCC sent ``msg`` as an array of integers; we send ``bin`` (far faster) and accept both.

One key is ours: ``host_voucher``, the sending host's voucher from the lattice's account
(``keys.vouch``), present when the host has one. It lets a receiver that is anchored in that
account trust a host it has never been told about; hosts that do not know the key ignore it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgpack
import nacl.exceptions
import nacl.signing

from wascc.host.invocation import SYSTEM_ORIGIN, uuid4_text
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage, does_not_verify
from wascc.keys.errors import ClaimsError, KeyError_
from wascc.keys.jwt import b64url_decode, b64url_encode, check_time_window, verify_token
from wascc.keys.nkeys import KeyKind, KeyPair, decode_public_key, is_public_key

__all__ = [
    "Entity",
    "Envelope",
    "Response",
    "decode_envelope",
    "decode_response",
    "encode_response",
    "seal",
    "verify_envelope",
]

_ACTOR: Final = 0
_CAPABILITY: Final = 1
_SERVER: Final[tuple[KeyKind, ...]] = ("server",)
# The header segment this host writes; a token with any other spelling takes the slow path.
_HEADER: Final = b64url_encode(b'{"typ":"jwt","alg":"Ed25519"}')
_HEADER_BYTES: Final = _HEADER.encode("ascii")
# Verify keys of the hosts seen so far: decoding an nkey costs as much as the signature check.
_VERIFY_KEYS: dict[str, nacl.signing.VerifyKey] = {}
_MAX_KEYS: Final = 4096
# The entities of the origin strings seen so far (bounded like _WASCAP_JSON).
_ORIGINS: dict[str, Entity] = {}


@dataclass(frozen=True, slots=True)
class Entity:
    """One end of an invocation: an actor (``actor`` set) or a capability (``capid``)."""

    actor: str | None = None
    capid: str = ""
    binding: str = "default"

    @classmethod
    def of(cls, origin: str) -> Entity:
        """The entity a host-side origin string names: an actor key, else a contract id
        (``system`` for the host itself) under the default binding."""
        entity = _ORIGINS.get(origin)
        if entity is None:  # checking a key's checksum costs more than the rest of a call
            if is_public_key(origin, "module"):
                entity = cls(actor=origin)
            else:
                entity = cls(capid=origin or SYSTEM_ORIGIN)
            if len(_ORIGINS) >= _MAX_CACHED:
                _ORIGINS.clear()
            _ORIGINS[origin] = entity
        return entity

    @property
    def url(self) -> str:
        """``wasmbus://{actor}`` or ``wasmbus://{capid with : as /}/{binding}``."""
        if self.actor is not None:
            return f"wasmbus://{self.actor}"
        return f"wasmbus://{self.capid.replace(':', '/')}/{self.binding}"

    @property
    def name(self) -> str:
        """The host-side origin string: the actor key or the contract id."""
        return self.actor if self.actor is not None else self.capid

    def to_wire(self) -> dict[int, Any]:
        if self.actor is not None:
            return {_ACTOR: self.actor}
        return {_CAPABILITY: {"capid": self.capid, "binding": self.binding}}

    @classmethod
    def from_wire(cls, value: object, what: str) -> Entity:
        if isinstance(value, dict) and len(value) == 1:
            ((tag, body),) = value.items()
            if tag == _ACTOR and isinstance(body, str):
                return cls(actor=body)
            if tag == _CAPABILITY and isinstance(body, dict):
                capid, binding = body.get("capid"), body.get("binding")
                if isinstance(capid, str) and isinstance(binding, str):
                    return cls(capid=capid, binding=binding)
        raise MalformedMessage(f"the envelope's {what} is not {{0: actor}} or {{1: capability}}")


@dataclass(slots=True)
class Envelope:
    """One invocation between hosts, as it travels (not frozen only because a frozen
    dataclass is four times as slow to make, and two are made per call)."""

    origin: Entity
    target: Entity
    operation: str
    msg: bytes
    id: str
    encoded_claims: str
    host_id: str
    voucher: str | None = None  # the sending host's voucher (``host_voucher`` on the wire)

    def encode(self) -> bytes:
        """The msgpack bytes, fields in waSCC's order (above), ``msg`` as ``bin``."""
        fields = {
            "origin": self.origin.to_wire(),
            "target": self.target.to_wire(),
            "operation": self.operation,
            "msg": self.msg,
            "id": self.id,
            "encoded_claims": self.encoded_claims,
            "host_id": self.host_id,
        }
        if self.voucher is not None:
            fields["host_voucher"] = self.voucher
        return bytes(msgpack.packb(fields, use_bin_type=True))

    def describe(self) -> str:
        """For messages: ``Echo on wasmbus://M… from wasmbus://… (invocation …)``."""
        return (
            f"{self.operation} on {self.target.url} from {self.origin.url} "
            f"(invocation {self.id}, host {self.host_id})"
        )


def _urls(origin: Entity, target: Entity, operation: str) -> tuple[str, str]:
    return origin.url, f"{target.url}/{operation}"


# The JSON of the wascap object up to its hash, per (target_url, origin_url): escaped once per
# route rather than per call. A host talks to few routes; the cache is emptied when full.
_WASCAP_JSON: dict[tuple[str, str], str] = {}
_MAX_CACHED: Final = 4096


def _wascap_json(target_url: str, origin_url: str) -> str:
    key = (target_url, origin_url)
    text = _WASCAP_JSON.get(key)
    if text is None:
        text = (
            f'{{"target_url":{_json_str(target_url)},"origin_url":{_json_str(origin_url)},"hash":"'
        )
        if len(_WASCAP_JSON) >= _MAX_CACHED:
            _WASCAP_JSON.clear()
        _WASCAP_JSON[key] = text
    return text


def _json_str(text: str) -> str:
    # As keys.jwt writes every string: compact, non-ASCII as UTF-8 (the token is the same
    # bytes encode_token would make from the claims dict).
    return json.dumps(text, ensure_ascii=False)


def _hash(origin_url: str, target_url: str, msg: bytes) -> str:
    digest = hashlib.sha256(origin_url.encode())
    digest.update(target_url.encode())
    digest.update(msg)
    return digest.hexdigest().upper()


def seal(
    origin: Entity,
    target: Entity,
    operation: str,
    msg: bytes,
    signer: KeyPair,
    *,
    invocation_id: str | None = None,
    voucher: str | None = None,
) -> Envelope:
    """A new envelope with its token, signed by the host key ``signer`` (and the host's
    ``voucher``, if it has one).

    The claims are written straight as JSON (this runs per invocation); they are the bytes
    ``keys.jwt.encode_token`` would write for ``{jti, iat, iss, sub, wascap: {target_url,
    origin_url, hash}}`` in that order, which a test keeps true.
    """
    issuer = signer.public_key
    raw = os.urandom(32)
    jti = uuid4_text(raw[:16])
    if invocation_id is None:
        inv_id = uuid4_text(raw[16:])
        subject = f'"{inv_id}"'
    else:
        inv_id, subject = invocation_id, _json_str(invocation_id)
    origin_url, target_url = _urls(origin, target, operation)
    claims = (
        f'{{"jti":"{jti}","iat":{int(time.time())},"iss":"{issuer}","sub":{subject},'
        f'"wascap":{_wascap_json(target_url, origin_url)}{_hash(origin_url, target_url, msg)}"}}}}'
    )
    signing_input = _HEADER_BYTES + b"." + base64.urlsafe_b64encode(claims.encode()).rstrip(b"=")
    token = f"{signing_input.decode('ascii')}.{b64url_encode(signer.sign(signing_input))}"
    return Envelope(origin, target, operation, msg, inv_id, token, issuer, voucher)


def decode_envelope(data: bytes, *, limit: int | None = None) -> Envelope:
    """Parse an envelope; ``MalformedMessage`` for anything that is not one (or too large)."""
    if limit is not None and len(data) > limit:
        raise MalformedMessage(f"the message is {len(data)} bytes, more than the {limit} allowed")
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise MalformedMessage(f"the message is not msgpack: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise MalformedMessage("the message is not a msgpack map (an invocation envelope)")
    for key in ("operation", "id", "encoded_claims", "host_id"):
        if not isinstance(raw.get(key), str):
            raise MalformedMessage(f"the envelope's {key} is missing or not a string")
    voucher = raw.get("host_voucher")
    if voucher is not None and not isinstance(voucher, str):
        raise MalformedMessage("the envelope's host_voucher is not a string")
    return Envelope(
        origin=Entity.from_wire(raw.get("origin"), "origin"),
        target=Entity.from_wire(raw.get("target"), "target"),
        operation=raw["operation"],
        msg=_message_bytes(raw.get("msg")),
        id=raw["id"],
        encoded_claims=raw["encoded_claims"],
        host_id=raw["host_id"],
        voucher=voucher,
    )


def _message_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):  # waSCC's array of integers
        try:
            return bytes(value)
        except (TypeError, ValueError):
            pass
    raise MalformedMessage("the envelope's msg is neither bin nor an array of bytes (0-255)")


def verify_envelope(envelope: Envelope) -> dict[str, Any]:
    """The token's claims; ``ForgedInvocation`` unless the token was signed by ``host_id`` (a
    server key) and covers exactly this origin, target, operation and message. Whether that
    host is trusted and the token fresh is the receiver's ``LatticeTrust``'s question."""
    claims = _verified_claims(envelope)
    if "exp" in claims or "nbf" in claims:  # hosts write neither; other tools may
        try:
            check_time_window(claims)
        except ClaimsError as exc:
            raise _unverified(envelope, exc) from None
    _check_claims(envelope, claims)
    return claims


def _verified_claims(envelope: Envelope) -> dict[str, Any]:
    """The claims of a token signed by the server key in its ``iss``. The common case (our
    own header spelling, a host seen before) checks the signature with the cached key; the
    rest goes through ``keys.jwt.verify_token``, which checks everything and reports each
    failure precisely."""
    token = envelope.encoded_claims
    parts = token.split(".")
    if len(parts) == 3 and parts[0] == _HEADER:
        try:
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deeply
            claims = None  # the full check below says why
        if isinstance(claims, dict):
            issuer = claims.get("iss")
            key = _VERIFY_KEYS.get(issuer) if isinstance(issuer, str) else None
            if key is not None:
                signed = token[: len(parts[0]) + len(parts[1]) + 1].encode("ascii")
                try:
                    key.verify(signed, signature)
                except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
                    pass  # the full check below says why
                else:
                    return claims
    return _fully_verified(envelope)


def _fully_verified(envelope: Envelope) -> dict[str, Any]:
    try:
        decoded = verify_token(envelope.encoded_claims, issuer_kinds=_SERVER)
    except (ClaimsError, KeyError_) as exc:
        raise _unverified(envelope, exc) from None
    issuer = decoded.claims["iss"]
    if issuer not in _VERIFY_KEYS and len(_VERIFY_KEYS) < _MAX_KEYS:
        _VERIFY_KEYS[issuer] = nacl.signing.VerifyKey(decode_public_key(issuer)[1])
    return decoded.claims


def _unverified(envelope: Envelope, exc: Exception) -> ForgedInvocation:
    return ForgedInvocation(does_not_verify(envelope.describe(), "the token", exc))


def _check_claims(envelope: Envelope, claims: Mapping[str, Any]) -> None:
    issuer = claims.get("iss")
    if issuer != envelope.host_id:
        raise ForgedInvocation(
            f"refused {envelope.describe()}: the token was signed by {issuer}, not by the host "
            "it names"
        )
    wascap = claims.get("wascap")
    if not isinstance(wascap, Mapping):
        raise ForgedInvocation(f"refused {envelope.describe()}: the token has no wascap claims")
    origin_url, target_url = _urls(envelope.origin, envelope.target, envelope.operation)
    if wascap.get("origin_url") != origin_url:
        raise ForgedInvocation(
            f"refused {envelope.describe()}: the token was made for origin "
            f"{wascap.get('origin_url')}"
        )
    if wascap.get("target_url") != target_url:
        raise ForgedInvocation(
            f"refused {envelope.describe()}: the token was made for target "
            f"{wascap.get('target_url')}"
        )
    if wascap.get("hash") != _hash(origin_url, target_url, envelope.msg):
        raise ForgedInvocation(
            f"refused {envelope.describe()}: the message was altered (hash mismatch)"
        )


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to an invocation: ``msg``, or ``error`` (a text) when it failed."""

    msg: bytes
    error: str | None
    invocation_id: str


def encode_response(msg: bytes, error: str | None, invocation_id: str) -> bytes:
    """``{msg, error, invocation_id}`` as msgpack."""
    return bytes(
        msgpack.packb(
            {"msg": msg, "error": error, "invocation_id": invocation_id}, use_bin_type=True
        )
    )


def decode_response(data: bytes) -> Response:
    """Parse a response; ``MalformedMessage`` if it is not one."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:
        raise MalformedMessage(f"the response is not msgpack: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise MalformedMessage("the response is not a msgpack map")
    error, inv_id = raw.get("error"), raw.get("invocation_id", "")
    if error is not None and not isinstance(error, str):
        raise MalformedMessage("the response's error is not a string or nil")
    if not isinstance(inv_id, str):
        raise MalformedMessage("the response's invocation_id is not a string")
    return Response(_message_bytes(raw.get("msg", b"")), error, inv_id)
