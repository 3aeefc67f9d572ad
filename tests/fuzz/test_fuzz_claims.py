"""Fuzz: tokens, signed modules and credentials, the gate every actor, voucher and lattice
token passes.

``keys.jwt.decode_token`` returns a ``DecodedToken`` or raises ``TokenMalformed``;
``verify_token``, ``keys.vouch.read_voucher`` and ``keys.claims.validate_module`` return
their checked result or raise a ``ClaimsError``; ``inspect_module`` returns an
``Inspection`` or raises only ``NotAModule``, ``TokenMissing`` or ``TokenMalformed``;
``keys.creds.load_creds_file`` returns ``UserCredentials`` or raises ``CredentialsError``.
The inputs are arbitrary text and bytes, tokens over arbitrary claims signed by keys of every
kind, a real sample actor whose token section is replaced, damaged or doubled, and
credentials files and paths of every sort.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import module_path
from tests.fuzz.fuzz_support import (
    FUZZ,
    KEYS,
    NOW,
    b64,
    claims_dicts,
    deep_token,
    mutated,
    near,
    raises_only,
    scaled,
    tokens,
)
from wascc.keys.claims import Claims, Inspection, inspect_module, sign_module, validate_module
from wascc.keys.creds import CredentialsError, load_creds_file
from wascc.keys.errors import ClaimsError, NotAModule, TokenMalformed, TokenMissing
from wascc.keys.jwt import MAX_DATE, DecodedToken, decode_token, verify_token
from wascc.keys.nkeys import KeyKind, KeyPair, decode_public_key, verify
from wascc.keys.vouch import Voucher, read_voucher, role_of, vouch
from wascc.keys.wasm import find_token, module_hash, strip_token


@functools.cache
def echo_module() -> bytes:
    """The unsigned sample actor ``echo`` (a real module of a few kB)."""
    return module_path("echo").read_bytes()


@functools.cache
def signed_echo() -> bytes:
    """``echo`` signed the way ``wascc claims sign`` does it."""
    return sign_module(
        echo_module(),
        issuer=KEYS["account"],
        subject=KEYS["module"],
        name="echo",
        caps=["wascc:http_server"],
        now=NOW,
    )


near_genuine_claims = near(
    st.deferred(
        lambda: st.just(
            {
                "jti": "5b3c0f0e-6a43-4d43-9c55-07a1f1f2c1aa",
                "iat": NOW,
                "iss": KEYS["account"].public_key,
                "sub": KEYS["module"].public_key,
                "wascap": {
                    "name": "echo",
                    "hash": module_hash(echo_module()),
                    "caps": ["wascc:http_server"],
                },
            }
        )
    )
)
"""The claims of the sample actor's genuine token, a few replaced (deferred: the actor is
built by a session fixture, after this module is imported)."""

near_genuine_vouchers = near(
    st.just(
        {
            "jti": "0e5c2a51-52b6-4bd4-8e8d-0d64d6a77b7e",
            "iat": NOW,
            "iss": KEYS["account"].public_key,
            "sub": KEYS["server"].public_key,
            "wascc": {"role": "host", "name": "h1"},
        }
    )
)
"""The claims of a genuine voucher for a host, a few replaced."""

any_tokens = tokens(claims_dicts | near_genuine_claims)
DEEP_TOKEN = deep_token(KEYS["account"])


def _check_verified(decoded: DecodedToken, kinds: tuple[KeyKind, ...] | None) -> None:
    """A token verify_token returns was signed by its issuer, of one of ``kinds``."""
    issuer = decoded.claims["iss"]
    assert verify(issuer, decoded.signing_input, decoded.signature)
    if kinds is not None:
        assert decode_public_key(issuer)[0] in kinds
    for claim in ("exp", "nbf", "iat"):
        value = decoded.claims.get(claim)
        assert value is None or (type(value) in (int, float) and 0 <= value <= MAX_DATE)


@settings(FUZZ, max_examples=scaled(100))
@given(token=st.text(max_size=120) | any_tokens)
@example(token=DEEP_TOKEN)  # the bomb that found RecursionError escaping (keys/jwt.py)
@example(token=f"{b64(b'{' * 3)}.{b64(b'{}')}.{b64(bytes(64))}")
@example(token="..")
def test_decode_token(token: str) -> None:
    """Any text decodes to two JSON objects and a 64-byte signature, or raises
    TokenMalformed."""
    decoded, _ = raises_only(lambda: decode_token(token), TokenMalformed)
    if decoded is not None:
        assert isinstance(decoded.header, dict)
        assert isinstance(decoded.claims, dict)
        assert len(decoded.signature) == 64


@settings(FUZZ, max_examples=scaled(150))
@given(
    token=any_tokens,
    kinds=st.none() | st.sampled_from([("server",), ("account",), ("account", "user")]),
)
@example(token=DEEP_TOKEN, kinds=None)
def test_verify_token(token: str, kinds: tuple[KeyKind, ...] | None) -> None:
    """Any token verifies (signed by its issuer, of an allowed kind, dates in range) or
    raises a ClaimsError."""
    decoded, _ = raises_only(lambda: verify_token(token, issuer_kinds=kinds), ClaimsError)
    if decoded is not None:
        _check_verified(decoded, kinds)


@settings(FUZZ, max_examples=scaled(100))
@given(token=st.text(max_size=80) | tokens(near_genuine_vouchers | claims_dicts))
@example(token=DEEP_TOKEN)
@example(token=vouch(KEYS["account"], KEYS["server"].public_key, name="h1"))
def test_read_voucher(token: str) -> None:
    """Any text reads as a voucher of an account for a host or controller key whose kind
    fits its role, or raises a ClaimsError."""
    voucher, _ = raises_only(lambda: read_voucher(token), ClaimsError)
    if voucher is not None:
        assert isinstance(voucher, Voucher)
        assert decode_public_key(voucher.account)[0] == "account"
        assert voucher.role == role_of(decode_public_key(voucher.subject)[0])
        assert voucher.name is None or isinstance(voucher.name, str)
        assert voucher.expires is None or isinstance(voucher.expires, int)


def _section(name: bytes, body: bytes) -> bytes:
    payload = bytes([len(name)]) + name + body
    size, length = bytearray(), len(payload)
    while True:
        byte, length = length & 0x7F, length >> 7
        size.append(byte | (0x80 if length else 0))
        if not length:
            break
    return b"\0" + bytes(size) + payload


@st.composite
def modules(draw: st.DrawFn) -> bytes:
    """The sample actor with token sections whose bodies are tokens over drawn claims,
    damaged tokens of the real signature, or any bytes; and the signed actor damaged."""
    how = draw(st.integers(0, 3))
    if how == 0:
        return draw(mutated(st.just(signed_echo())))
    base = echo_module() if how == 1 else strip_token(signed_echo())
    sections = b""
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from([b"jwt", b"wasmcloud_jwt", b"jwt", b"wasmcloud_jwt", b"JWT"]))
        body = draw(
            any_tokens.map(str.encode)
            | mutated(st.just(str(find_token(signed_echo())).encode()))
            | st.binary(max_size=40)
        )
        sections += _section(name, body)
    return base + sections


def _check_claims(claims: Claims, module: bytes) -> None:
    """Claims validate_module returns match the module and name an account and a module."""
    assert claims.hash.upper() == module_hash(module)
    assert decode_public_key(claims.issuer)[0] == "account"
    assert decode_public_key(claims.subject)[0] in ("module", "service")
    assert all(isinstance(cap, str) for cap in claims.caps)


def _check_module(module: bytes) -> None:
    claims, _ = raises_only(lambda: validate_module(module), ClaimsError)
    if claims is not None:
        _check_claims(claims, module)
    inspection, error = raises_only(
        lambda: inspect_module(module), (NotAModule, TokenMissing, TokenMalformed)
    )
    if inspection is None:
        assert claims is None, error
        return
    assert isinstance(inspection, Inspection)
    if claims is not None:
        assert inspection.valid
        assert inspection.claims == claims


@settings(FUZZ, max_examples=scaled(100))
@given(module=st.binary(max_size=64) | st.binary(max_size=64).map(b"\0asm\x01\0\0\0".__add__))
@example(module=b"\0asm\x01\0\0\0\0\xff\xff\xff\xff\x0f")  # a section announcing 4 GiB
@example(module=b"\0asm\x01\0\0\0\0\x05\x80\x80\x80\x80\x80")  # an over-long name length
@example(module=b"\0asm\x01\0\0\0" + _section(b"jwt", DEEP_TOKEN.encode()))
def test_validate_any_bytes(module: bytes) -> None:
    """Any bytes validate to claims or raise a ClaimsError; inspecting them shows an
    Inspection or raises NotAModule, TokenMissing or TokenMalformed."""
    _check_module(module)


@settings(FUZZ, max_examples=scaled(100))
@given(module=modules())
@example(module=echo_module() + _section(b"jwt", DEEP_TOKEN.encode()))
def test_validate_real_module_with_damaged_tokens(module: bytes) -> None:
    """The sample actor carrying replaced, damaged or doubled token sections validates to
    claims matching the module, or raises a ClaimsError; inspecting it shows an Inspection
    or raises NotAModule, TokenMissing or TokenMalformed."""
    _check_module(module)


_jwts = (
    st.sampled_from(["eyJhIjoxfQ.eyJhIjoxfQ.c2ln", "a.b", ""]) | any_tokens | st.text(max_size=20)
)
_seeds = st.sampled_from([pair.seed for pair in KEYS.values()]) | st.text(max_size=60)
_creds_texts = st.builds(
    "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n"
    "-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n".format,
    _jwts,
    _seeds,
)


@pytest.fixture(scope="module")
def creds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the credentials files of the property below."""
    return tmp_path_factory.mktemp("creds")


@settings(FUZZ, max_examples=scaled(60))
@given(
    content=_creds_texts.map(str.encode)
    | mutated(_creds_texts.map(str.encode))
    | st.binary(max_size=64),
    where=st.sampled_from(["file", "dir", "missing", "~nouser-fuzz/x.creds", "a/\0.creds"]),
)
@example(content=b"", where="~nouser-fuzz/x.creds")  # found: RuntimeError escaped
@example(content=b"", where="a/\0.creds")  # found: ValueError (embedded null byte) escaped
def test_load_creds_file(creds_dir: Path, content: bytes, where: str) -> None:
    """Any file, or any path, given as NATS credentials (a manifest's lattice.credentials,
    a messaging binding's CREDSFILE) reads as a user JWT and seed or raises
    CredentialsError."""
    file = creds_dir / "fuzz.creds"
    file.write_bytes(content)
    path = {"file": file, "dir": creds_dir, "missing": creds_dir / "missing.creds"}.get(where)
    creds, _ = raises_only(lambda: load_creds_file(path or where), CredentialsError)
    if creds is not None:
        assert KeyPair.from_seed(creds.seed).kind == "user"
        assert creds.jwt.count(".") == 2


def test_genuine_module_and_voucher_pass() -> None:
    """The inputs the fuzzing starts from are accepted: it reaches the decoders' success
    paths, not only their refusals."""
    claims = validate_module(signed_echo())
    assert claims.subject == KEYS["module"].public_key
    assert inspect_module(signed_echo()).valid
    token = vouch(KEYS["account"], KEYS["user"].public_key)
    assert read_voucher(token).role == "controller"
