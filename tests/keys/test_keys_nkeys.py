"""The nkeys codec: waSCC's sample keys, round trips for every kind, and every kind of bad input."""

from __future__ import annotations

import base64
import binascii
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wascc.keys.errors import KeyError_, WrongKeyKind
from wascc.keys.nkeys import (
    KEY_KINDS,
    KeyKind,
    KeyPair,
    decode_public_key,
    decode_seed,
    encode_public_key,
    encode_seed,
    is_public_key,
    kind_of_letter,
    letter_of_kind,
    verify,
)

ACCOUNT_SEED = "SAAGJYAKODWV42YVRMUAIQFT6KFYT4R6A2LAS3WCH3BJ3KSBFKQOAU5LEU"
ACCOUNT_PUBLIC = "AAGRUXXTGSP4C27RWPTMCHCJF56JD53EQPA2R7RPC5VI4E274KPRMMJ5"
MODULE_SEED = "SMAFYSVZ5E6UVTZT4JJPWAGMVCXS7ISC3TYCMGHYHSR6TOM3EO4EB7GFJY"
MODULE_PUBLIC = "MB4OLDIC3TCZ4Q4TGGOVAZC43VXFE2JQVRAXQMQFXUCREOOFEKOKZTY2"
LETTERS = {
    "account": "A",
    "cluster": "C",
    "module": "M",
    "server": "N",
    "operator": "O",
    "user": "U",
    "service": "V",
}

kinds = st.sampled_from(KEY_KINDS)
raw32 = st.binary(min_size=32, max_size=32)


def _with_crc(payload: bytes) -> str:
    crc = binascii.crc_hqx(payload, 0).to_bytes(2, "little")
    return base64.b32encode(payload + crc).decode().rstrip("=")


@pytest.mark.parametrize(
    ("seed", "public", "kind"),
    [(ACCOUNT_SEED, ACCOUNT_PUBLIC, "account"), (MODULE_SEED, MODULE_PUBLIC, "module")],
)
def test_spec_vectors(seed: str, public: str, kind: KeyKind) -> None:
    """waSCC's sample seeds give their published public keys, and re-encode identically."""
    pair = KeyPair.from_seed(seed)
    assert pair.public_key == public
    assert pair.kind == kind
    assert pair.seed == seed
    assert decode_public_key(public)[0] == kind


@given(kind=kinds, raw=raw32)
def test_public_key_round_trip(kind: KeyKind, raw: bytes) -> None:
    """Any 32 raw bytes encode to a 56-character key of the kind's letter and decode back."""
    key = encode_public_key(kind, raw)
    assert len(key) == 56
    assert key[0] == LETTERS[kind]
    assert decode_public_key(key) == (kind, raw)
    assert is_public_key(key, kind)


@given(kind=kinds, raw=raw32)
def test_seed_round_trip(kind: KeyKind, raw: bytes) -> None:
    """Any 32-byte seed encodes to 58 characters starting S + letter and decodes back."""
    seed = encode_seed(kind, raw)
    assert len(seed) == 58
    assert seed[:2] == "S" + LETTERS[kind]
    assert decode_seed(seed) == (kind, raw)
    pair = KeyPair.from_seed(seed)
    assert (pair.kind, pair.seed) == (kind, seed)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_generate_every_kind(kind: KeyKind) -> None:
    """Generated pairs carry their kind's letters and survive a trip through their seed."""
    pair = KeyPair.generate(kind)
    assert pair.public_key[0] == letter_of_kind(kind) == LETTERS[kind]
    assert kind_of_letter(LETTERS[kind]) == kind
    assert KeyPair.from_seed(pair.seed) == pair


@given(data=st.binary(max_size=256))
def test_sign_and_verify(data: bytes) -> None:
    """A signature verifies for its key and data only; a bare public key string suffices."""
    pair, other = KeyPair.generate("account"), KeyPair.generate("account")
    signature = pair.sign(data)
    assert len(signature) == 64
    assert verify(pair.public_key, data, signature)
    assert pair.verify(data, signature)
    assert not verify(other.public_key, data, signature)
    assert not verify(pair.public_key, data + b"x", signature)
    assert not verify(pair.public_key, data, signature[:63])


def test_verify_rejects_malformed_key() -> None:
    """A malformed public key is an input error, not a failed verification."""
    with pytest.raises(KeyError_):
        verify("A" * 55 + "B", b"data", bytes(64))


def test_bad_checksum_is_reported_without_the_seed() -> None:
    """A mistyped seed fails with a checksum message that does not echo the seed."""
    broken = ACCOUNT_SEED[:10] + ("B" if ACCOUNT_SEED[10] != "B" else "C") + ACCOUNT_SEED[11:]
    with pytest.raises(KeyError_, match="checksum") as info:
        KeyPair.from_seed(broken)
    assert broken not in str(info.value)
    assert ACCOUNT_SEED[2:20] not in str(info.value)


def test_spare_bits_of_last_character_are_checked() -> None:
    """Changing only the ignored low bits of the last character still counts as a typo."""
    tweaked = ACCOUNT_SEED[:-1] + "V"  # 'U' -> 'V' flips a bit base32 decoding would drop
    with pytest.raises(KeyError_, match="checksum"):
        decode_seed(tweaked)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ACCOUNT_PUBLIC[:-1], "56 characters"),
        (ACCOUNT_PUBLIC.lower(), "base32"),
        (ACCOUNT_PUBLIC[:-1] + "1", "base32"),
        (ACCOUNT_SEED, "looks like a seed"),
        (_with_crc(bytes([8]) + bytes(32)), "unknown type prefix"),  # B is no kind
    ],
)
def test_malformed_public_keys(text: str, message: str) -> None:
    """Wrong length, alphabet, seed-for-key and unknown prefixes each get a clear message."""
    with pytest.raises(KeyError_, match=message):
        decode_public_key(text)
    assert not is_public_key(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ACCOUNT_SEED[:-1], "58 characters"),
        (ACCOUNT_PUBLIC + "AA", "checksum"),
        (_with_crc(bytes([0x90, 8 << 3]) + bytes(32)), "unknown key type"),
        (_with_crc(bytes([0x00, 0]) + bytes(32)), "does not start with S"),
    ],
)
def test_malformed_seeds(text: str, message: str) -> None:
    """Seeds of the wrong length, prefix or kind are refused."""
    with pytest.raises(KeyError_, match=message):
        decode_seed(text)


@given(text=st.text(max_size=70))
def test_decoding_never_fails_unexpectedly(text: str) -> None:
    """Arbitrary strings either decode or raise KeyError_, nothing else."""
    for decode in (decode_public_key, decode_seed):
        with contextlib.suppress(KeyError_):
            decode(text)


def test_is_public_key_checks_kind() -> None:
    """`is_public_key` checks the kind only when asked, and accepts only strings."""
    assert is_public_key(MODULE_PUBLIC)
    assert is_public_key(MODULE_PUBLIC, "module")
    assert not is_public_key(MODULE_PUBLIC, "account")
    assert not is_public_key(None)


def test_repr_hides_the_seed() -> None:
    """A key pair's repr shows kind and public key but never the seed."""
    pair = KeyPair.from_seed(ACCOUNT_SEED)
    assert ACCOUNT_PUBLIC in repr(pair)
    assert ACCOUNT_SEED not in repr(pair)


def test_unknown_kind_is_refused() -> None:
    """Generating an unknown kind raises WrongKeyKind naming the accepted ones."""
    with pytest.raises(WrongKeyKind, match="account"):
        KeyPair.generate("bogus")  # type: ignore[arg-type]
    with pytest.raises(KeyError_, match="32 bytes"):
        encode_public_key("account", b"short")
