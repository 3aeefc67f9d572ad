"""Keys (nkeys), signed-module claims (wascap JWT) and the keygen CLI.

The lowest layer of wascc-py: it knows nothing of the host. ``keys.suggest`` (the
did-you-mean for names people type) lives here so that every layer shares one rule. The CLI
groups live in ``keys.cli`` (not re-exported here, so that importing ``keys`` does not import
click).
"""

from __future__ import annotations

from wascc.keys.claims import (
    WASMCLOUD_CAPABILITIES,
    WELL_KNOWN_CAPABILITIES,
    Claims,
    Duration,
    Inspection,
    inspect_module,
    sign_module,
    validate_module,
)
from wascc.keys.errors import (
    AmbiguousClaims,
    BadHeader,
    BadSignature,
    ClaimsError,
    HashMismatch,
    InvalidIssuerOrSubject,
    KeyError_,
    KeyStoreError,
    NotAModule,
    TokenExpired,
    TokenMalformed,
    TokenMissing,
    TokenNotYetValid,
    UntrustedIssuer,
    WasccError,
    WrongKeyKind,
)
from wascc.keys.jwt import DecodedToken, decode_token, encode_token, verify_token
from wascc.keys.nkeys import (
    KEY_KINDS,
    KeyKind,
    KeyPair,
    decode_public_key,
    decode_seed,
    is_public_key,
    verify,
)
from wascc.keys.store import SavedKey, keys_dir, list_keys, load_key, load_or_create, save_key
from wascc.keys.wasm import ModuleBytes, embed_token, exports, find_token, module_hash, strip_token

__all__ = [
    "KEY_KINDS",
    "WASMCLOUD_CAPABILITIES",
    "WELL_KNOWN_CAPABILITIES",
    "AmbiguousClaims",
    "BadHeader",
    "BadSignature",
    "Claims",
    "ClaimsError",
    "DecodedToken",
    "Duration",
    "HashMismatch",
    "Inspection",
    "InvalidIssuerOrSubject",
    "KeyError_",
    "KeyKind",
    "KeyPair",
    "KeyStoreError",
    "ModuleBytes",
    "NotAModule",
    "SavedKey",
    "TokenExpired",
    "TokenMalformed",
    "TokenMissing",
    "TokenNotYetValid",
    "UntrustedIssuer",
    "WasccError",
    "WrongKeyKind",
    "decode_public_key",
    "decode_seed",
    "decode_token",
    "embed_token",
    "encode_token",
    "exports",
    "find_token",
    "inspect_module",
    "is_public_key",
    "keys_dir",
    "list_keys",
    "load_key",
    "load_or_create",
    "module_hash",
    "save_key",
    "sign_module",
    "strip_token",
    "validate_module",
    "verify",
    "verify_token",
]
