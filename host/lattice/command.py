"""Signed control commands: what ``wascc ctl`` sends to a host's control subjects.

A command travels as msgpack ``{command: bin, token: str, voucher?: str}``. ``command`` is the
action's own body (launch/update: msgpack ``{module, force?, rotate_issuer?}``; terminate:
JSON ``{actor}``); ``token`` is a JWT signed by the controller's key::

    {"jti": …, "iat": …, "iss": "A…" | "U…", "sub": "N…" (the host addressed),
     "wascc": {"action": "launch" | "terminate" | "update", "hash": SHA-256 of command}}

so a captured command cannot be replayed (jti, iat: the host's replay guard), sent to another
host (sub), used as another action, or altered (hash). ``voucher`` is the controller's voucher
from the lattice's account when its key is a user key (``keys.vouch``).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage, does_not_verify
from wascc.host.lattice.trust import LatticeTrust
from wascc.keys.errors import ClaimsError, KeyError_
from wascc.keys.jwt import encode_token, verify_token
from wascc.keys.nkeys import KeyKind, KeyPair

__all__ = ["CONTROLLER_KINDS", "Controller", "open_command", "seal_command"]

CONTROLLER_KINDS: Final[tuple[KeyKind, ...]] = ("account", "user")
_UNSIGNED: Final = (
    "the command is not signed; sign it with `wascc ctl --signer KEY` (the lattice's account, "
    "or a user key it vouched for with `wascc keys vouch`, given with --signer-token)"
)


@dataclass(frozen=True)
class Controller:
    """Who signs control commands: an account or user key pair, and for a user key the
    voucher of the lattice's account."""

    key: KeyPair
    voucher: str | None = None

    def __repr__(self) -> str:  # never show the seed
        return f"Controller({self.key.public_key})"


def _digest(command: bytes) -> str:
    return hashlib.sha256(command).hexdigest().upper()


def seal_command(action: str, host_id: str, command: bytes, signer: Controller | None) -> bytes:
    """The message for ``action`` on ``host_id``: ``command`` signed by ``signer``, or
    unsigned (``None``: only an insecure lattice obeys it)."""
    if signer is None:
        return bytes(msgpack.packb({"command": command}, use_bin_type=True))
    claims = {
        "jti": uuid.uuid4().hex,
        "iat": int(time.time()),
        "iss": signer.key.public_key,
        "sub": host_id,
        "wascc": {"action": action, "hash": _digest(command)},
    }
    message: dict[str, Any] = {"command": command, "token": encode_token(claims, signer.key)}
    if signer.voucher is not None:
        message["voucher"] = signer.voucher
    return bytes(msgpack.packb(message, use_bin_type=True))


def open_command(action: str, data: bytes, trust: LatticeTrust) -> bytes:
    """The command of a control message after every check (signature, host, action, hash,
    freshness, trusted signer); ``ForgedInvocation`` (or ``MalformedMessage``) names the
    failed one."""
    what: Callable[[], str] = lambda: f"control command {action}"  # noqa: E731
    try:
        message = msgpack.unpackb(data, raw=False)
    except Exception:  # msgpack raises several unrelated types for bad input
        raise MalformedMessage(f"{what()}: not a control message (msgpack)") from None
    command = message.get("command") if isinstance(message, dict) else None
    if not isinstance(command, bytes):
        raise MalformedMessage(f"{what()}: not a control message ({{command, token}})")
    token, voucher = message.get("token"), message.get("voucher")
    if token is None:
        if trust.policy.insecure_lattice:
            return command
        raise ForgedInvocation(f"refused {what()}: {_UNSIGNED}")
    if not isinstance(token, str) or not (voucher is None or isinstance(voucher, str)):
        raise MalformedMessage(f"{what()}: the token and voucher must be strings")
    try:
        claims = verify_token(token, issuer_kinds=CONTROLLER_KINDS).claims
    except (ClaimsError, KeyError_) as exc:
        raise ForgedInvocation(does_not_verify(what(), "its token", exc)) from None
    wascc = claims.get("wascc")
    if claims.get("sub") != trust.host_id:
        raise ForgedInvocation(
            f"refused {what()}: it was signed for host {claims.get('sub')}, not this one"
        )
    if not isinstance(wascc, dict) or wascc.get("action") != action:
        found = wascc.get("action") if isinstance(wascc, dict) else None
        raise ForgedInvocation(f"refused {what()}: it was signed for action {found!r}")
    if wascc.get("hash") != _digest(command):
        raise ForgedInvocation(f"refused {what()}: the command was altered (hash mismatch)")
    trust.admit_controller(what, str(claims["iss"]), voucher)
    trust.check_fresh(what, claims)
    return command
