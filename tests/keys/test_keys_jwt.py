"""Ed25519 JWTs: exact encoding, verification over received bytes, and every failure."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wascc.keys.errors import (
    BadHeader,
    BadSignature,
    InvalidIssuerOrSubject,
    TokenExpired,
    TokenMalformed,
    TokenNotYetValid,
)
from wascc.keys.jwt import (
    MAX_DATE,
    b64url_decode,
    b64url_encode,
    check_time_window,
    decode_token,
    encode_token,
    format_date,
    verify_token,
)
from wascc.keys.nkeys import KeyKind, KeyPair

SERVER = KeyPair.generate("server")
SERVER_ONLY: tuple[KeyKind, ...] = ("server",)
ACCOUNT = KeyPair.generate("account")


def _seg(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hand_made(header: bytes, claims: bytes, signer: KeyPair) -> str:
    signing_input = f"{_seg(header)}.{_seg(claims)}"
    return f"{signing_input}.{_seg(signer.sign(signing_input.encode()))}"


def test_header_and_claims_are_compact_and_ordered() -> None:
    """The header is docs/abi.md's byte for byte, and claims keep their order in compact JSON."""
    claims = {"jti": "x", "iat": 1, "iss": ACCOUNT.public_key, "wascap": {"hash": "AB"}}
    header_seg, claims_seg, sig_seg = encode_token(claims, ACCOUNT).split(".")
    assert b64url_decode(header_seg) == b'{"typ":"jwt","alg":"Ed25519"}'
    expected = f'{{"jti":"x","iat":1,"iss":"{ACCOUNT.public_key}","wascap":{{"hash":"AB"}}}}'
    assert b64url_decode(claims_seg) == expected.encode()
    assert "=" not in header_seg + claims_seg + sig_seg


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


free_names = st.text(max_size=10).filter(lambda name: name not in {"exp", "iat", "nbf", "iss"})


@given(extra=st.dictionaries(free_names, json_values, max_size=6))
def test_round_trip(extra: dict[str, Any]) -> None:
    """Any JSON claims signed by a server key verify and decode to the same claims."""
    claims = {**extra, "iss": SERVER.public_key}
    decoded = verify_token(encode_token(claims, SERVER), issuer_kinds=SERVER_ONLY)
    assert decoded.claims == claims
    header, decoded_claims, signing_input, signature = decoded  # also a plain 4-tuple
    assert header == {"typ": "jwt", "alg": "Ed25519"}
    assert SERVER.verify(signing_input, signature)
    assert decoded_claims == claims


@given(data=st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    """Segments are URL-safe base64 without padding and decode back exactly."""
    text = b64url_encode(data)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text", ["a+b/", "ab==", "abcde", "a b", "ab=c", "abc\n", "ab\u00e9c", "a/bc", "ab+c"]
)
def test_b64url_is_strict(text: str) -> None:
    """Standard-alphabet characters, padding and impossible lengths are refused."""
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_signature_covers_segments_as_received() -> None:
    """A token from another tool with spaced JSON verifies: nothing is re-serialized."""
    claims = json.dumps({"iss": ACCOUNT.public_key, "sub": "x"}, indent=1).encode()
    token = _hand_made(b'{ "typ": "jwt", "alg": "Ed25519" }', claims, ACCOUNT)
    assert verify_token(token).claims["sub"] == "x"


def test_tampered_claims_fail_the_signature() -> None:
    """Changing the claims segment after signing raises BadSignature naming the issuer."""
    token = encode_token({"iss": ACCOUNT.public_key, "n": 1}, ACCOUNT)
    header, _, signature = token.split(".")
    forged = f"{header}.{_seg(json.dumps({'iss': ACCOUNT.public_key, 'n': 2}).encode())}"
    with pytest.raises(BadSignature, match=ACCOUNT.public_key):
        verify_token(f"{forged}.{signature}")


def test_wrong_header_is_refused() -> None:
    """A header with another algorithm raises BadHeader even with a valid signature."""
    token = _hand_made(b'{"typ":"jwt","alg":"HS256"}', b'{"iss":"x"}', ACCOUNT)
    with pytest.raises(BadHeader, match="HS256"):
        verify_token(token, path="a.wasm")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc.def", "2 segment"),
        ("a.b.c.d", "4 segment"),
        ("!!!.e30.AAAA", "header is not base64url"),
        (f"{_seg(b'[1]')}.e30.AAAA", "header is not a JSON object"),
        (f"e30.{_seg(b'not json')}.AAAA", "claims is not base64url-encoded JSON"),
        ("e30.e30.AAAA", "signature is 3 bytes"),
        ("e30.e30.a+b/", "signature is not base64url"),
    ],
)
def test_malformed_tokens(token: str, message: str) -> None:
    """Shape errors raise TokenMalformed with the file name and the fix."""
    with pytest.raises(TokenMalformed, match=message) as info:
        decode_token(token, path="x.wasm")
    assert str(info.value).startswith("x.wasm: ")
    assert "wascc claims sign" in str(info.value)


def test_issuer_kind_is_checked() -> None:
    """A lattice token must come from a server key; an account-signed one is refused."""
    token = encode_token({"iss": ACCOUNT.public_key}, ACCOUNT)
    with pytest.raises(InvalidIssuerOrSubject, match="account key, expected server"):
        verify_token(token, issuer_kinds=SERVER_ONLY)


@pytest.mark.parametrize("issuer", [None, 42, "not-a-key"])
def test_missing_or_bad_issuer(issuer: object) -> None:
    """Without a decodable `iss` the signature cannot be checked: InvalidIssuerOrSubject."""
    token = encode_token({"iss": issuer}, ACCOUNT)
    with pytest.raises(InvalidIssuerOrSubject, match="issuer"):
        verify_token(token)


def test_time_window_boundaries() -> None:
    """Usable from nbf inclusive until exp exclusive (RFC 7519)."""
    token = encode_token({"iss": ACCOUNT.public_key, "nbf": 100, "exp": 200}, ACCOUNT)
    verify_token(token, now=100)
    verify_token(token, now=199.9)
    with pytest.raises(TokenNotYetValid, match="not valid before 1970-01-01 00:01:40 UTC"):
        verify_token(token, now=99)
    with pytest.raises(TokenExpired, match="expired at 1970-01-01 00:03:20 UTC"):
        verify_token(token, now=200)


@pytest.mark.parametrize("value", ["soon", True, [1]])
def test_non_numeric_dates_are_malformed(value: object) -> None:
    """An `exp` that is not a number is a malformed token, not a date."""
    token = encode_token({"iss": ACCOUNT.public_key, "exp": value}, ACCOUNT)
    with pytest.raises(TokenMalformed, match="exp"):
        verify_token(token)


IMPOSSIBLE_DATES = [
    10**30,
    -(10**30),
    -1,
    MAX_DATE + 1,
    MAX_DATE + 0.5,
    float("inf"),
    float("-inf"),
    float("nan"),
]


@pytest.mark.parametrize("value", IMPOSSIBLE_DATES, ids=repr)
@pytest.mark.parametrize("field", ["exp", "iat", "nbf"])
def test_impossible_dates_are_malformed(field: str, value: float) -> None:
    """exp, iat or nbf outside 0 to 253402300799, inf or nan raise TokenMalformed naming it."""
    token = encode_token({"iss": ACCOUNT.public_key, field: value}, ACCOUNT)  # inf as Infinity
    expected = f"the claim '{field}' is .*, not a date a token can carry \\(a number of seconds"
    with pytest.raises(TokenMalformed, match=expected):
        verify_token(token, now=100)
    with pytest.raises(TokenMalformed, match=f"^a\\.wasm: {expected}"):
        check_time_window({field: value}, now=100, path="a.wasm")


def test_dates_in_range_are_accepted_whole_or_not() -> None:
    """Finite dates from 0 to the last second of 9999 pass, fractional seconds included."""
    claims = {"iss": ACCOUNT.public_key, "iat": 0, "nbf": 100.25, "exp": MAX_DATE}
    verify_token(encode_token(claims, ACCOUNT), now=100.25)
    check_time_window({"iat": 1.5, "nbf": float(MAX_DATE), "exp": None}, now=MAX_DATE)
    with pytest.raises(TokenExpired, match="expired at 9999-12-31 23:59:59 UTC"):
        check_time_window({"exp": MAX_DATE}, now=MAX_DATE)


def test_a_date_too_long_to_print_is_malformed() -> None:
    """An int past Python's digit limit for str() is refused without being printed."""
    with pytest.raises(TokenMalformed, match="'exp' is a number too long to write out"):
        check_time_window({"exp": 10**5000})


@given(
    seconds=st.integers()
    | st.floats()
    | st.sampled_from([10**5000, -(10**5000), MAX_DATE, MAX_DATE + 1, -1])
)
def test_format_date_never_raises(seconds: float) -> None:
    """Any number formats to some text: a date when it is one, else the number cut short."""
    text = format_date(seconds)
    if isinstance(seconds, int) and 0 <= seconds <= MAX_DATE:
        assert text.endswith(" UTC")
    assert len(text) < 80
