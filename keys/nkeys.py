"""nkeys: the text encoding of the Ed25519 keys that name accounts, actors, hosts and providers.

A public key is ``base32(prefix + ed25519_public + crc16)`` (56 characters); a seed is
``base32(seed_prefix(prefix) + ed25519_seed + crc16)`` (58 characters, ``SA…``, ``SM…``). The
first letter of a public key tells its kind: ``A`` account, ``M`` module (actor), ``N`` server
(host), ``V`` service (provider), and so on.

We carry our own codec on PyNaCl because the PyPI ``nkeys`` package refuses ``M`` and ``V`` keys,
which are exactly the ones a waSCC host deals with most.

Error messages never echo the input: a string handed to the wrong function may be a seed.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final, Literal, get_args

import nacl.exceptions
import nacl.signing

from wascc.keys.errors import KeyError_, WrongKeyKind

__all__ = [
    "KEY_KINDS",
    "KeyKind",
    "KeyPair",
    "decode_public_key",
    "decode_seed",
    "encode_public_key",
    "encode_seed",
    "is_public_key",
    "kind_of_letter",
    "letter_of_kind",
    "verify",
    "with_article",
]

KeyKind = Literal["account", "cluster", "module", "server", "operator", "user", "service"]
KEY_KINDS: Final[tuple[KeyKind, ...]] = get_args(KeyKind)

# Prefix byte = index of the letter in the base32 alphabet times 8, so that the first base32
# character of the encoded key is that letter.
_PREFIXES: Final[dict[KeyKind, int]] = {
    "account": 0,  # A
    "cluster": 16,  # C
    "module": 96,  # M
    "server": 104,  # N
    "operator": 112,  # O
    "user": 160,  # U
    "service": 168,  # V
}
_KINDS_BY_PREFIX: Final[dict[int, KeyKind]] = {v: k for k, v in _PREFIXES.items()}
_SEED_PREFIX: Final = 144  # S
_BASE32: Final = re.compile(r"[A-Z2-7]+")

_RAW_KEY_LEN: Final = 32
_PUBLIC_LEN: Final = 56  # 1 prefix + 32 key + 2 crc = 35 bytes = 56 base32 characters
_SEED_LEN: Final = 58  # 2 prefix + 32 seed + 2 crc = 36 bytes = 58 base32 characters


def letter_of_kind(kind: KeyKind) -> str:
    """The first letter of a public key of ``kind`` (``"account"`` → ``"A"``)."""
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[_PREFIXES[kind] >> 3]


def with_article(kind: str) -> str:
    """``"an account"``, ``"a module"``: for messages that name a key kind."""
    return f"{'an' if kind[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {kind}"


def kind_of_letter(letter: str) -> KeyKind | None:
    """The key kind a public key starting with ``letter`` has, or None if no kind uses it."""
    for kind in KEY_KINDS:
        if letter_of_kind(kind) == letter:
            return kind
    return None


def _crc16(data: bytes) -> bytes:
    # CRC-16/XMODEM is CRC-CCITT with init 0; binascii.crc_hqx computes exactly that, in C.
    return binascii.crc_hqx(data, 0).to_bytes(2, "little")


def _b32decode(text: str, what: str) -> bytes:
    """Checked base32 decoding of an nkey body (no padding in the text)."""
    if _BASE32.fullmatch(text) is None:
        raise KeyError_(f"{what} is not valid: nkeys are upper-case base32 (A-Z, 2-7)")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise KeyError_(f"{what} is not valid base32 (A-Z, 2-7)") from None
    # The last character carries spare bits that decoding ignores; a key that differs there
    # is still a mistyped key, so insist on the one canonical spelling.
    if base64.b32encode(raw).decode("ascii").rstrip("=") != text:
        raise KeyError_(f"{what} has a bad checksum: it was mistyped or truncated")
    return raw


def _checked_payload(text: str, expected_len: int, what: str) -> bytes:
    """Decode ``text``, verify its length and checksum, and return it without the checksum."""
    if not isinstance(text, str):
        raise KeyError_(f"{what} must be a string, got {type(text).__name__}")
    if len(text) != expected_len:
        raise KeyError_(f"{what} must be {expected_len} characters long, got {len(text)}")
    raw = _b32decode(text, what)
    payload, crc = raw[:-2], raw[-2:]
    if _crc16(payload) != crc:
        raise KeyError_(f"{what} has a bad checksum: it was mistyped or truncated")
    return payload


def encode_public_key(kind: KeyKind, raw: bytes) -> str:
    """Encode a raw 32-byte Ed25519 public key as an nkey of ``kind``."""
    if len(raw) != _RAW_KEY_LEN:
        raise KeyError_(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    payload = bytes([_PREFIXES[kind]]) + raw
    return base64.b32encode(payload + _crc16(payload)).decode("ascii").rstrip("=")


def encode_seed(kind: KeyKind, raw: bytes) -> str:
    """Encode a raw 32-byte Ed25519 seed as an nkey seed of ``kind`` (``S`` + kind letter)."""
    if len(raw) != _RAW_KEY_LEN:
        raise KeyError_(f"an Ed25519 seed is 32 bytes, got {len(raw)}")
    prefix = _PREFIXES[kind]
    # Two prefix bytes: the 5 bits of `S` followed by the 5 bits of the kind letter.
    head = bytes([_SEED_PREFIX | (prefix >> 5), (prefix & 31) << 3])
    payload = head + raw
    return base64.b32encode(payload + _crc16(payload)).decode("ascii").rstrip("=")


def decode_public_key(key: str) -> tuple[KeyKind, bytes]:
    """Return ``(kind, raw 32-byte key)`` of a public nkey; raise ``KeyError_`` if malformed."""
    if isinstance(key, str) and key.startswith("S") and len(key) == _SEED_LEN:
        raise KeyError_("expected a public key, got what looks like a seed (starts with S)")
    payload = _checked_payload(key, _PUBLIC_LEN, "public key")
    kind = _KINDS_BY_PREFIX.get(payload[0])
    if kind is None:
        raise KeyError_(f"public key has an unknown type prefix {key[0]!r}")
    return kind, payload[1:]


def decode_seed(seed: str) -> tuple[KeyKind, bytes]:
    """Return ``(kind, raw 32-byte seed)`` of an nkey seed; raise ``KeyError_`` if malformed."""
    payload = _checked_payload(seed, _SEED_LEN, "seed")
    if payload[0] & 0xF8 != _SEED_PREFIX:
        raise KeyError_("seed does not start with S: not an nkey seed")
    prefix = ((payload[0] & 0x07) << 5) | (payload[1] >> 3)
    kind = _KINDS_BY_PREFIX.get(prefix)
    if kind is None or payload[1] & 0x07:
        raise KeyError_("seed has an unknown key type (second letter)")
    return kind, payload[2:]


def is_public_key(key: object, kind: KeyKind | None = None) -> bool:
    """True if ``key`` is a well-formed public nkey (of ``kind``, when given)."""
    if not isinstance(key, str):
        return False
    try:
        actual, _ = decode_public_key(key)
    except KeyError_:
        return False
    return kind is None or actual == kind


def verify(public_key: str, data: bytes, signature: bytes) -> bool:
    """True if ``signature`` is the Ed25519 signature of ``data`` by ``public_key``.

    A malformed ``public_key`` raises ``KeyError_`` (a caller bug or bad input, not a forgery);
    a signature that does not verify, including one of the wrong length, returns False.
    """
    _, raw = decode_public_key(public_key)
    try:
        nacl.signing.VerifyKey(raw).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


class KeyPair:
    """An Ed25519 key pair of one kind: signs, and knows its public key and seed.

    ``repr()`` shows the kind and public key only, so a key pair in a log or traceback does not
    leak its seed.
    """

    __slots__ = ("_kind", "_public_key", "_signing_key")

    def __init__(self, kind: KeyKind, raw_seed: bytes) -> None:
        if kind not in _PREFIXES:
            raise WrongKeyKind(f"unknown key kind {kind!r}; use one of {', '.join(KEY_KINDS)}")
        if len(raw_seed) != _RAW_KEY_LEN:
            raise KeyError_(f"an Ed25519 seed is 32 bytes, got {len(raw_seed)}")
        self._kind: KeyKind = kind
        self._signing_key = nacl.signing.SigningKey(raw_seed)
        self._public_key = encode_public_key(kind, bytes(self._signing_key.verify_key))

    @classmethod
    def generate(cls, kind: KeyKind) -> KeyPair:
        """A new random key pair of ``kind`` (from the OS random source, through libsodium)."""
        if kind not in _PREFIXES:
            raise WrongKeyKind(f"unknown key kind {kind!r}; use one of {', '.join(KEY_KINDS)}")
        return cls(kind, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: str) -> KeyPair:
        """The key pair an encoded seed (``SA…``, ``SM…``, …) stands for; its kind comes along."""
        kind, raw = decode_seed(seed)
        return cls(kind, raw)

    @property
    def kind(self) -> KeyKind:
        """What the key names: ``"account"``, ``"module"``, ``"server"``, …"""
        return self._kind

    @property
    def public_key(self) -> str:
        """The 56-character public nkey, safe to show and share."""
        return self._public_key

    @property
    def seed(self) -> str:
        """The 58-character encoded seed. It is the private key: never log or display it."""
        return encode_seed(self._kind, bytes(self._signing_key))

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return bytes(self._signing_key.sign(data).signature)

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's signature of ``data``."""
        return verify(self._public_key, data, signature)

    def __repr__(self) -> str:
        return f"KeyPair(kind={self._kind!r}, public_key={self._public_key!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyPair):
            return NotImplemented
        return self._public_key == other._public_key

    def __hash__(self) -> int:
        return hash(self._public_key)
