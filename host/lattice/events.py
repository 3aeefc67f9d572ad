"""Lattice events: CloudEvents 1.0 (JSON) on ``wasmbus.events`` (docs/lattice.md lists them).

Each host publishes what changes on it (actors, providers, bindings, its own start and stop);
``wascc ctl events`` follows them, and the lattice itself listens for ``provider_loaded`` to
replay bindings to a provider that joined after they were made.

Hosts act on each other's events (they record bindings, forget a stopped host's), so an event
carries the sending host's signature in two extension attributes: ``wascctoken``, a JWT signed
by the host key (``iss`` = ``source``, ``sub`` = the event id, ``wascc`` = the type and the
SHA-256 of the data as canonical JSON), and ``wasccvoucher``, the host's voucher when it has
one. A host acts only on events that verify and come from a host it trusts
(``host.lattice.trust``), once each (the replay guard).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

from wascc.host.invocation import new_invocation_id
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage, does_not_verify
from wascc.keys.errors import ClaimsError, KeyError_
from wascc.keys.jwt import encode_token, verify_token
from wascc.keys.nkeys import KeyKind, KeyPair

__all__ = ["EVENT_TYPES", "EventType", "cloud_event", "parse_event", "verify_event"]

EventType = Literal[
    "host_started",
    "host_stopped",
    "actor_started",
    "actor_stopped",
    "actor_updating",
    "actor_update_complete",
    "provider_loaded",
    "provider_removed",
    "actor_binding_created",
    "actor_binding_removed",
    "host_heartbeat",  # every LatticeConfig.heartbeat seconds: the host is alive
]
EVENT_TYPES: Final[frozenset[str]] = frozenset(get_args(EventType))
_SERVER: Final[tuple[KeyKind, ...]] = ("server",)


def _rfc3339(seconds: float) -> str:
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _digest(kind: str, data: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        [kind, data], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    return hashlib.sha256(canonical).hexdigest().upper()


def cloud_event(
    kind: EventType,
    host_id: str,
    data: Mapping[str, Any],
    *,
    signer: KeyPair | None = None,
    voucher: str | None = None,
) -> bytes:
    """The JSON of one CloudEvent of type ``kind`` from ``host_id``, signed by ``signer``
    (the host key) when given, with the host's ``voucher``."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": new_invocation_id(),
        "source": host_id,
        "type": kind,
        "time": _rfc3339(time.time()),
        "datacontenttype": "application/json",
        "data": dict(data),
    }
    if signer is not None:
        claims = {
            "jti": uuid.uuid4().hex,
            "iat": int(time.time()),
            "iss": signer.public_key,
            "sub": event["id"],
            "wascc": {"type": kind, "hash": _digest(kind, event["data"])},
        }
        event["wascctoken"] = encode_token(claims, signer)
        if voucher is not None:
            event["wasccvoucher"] = voucher
    return json.dumps(event, separators=(",", ":")).encode()


def verify_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The claims of a parsed event's signature; ``ForgedInvocation`` unless it was signed by
    its ``source`` host and covers this id, type and data."""
    what = f"event {event.get('type')} from {event.get('source')}"
    token = event.get("wascctoken")
    if not isinstance(token, str):
        raise ForgedInvocation(f"refused {what}: it is not signed")
    try:
        claims = verify_token(token, issuer_kinds=_SERVER).claims
    except (ClaimsError, KeyError_) as exc:
        raise ForgedInvocation(does_not_verify(what, "its signature", exc)) from None
    wascc = claims.get("wascc")
    if (
        claims.get("iss") != event.get("source")
        or claims.get("sub") != event.get("id")
        or not isinstance(wascc, dict)
        or wascc.get("type") != event.get("type")
        or wascc.get("hash") != _received_digest(event)
    ):
        raise ForgedInvocation(f"refused {what}: its signature is for another event")
    return claims


def _received_digest(event: Mapping[str, Any]) -> str | None:
    """The digest of a received event's type and data; None if its data cannot be what a
    host signed: text with lone surrogates (JSON's ``\\ud800`` escapes), which no host can
    encode, or nesting as deep as the JSON reader allows, which the writer cannot retrace."""
    try:
        return _digest(str(event.get("type")), event.get("data") or {})
    except (UnicodeEncodeError, RecursionError):
        return None


def parse_event(raw: bytes) -> dict[str, Any]:
    """A received event as a dict; ``MalformedMessage`` if it is not a CloudEvent we know."""
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("the event is not JSON") from None
    except RecursionError:  # json gives up on arrays or objects nested ~1000 deep
        raise MalformedMessage("the event nests arrays or objects too deeply to read") from None
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise MalformedMessage("the event is not a CloudEvent 1.0 object")
    kind = event.get("type")
    if not isinstance(kind, str):  # an array or an object cannot even be looked up
        raise MalformedMessage("the event type is missing or not a string")
    if kind not in EVENT_TYPES or not isinstance(event.get("data"), dict):
        raise MalformedMessage(f"unknown event type {kind!r}")
    if not isinstance(event.get("source"), str):
        raise MalformedMessage("the event has no source host")
    return event
