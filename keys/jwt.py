"""Ed25519 JWTs as waSCC writes them: the wascap token of a signed module, and any other token.

A token is ``b64(header) "." b64(claims) "." b64(signature)`` with the URL-safe base64 alphabet
and no padding. The header is always ``{"typ":"jwt","alg":"Ed25519"}``; the signature is by the
issuer (``iss``) over the ASCII of the first two segments exactly as received, so verification
never re-serializes JSON (key order and spacing of other tools' tokens would not survive it).

This module knows nothing of wasm: ``keys.claims`` builds the module token on top of it, and the
lattice uses :func:`encode_token` / :func:`verify_token` for its invocation tokens (``N…`` key).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Collection, Mapping
from typing import Any, Final, NamedTuple

from wascc.keys.errors import (
    BadHeader,
    BadSignature,
    InvalidIssuerOrSubject,
    KeyError_,
    TokenExpired,
    TokenMalformed,
    TokenNotYetValid,
)
from wascc.keys.nkeys import KeyKind, KeyPair, decode_public_key, verify

__all__ = [
    "HEADER",
    "MAX_DATE",
    "DecodedToken",
    "b64url_decode",
    "b64url_encode",
    "check_header",
    "check_time_window",
    "date_claim",
    "decode_token",
    "encode_token",
    "format_date",
    "verify_signature",
    "verify_token",
]

HEADER: Final[Mapping[str, str]] = {"typ": "jwt", "alg": "Ed25519"}
_HEADER_SEGMENT: Final = base64.urlsafe_b64encode(
    json.dumps(dict(HEADER), separators=(",", ":")).encode()
).rstrip(b"=")
_URL_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_RESIGN: Final = "re-sign it with `wascc claims sign`"
_SHOWN: Final = 40  # longest claim value an error message repeats

MAX_DATE: Final = 253_402_300_799  # 9999-12-31 23:59:59 UTC, the last second a date may name


class DecodedToken(NamedTuple):
    """A token split into its parts; unpacks as ``header, claims, signing_input, signature``."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes  # ASCII of "b64(header).b64(claims)" as received: what was signed
    signature: bytes


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding, as JWT segments use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict inverse of :func:`b64url_encode`; raise ``ValueError`` on any other character."""
    # binascii's strict mode refuses characters outside the standard alphabet; the URL-safe
    # one is mapped onto it, so "+", "/" and "=" must be refused first. (This runs for every
    # lattice invocation: a regex plus base64.urlsafe_b64decode cost three times as much.)
    try:
        raw = segment.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64url") from None
    if len(raw) % 4 == 1 or b"+" in raw or b"/" in raw or b"=" in raw:
        raise ValueError("not base64url")
    try:
        return binascii.a2b_base64(
            raw.translate(_URL_TO_STANDARD) + b"=" * (-len(raw) % 4), strict_mode=True
        )
    except binascii.Error:
        raise ValueError("not base64url") from None


def _json(data: Mapping[str, Any]) -> bytes:
    # Compact like serde_json; non-ASCII stays UTF-8 rather than \u escapes, as Rust writes it.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_token(claims: Mapping[str, Any], signer: KeyPair) -> str:
    """Sign ``claims`` (written in their mapping order) with ``signer`` and return the token."""
    signing_input = _HEADER_SEGMENT + b"." + base64.urlsafe_b64encode(_json(claims)).rstrip(b"=")
    return f"{signing_input.decode('ascii')}.{b64url_encode(signer.sign(signing_input))}"


def _segment_json(segment: str, what: str, path: str | None) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise TokenMalformed(
            f"the token's {what} is not base64url-encoded JSON; {_RESIGN}", path=path
        ) from None
    except RecursionError:  # json gives up on arrays or objects nested ~1000 deep
        raise TokenMalformed(
            f"the token's {what} nests arrays or objects too deeply to read; {_RESIGN}",
            path=path,
        ) from None
    if not isinstance(value, dict):
        raise TokenMalformed(f"the token's {what} is not a JSON object; {_RESIGN}", path=path)
    return value


def decode_token(token: str, *, path: str | None = None) -> DecodedToken:
    """Split and decode ``token`` without checking anything but its shape.

    Raises ``TokenMalformed`` unless it is three base64url segments, the first two JSON objects
    and the third a 64-byte signature. ``path`` only labels error messages.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise TokenMalformed(
            f"the token has {len(segments)} segment(s), a JWT has 3; {_RESIGN}", path=path
        )
    header = _segment_json(segments[0], "header", path)
    claims = _segment_json(segments[1], "claims", path)
    try:
        signature = b64url_decode(segments[2])
    except ValueError:
        raise TokenMalformed(
            f"the token's signature is not base64url; {_RESIGN}", path=path
        ) from None
    if len(signature) != 64:
        raise TokenMalformed(
            f"the token's signature is {len(signature)} bytes, Ed25519 signatures are 64; "
            f"{_RESIGN}",
            path=path,
        )
    signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
    return DecodedToken(header, claims, signing_input, signature)


def check_header(decoded: DecodedToken, *, path: str | None = None) -> None:
    """Raise ``BadHeader`` unless the header says ``typ`` jwt and ``alg`` Ed25519."""
    typ, alg = decoded.header.get("typ"), decoded.header.get("alg")
    if typ != HEADER["typ"] or alg != HEADER["alg"]:
        raise BadHeader(
            f"the token header has typ {typ!r} and alg {alg!r}, expected 'jwt' and 'Ed25519' "
            f"(a token from another tool?); {_RESIGN}",
            path=path,
        )


def verify_signature(decoded: DecodedToken, *, path: str | None = None) -> None:
    """Raise ``BadSignature`` unless the token was signed by the key in its ``iss`` claim.

    A missing or malformed ``iss`` raises ``InvalidIssuerOrSubject``.
    """
    issuer = decoded.claims.get("iss")
    try:
        if not isinstance(issuer, str):
            raise KeyError_("it is missing")
        valid = verify(issuer, decoded.signing_input, decoded.signature)
    except KeyError_ as exc:
        raise InvalidIssuerOrSubject(
            f"the token's issuer (iss) is not a valid public key: {exc}; {_RESIGN}", path=path
        ) from None
    if not valid:
        raise BadSignature(
            f"the token's signature does not verify against its issuer {issuer}: the token was "
            f"altered or signed by another key; {_RESIGN}",
            path=path,
        )


def _shown(value: object) -> str:
    """``value`` as the token spells it, cut short: a claim may be as long as the token."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON, or an int past str()'s 4300-digit limit
        text = "a number too long to write out" if isinstance(value, int) else repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 1]}…"


def date_claim(
    claims: Mapping[str, Any], key: str, *, whole: bool = False, path: str | None = None
) -> int | float | None:
    """The date claim ``key`` (``exp``, ``iat``, ``nbf``) in seconds since 1970; None if absent.

    A date is a number of seconds from 0 to :data:`MAX_DATE`, the last second of the year 9999,
    and a whole one when ``whole`` (module tokens carry u64 seconds). Anything else raises
    ``TokenMalformed`` naming the claim: a string, a bool, a negative or gigantic number, inf or
    nan cannot be compared or printed as a date, and no honest signer writes one.
    """
    value = claims.get(key)
    if value is None:
        return None
    # bool is an int subclass, and `"exp": true` is a broken token, not the date 1970-01-01.
    # The range test also refuses inf and nan (nan compares false to everything).
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (whole and isinstance(value, float))
        and 0 <= value <= MAX_DATE
    ):
        return value
    number = "a whole number" if whole else "a number"
    raise TokenMalformed(
        f"the claim {key!r} is {_shown(value)}, not a date a token can carry ({number} of "
        f"seconds from 0 to {MAX_DATE}, the end of year 9999); {_RESIGN}",
        path=path,
    )


def format_date(seconds: float) -> str:
    """``seconds`` since 1970 as ``YYYY-MM-DD HH:MM:SS UTC``, for messages; never raises.

    A value the platform cannot turn into a calendar date (out of range, inf, nan) is shown as a
    number instead: reporting a broken date must not fail in its turn.
    """
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
    except (OverflowError, OSError, TypeError, ValueError):
        return f"{_shown(seconds)} (not a calendar date)"


def check_time_window(
    claims: Mapping[str, Any], *, now: float | None = None, path: str | None = None
) -> None:
    """Raise ``TokenExpired`` once ``exp`` is reached, ``TokenNotYetValid`` before ``nbf``.

    Boundaries follow RFC 7519: usable from ``nbf`` inclusive until ``exp`` exclusive. Each of
    ``exp``, ``iat`` and ``nbf`` may be absent; one that is no date (see :func:`date_claim`)
    raises ``TokenMalformed``.
    """
    current = time.time() if now is None else now
    expires = date_claim(claims, "exp", path=path)
    date_claim(claims, "iat", path=path)  # not compared, but a broken date is a broken token
    not_before = date_claim(claims, "nbf", path=path)
    if expires is not None and current >= expires:
        raise TokenExpired(
            f"the token expired at {format_date(expires)}; re-sign it with a later --expires-in",
            path=path,
        )
    if not_before is not None and current < not_before:
        raise TokenNotYetValid(
            f"the token is not valid before {format_date(not_before)}; wait, or re-sign it without "
            "--not-before-in",
            path=path,
        )


def verify_token(
    token: str,
    *,
    issuer_kinds: Collection[KeyKind] | None = None,
    now: float | None = None,
    path: str | None = None,
) -> DecodedToken:
    """Decode ``token`` and check header, issuer kind, signature and time window.

    This is the whole check for tokens that cover no module (the lattice's invocation tokens);
    ``keys.claims.validate_module`` adds the module hash and subject checks.
    """
    decoded = decode_token(token, path=path)
    check_header(decoded, path=path)
    issuer = decoded.claims.get("iss")
    if issuer_kinds is not None and isinstance(issuer, str):
        try:
            kind, _ = decode_public_key(issuer)
        except KeyError_:
            kind = None  # verify_signature reports the malformed key
        if kind is not None and kind not in issuer_kinds:
            raise InvalidIssuerOrSubject(
                f"the token's issuer is a {kind} key, expected {' or '.join(issuer_kinds)}",
                path=path,
            )
    verify_signature(decoded, path=path)
    check_time_window(decoded.claims, now=now, path=path)
    return decoded
