"""Errors of the key and signed-module layer, and the root of the project's exception tree.

The whole tree (host/errors.py adds the runtime branches)::

    WasccError
    ├── KeyError_                 a key or seed string is malformed (checksum, prefix, length)
    │   ├── WrongKeyKind          a valid key of the wrong kind (a module seed given as issuer)
    │   └── KeyStoreError         the keys directory or a .nk file cannot be read or written
    ├── ClaimsError               a module's signature or claims do not check out (.path)
    │   ├── NotAModule            not a wasm module, or truncated
    │   ├── TokenMissing          no jwt / wasmcloud_jwt custom section
    │   ├── TokenMalformed        not three base64url segments of JSON, or a bad claim
    │   │   └── AmbiguousClaims   more than one jwt / wasmcloud_jwt section: which token holds?
    │   ├── BadHeader             typ/alg are not jwt/Ed25519
    │   ├── HashMismatch          the module was changed after signing
    │   ├── BadSignature          the token was not signed by its issuer
    │   ├── TokenExpired
    │   ├── TokenNotYetValid
    │   ├── InvalidIssuerOrSubject
    │   └── UntrustedIssuer
    └── (host/errors.py) AuthorizationError, InvocationError, HostError, ProviderError, ...

``keys`` is the lowest layer: it knows nothing of the host, so the root lives here.
Messages never contain a seed.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousClaims",
    "BadHeader",
    "BadSignature",
    "ClaimsError",
    "HashMismatch",
    "InvalidIssuerOrSubject",
    "KeyError_",
    "KeyStoreError",
    "NotAModule",
    "TokenExpired",
    "TokenMalformed",
    "TokenMissing",
    "TokenNotYetValid",
    "UntrustedIssuer",
    "WasccError",
    "WrongKeyKind",
]


class WasccError(Exception):
    """Root of every error this project raises on purpose.

    ``invocation_id`` is set by the host on errors raised out of an invocation, so a log
    line or an HTTP error body can name the call that failed.
    """

    invocation_id: str | None = None


class KeyError_(WasccError):  # `KeyError` is a builtin; the underscore keeps the two apart
    """A key or seed string is malformed: bad base32, bad checksum, unknown prefix, bad length."""


class WrongKeyKind(KeyError_):
    """A well-formed key of a kind that is not accepted here."""


class KeyStoreError(KeyError_):
    """The keys directory or a saved ``.nk`` file cannot be read or written, or is not there."""


class ClaimsError(WasccError):
    """A module's token or claims failed a check. ``path`` names the file when known."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(f"{where}{message}")


class NotAModule(ClaimsError):
    """The bytes are not a WebAssembly module, or the module is truncated."""


class TokenMissing(ClaimsError):
    """The module carries no ``jwt`` (or ``wasmcloud_jwt``) custom section: it is not signed."""


class TokenMalformed(ClaimsError):
    """The token is not three base64url segments holding JSON claims with a ``wascap`` object,
    or a claim in it has the wrong type or an impossible value (a date past the year 9999)."""


class AmbiguousClaims(TokenMalformed):
    """The module carries more than one ``jwt`` / ``wasmcloud_jwt`` section.

    Which token governs the module would depend on the reader: a second token appended to a
    signed module (from another account, with wider capabilities) must not be able to win.
    Re-signing replaces every such section with one.
    """


class BadHeader(ClaimsError):
    """The token header is not ``{"typ":"jwt","alg":"Ed25519"}``."""


class HashMismatch(ClaimsError):
    """The module's hash differs from the one in its claims: it was changed after signing."""


class BadSignature(ClaimsError):
    """The Ed25519 signature does not verify against the issuer key."""


class TokenExpired(ClaimsError):
    """The token's ``exp`` has passed."""


class TokenNotYetValid(ClaimsError):
    """The token's ``nbf`` lies in the future."""


class InvalidIssuerOrSubject(ClaimsError):
    """``iss`` is not an account key or ``sub`` is not a module (or service) key."""


class UntrustedIssuer(ClaimsError):
    """The issuer is valid but not in the host's list of trusted accounts."""
