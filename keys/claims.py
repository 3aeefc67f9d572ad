"""Signed modules: what an actor claims (identity, capabilities) and the checks behind it.

An actor is a wasm module carrying a JWT in its ``jwt`` custom section. The token's subject
(``M…``) is the actor's identity everywhere; its issuer (``A…``) is the account that vouches for
it; its ``wascap`` object lists the capability contracts the actor may use and the SHA-256 of
the module, so changing one byte of code invalidates the signature chain.

:func:`sign_module` writes such a token, :func:`validate_module` is the host's gate (one distinct
exception per failure, each naming the file and the fix), :func:`inspect_module` reports for
``wascc claims inspect`` without stopping at the first problem.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from wascc.keys.errors import (
    ClaimsError,
    HashMismatch,
    InvalidIssuerOrSubject,
    KeyError_,
    TokenMalformed,
    TokenMissing,
    UntrustedIssuer,
    WrongKeyKind,
)
from wascc.keys.jwt import (
    MAX_DATE,
    DecodedToken,
    check_header,
    check_time_window,
    date_claim,
    decode_token,
    encode_token,
    verify_signature,
)
from wascc.keys.nkeys import KeyPair, decode_public_key, with_article
from wascc.keys.wasm import ModuleBytes, embed_token, module_hash, scan

__all__ = [
    "WASMCLOUD_CAPABILITIES",
    "WELL_KNOWN_CAPABILITIES",
    "Claims",
    "Duration",
    "Inspection",
    "date_after",
    "inspect_module",
    "sign_module",
    "validate_module",
]

WELL_KNOWN_CAPABILITIES: Final[tuple[str, ...]] = (
    "wascc:http_server",
    "wascc:http_client",
    "wascc:keyvalue",
    "wascc:messaging",
    "wascc:logging",
    "wascc:extras",
    "wascc:blobstore",
    "wascc:eventstreams",
)

WASMCLOUD_CAPABILITIES: Final[tuple[str, ...]] = (
    "wasmcloud:httpserver",
    "wasmcloud:keyvalue",
    "wasmcloud:messaging",
    "wasmcloud:logging",
    "wasmcloud:extras",
)
"""The contracts of wasmCloud 0.15-0.18 actors that a host serves (docs/generations.md)."""

Duration = timedelta | float
_RESIGN: Final = "re-sign it with `wascc claims sign`"


@dataclass(frozen=True)
class Claims:
    """The claims of a signed module, as read from its token (times are Unix seconds)."""

    issuer: str  # account public key, A…
    subject: str  # module public key, M… (V… for a provider): the actor's identity
    issued_at: int
    jti: str
    expires: int | None
    not_before: int | None
    name: str | None
    hash: str  # uppercase hex SHA-256 of the module without its token
    tags: tuple[str, ...]
    caps: tuple[str, ...]  # capability contract ids the actor may use
    rev: int | None
    ver: str | None
    call_alias: str | None
    provider: bool
    token: str = field(repr=False)  # the token as embedded, for forwarding verbatim

    def is_usable_at(self, now: float | None = None) -> bool:
        """True inside the time window: ``nbf`` reached and ``exp`` not yet."""
        current = time.time() if now is None else now
        if self.expires is not None and current >= self.expires:
            return False
        return self.not_before is None or current >= self.not_before

    def to_json(self) -> dict[str, Any]:
        """The claims as a JSON-ready dict, for display and ``-o json`` output."""
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "name": self.name,
            "issued_at": self.issued_at,
            "expires": self.expires,
            "not_before": self.not_before,
            "hash": self.hash,
            "tags": list(self.tags),
            "caps": list(self.caps),
            "rev": self.rev,
            "ver": self.ver,
            "call_alias": self.call_alias,
            "provider": self.provider,
            "jti": self.jti,
        }

    @classmethod
    def from_decoded(cls, decoded: DecodedToken, token: str, *, path: str | None = None) -> Claims:
        """Read the claims of a decoded token; raise ``TokenMalformed`` on missing or bad fields.

        Unknown keys are ignored, as other tools add their own. ``iat`` (required), ``exp`` and
        ``nbf`` must be whole seconds from 0 to ``keys.jwt.MAX_DATE`` (the end of year 9999),
        so every date a ``Claims`` holds can be compared and printed.
        """
        raw = decoded.claims
        wascap = raw.get("wascap")
        if not isinstance(wascap, dict):
            raise TokenMalformed(f"the token has no wascap claims object; {_RESIGN}", path=path)

        def get(obj: Mapping[str, Any], key: str, kind: type, required: bool = False) -> Any:
            value = obj.get(key)
            if value is None and not required:
                return None
            # bool is an int subclass: `"iat": true` must not pass as a date.
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                want = {int: "an integer", str: "a string", bool: "true or false"}[kind]
                raise TokenMalformed(f"the claim {key!r} must be {want}; {_RESIGN}", path=path)
            return value

        def date(key: str) -> int | None:
            value = date_claim(raw, key, whole=True, path=path)
            return None if value is None else int(value)  # whole=True: already an int

        def strings(key: str) -> tuple[str, ...]:
            value = wascap.get(key)
            if value is None:
                return ()
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TokenMalformed(
                    f"the claim {key!r} must be a list of strings; {_RESIGN}", path=path
                )
            return tuple(value)

        issuer, subject = get(raw, "iss", str, True), get(raw, "sub", str, True)
        issued_at = date("iat")
        if issued_at is None:
            raise TokenMalformed(
                f"the claim 'iat' is missing, a signed module's token has one; {_RESIGN}",
                path=path,
            )
        return cls(
            issuer=issuer,
            subject=subject,
            issued_at=issued_at,
            jti=get(raw, "jti", str, True),
            expires=date("exp"),
            not_before=date("nbf"),
            name=get(wascap, "name", str),
            hash=get(wascap, "hash", str, True),
            tags=strings("tags"),
            caps=strings("caps"),
            rev=get(wascap, "rev", int),
            ver=get(wascap, "ver", str),
            call_alias=get(wascap, "call_alias", str),
            provider=bool(get(wascap, "prov", bool)),
            token=token,
        )


def _seconds(duration: Duration) -> float:
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


def date_after(start: int, duration: Duration, what: str) -> int:
    """``start`` plus whole seconds of ``duration``; ``ValueError`` if no token may carry it."""
    try:
        seconds = _seconds(duration)
    except OverflowError:  # an int too large for a float
        seconds = math.inf
    if math.isfinite(seconds) and 0 <= start + int(seconds) <= MAX_DATE:
        return start + int(seconds)
    raise ValueError(
        f"{what} gives a date outside what a token can carry (0 to {MAX_DATE} seconds, "
        "1970 to the end of year 9999)"
    )


def sign_module(
    module: ModuleBytes,
    *,
    issuer: KeyPair,
    subject: KeyPair,
    name: str,
    caps: Iterable[str] = (),
    tags: Iterable[str] = (),
    rev: int | None = None,
    ver: str | None = None,
    expires_in: Duration | None = None,
    not_before_in: Duration | None = None,
    provider: bool = False,
    call_alias: str | None = None,
    now: float | None = None,
) -> bytes:
    """Return ``module`` signed: a new token as its last section, replacing any old one.

    ``issuer`` must be an account key and ``subject`` a module key (a service key when
    ``provider``); anything else raises ``WrongKeyKind``, since the host would refuse the result.
    ``now``, ``expires_in`` and ``not_before_in`` must give dates from 1970 to the end of year
    9999 (see ``keys.jwt.MAX_DATE``), else ``ValueError``: the host would refuse those too.
    """
    if issuer.kind != "account":
        raise WrongKeyKind(
            f"the issuer must be an account key (A…), got {with_article(issuer.kind)} key"
        )
    wanted = "service" if provider else "module"
    if subject.kind != wanted:
        raise WrongKeyKind(
            f"the subject of a {'provider' if provider else 'module'} must be a {wanted} key "
            f"({'V' if provider else 'M'}…), got {with_article(subject.kind)} key"
        )
    issued_at = date_after(0, time.time() if now is None else now, "now")
    wascap: dict[str, Any] = {"name": name, "hash": module_hash(module)}
    if tags := list(tags):
        wascap["tags"] = tags
    if caps := list(caps):
        wascap["caps"] = caps
    if rev is not None:
        wascap["rev"] = rev
    if ver is not None:
        wascap["ver"] = ver
    if call_alias is not None:
        wascap["call_alias"] = call_alias
    wascap["prov"] = provider
    # Key order is the one waSCC's tools write: exp, jti, iat, iss, sub, nbf, wascap.
    claims: dict[str, Any] = {}
    if expires_in is not None:
        claims["exp"] = date_after(issued_at, expires_in, "expires_in")
    claims |= {
        "jti": uuid.uuid4().hex,
        "iat": issued_at,
        "iss": issuer.public_key,
        "sub": subject.public_key,
    }
    if not_before_in is not None:
        claims["nbf"] = date_after(issued_at, not_before_in, "not_before_in")
    claims["wascap"] = wascap
    return embed_token(module, encode_token(claims, issuer))


def _read(module: ModuleBytes, path: str | None) -> tuple[DecodedToken, str, str]:
    """Decoded token, token text and actual module hash; raise for a missing or bad token."""
    token, actual_hash = scan(module, path=path)
    if token is None:
        raise TokenMissing(
            "the module is not signed (no jwt section); sign it with "
            "`wascc claims sign FILE --name NAME --cap CONTRACT`",
            path=path,
        )
    return decode_token(token, path=path), token, actual_hash


def _check_hash(claims: Claims, actual: str, path: str | None) -> None:
    if claims.hash.upper() != actual:
        raise HashMismatch(
            f"the module was changed after it was signed (its hash is {actual}, the claims say "
            f"{claims.hash}); {_RESIGN}",
            path=path,
        )


def _check_parties(claims: Claims, path: str | None) -> None:
    """``iss`` must be an account key; ``sub`` a module key, or a service key for a provider."""
    for role, key, wanted in (
        ("issuer (iss)", claims.issuer, ("account",)),
        (
            "subject (sub)",
            claims.subject,
            ("module", "service") if claims.provider else ("module",),
        ),
    ):
        try:
            kind, _ = decode_public_key(key)
        except KeyError_ as exc:
            raise InvalidIssuerOrSubject(
                f"the {role} is not a valid public key ({exc}); {_RESIGN}", path=path
            ) from None
        if kind not in wanted:
            raise InvalidIssuerOrSubject(
                f"the {role} is {with_article(kind)} key, expected "
                f"{' or '.join(wanted)}; {_RESIGN} "
                "using an account key as issuer and a module key as subject",
                path=path,
            )


def validate_module(
    module: ModuleBytes,
    *,
    path: str | None = None,
    trusted_issuers: Collection[str] | None = None,
    now: float | None = None,
) -> Claims:
    """Check a signed module as the host does before loading it, and return its claims.

    Checks, in order: module, one token present (several raise ``AmbiguousClaims``) and well
    formed, header, claims (dates within 1970 to 9999), hash, issuer and subject kinds,
    signature, trusted issuer (when ``trusted_issuers`` is given), expiry, not-before.
    Each failure raises its own ``ClaimsError`` subclass; ``path`` names the file in messages.
    """
    decoded, token, actual_hash = _read(module, path)
    check_header(decoded, path=path)
    claims = Claims.from_decoded(decoded, token, path=path)
    _check_hash(claims, actual_hash, path)
    _check_parties(claims, path)
    verify_signature(decoded, path=path)
    if trusted_issuers is not None and claims.issuer not in trusted_issuers:
        raise UntrustedIssuer(
            f"the issuer {claims.issuer} is not one of the host's trusted accounts; add it to "
            "the trusted issuers, or re-sign the module with a trusted account key",
            path=path,
        )
    check_time_window(decoded.claims, now=now, path=path)
    return claims


@dataclass(frozen=True)
class Inspection:
    """What ``wascc claims inspect`` shows: the claims and the outcome of each check."""

    claims: Claims
    module_hash: str  # the module's actual hash
    hash_valid: bool
    signature_valid: bool
    usable: bool  # inside the time window now
    problems: tuple[str, ...]  # one message per failed check (header, hash, keys, signature)

    @property
    def valid(self) -> bool:
        """True if the host would accept the module, apart from its time window."""
        return not self.problems


def inspect_module(
    module: ModuleBytes, path: str | None = None, *, now: float | None = None
) -> Inspection:
    """Read a module's claims and run every check, collecting failures instead of raising.

    Raises only when there are no claims to show: ``NotAModule``, ``TokenMissing``,
    ``TokenMalformed`` (``AmbiguousClaims`` for a module with several tokens).
    """
    decoded, token, actual_hash = _read(module, path)
    claims = Claims.from_decoded(decoded, token, path=path)
    problems: list[str] = []
    outcomes: list[bool] = []
    checks: tuple[Callable[[], None], ...] = (
        lambda: check_header(decoded, path=path),
        lambda: _check_hash(claims, actual_hash, path),
        lambda: _check_parties(claims, path),
        lambda: verify_signature(decoded, path=path),
    )
    for check in checks:
        try:
            check()
        except ClaimsError as exc:
            problems.append(str(exc))
            outcomes.append(False)
        else:
            outcomes.append(True)
    _, hash_valid, _, signature_valid = outcomes
    return Inspection(
        claims=claims,
        module_hash=actual_hash,
        hash_valid=hash_valid,
        signature_valid=signature_valid,
        usable=claims.is_usable_at(now),
        problems=tuple(problems),
    )
