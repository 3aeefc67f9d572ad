"""Vouchers: an account's signed word that a host key (or a control key) belongs to it.

A lattice is anchored in one account, in the spirit of NATS's operator/account model: every
host is handed the account's *public* key, and each host's server key (``N…``) and each
operator's control key (``U…``) is vouched for by a token the account signs once, offline.
A host then trusts exactly the keys its anchor vouched for, without a list to keep in sync.

A voucher is a JWT of this project's form (``keys.jwt``), signed by the account::

    {"jti": …, "iat": …, "exp"?: …, "iss": "A…", "sub": "N…" | "U…",
     "wascc": {"role": "host" | "controller", "name"?: …}}

The role follows from the subject's kind (a server key is a host, a user key a controller)
and is written out so that a token can never be read as the other. Checking that the
voucher's account is the anchor and its subject the key that presents it is the caller's
part (``host.lattice.trust``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from wascc.keys.claims import Duration, date_after
from wascc.keys.errors import KeyError_, TokenMalformed, WrongKeyKind
from wascc.keys.jwt import encode_token, verify_token
from wascc.keys.nkeys import KeyKind, KeyPair, decode_public_key, with_article

__all__ = ["ROLES", "Role", "Voucher", "read_voucher", "role_of", "vouch"]

Role = Literal["host", "controller"]
ROLES: Final[dict[KeyKind, Role]] = {"server": "host", "user": "controller"}
_ACCOUNT: Final[tuple[KeyKind, ...]] = ("account",)
_REISSUE: Final = "make a new one with `wascc keys vouch`"


@dataclass(frozen=True)
class Voucher:
    """A verified voucher: ``account`` vouches that ``subject`` is one of its hosts or
    controllers (``role``) until ``expires`` (Unix seconds, ``None``: no end)."""

    account: str
    subject: str
    role: Role
    name: str | None
    expires: int | None
    token: str = field(repr=False)


def role_of(kind: KeyKind) -> Role | None:
    """The role a key of ``kind`` can be vouched for, if any."""
    return ROLES.get(kind)


def vouch(
    account: KeyPair,
    subject: str,
    *,
    name: str | None = None,
    expires_in: Duration | None = None,
    now: float | None = None,
) -> str:
    """The voucher token by which ``account`` vouches for the public key ``subject`` (a
    server key: a host; a user key: a controller). ``WrongKeyKind`` for any other pair."""
    if account.kind != "account":
        raise WrongKeyKind(
            f"a voucher is signed by an account key (A…), not {with_article(account.kind)} key"
        )
    kind, _ = decode_public_key(subject)
    role = role_of(kind)
    if role is None:
        raise WrongKeyKind(
            f"an account vouches for a server key (a host, N…) or a user key (a controller, "
            f"U…), not {with_article(kind)} key"
        )
    issued = date_after(0, time.time() if now is None else now, "now")
    claims: dict[str, Any] = {}
    if expires_in is not None:
        claims["exp"] = date_after(issued, expires_in, "expires_in")
    claims |= {"jti": uuid.uuid4().hex, "iat": issued, "iss": account.public_key, "sub": subject}
    wascc: dict[str, Any] = {"role": role}
    if name:
        wascc["name"] = name
    claims["wascc"] = wascc
    return encode_token(claims, account)


def read_voucher(token: str, *, now: float | None = None, path: str | None = None) -> Voucher:
    """Verify ``token`` (an account's signature, its time window, its shape) and return it.

    Raises the ``ClaimsError`` that names the problem (``BadSignature``, ``TokenExpired``,
    ``TokenMalformed``, …); ``path`` labels messages with the file it came from.
    """
    decoded = verify_token(token.strip(), issuer_kinds=_ACCOUNT, now=now, path=path)
    claims = decoded.claims
    subject, wascc = claims.get("sub"), claims.get("wascc")
    if not isinstance(subject, str) or not isinstance(wascc, dict):
        raise TokenMalformed(f"not a voucher (no sub or wascc claims); {_REISSUE}", path=path)
    try:
        kind, _ = decode_public_key(subject)
    except KeyError_:
        raise TokenMalformed(
            f"the voucher's subject is not a public key; {_REISSUE}", path=path
        ) from None
    role = wascc.get("role")
    if role is None or role != role_of(kind):
        raise TokenMalformed(
            f"the voucher's role {role!r} does not fit its subject, {with_article(kind)} key; "
            f"{_REISSUE}",
            path=path,
        )
    name = wascc.get("name")
    expires = claims.get("exp")
    return Voucher(
        account=str(claims["iss"]),
        subject=subject,
        role=role,
        name=name if isinstance(name, str) else None,
        expires=int(expires) if isinstance(expires, int | float) else None,
        token=token.strip(),
    )
