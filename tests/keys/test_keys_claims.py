"""Signing and validating modules: every failure the host can meet, on a real module."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Signer
from wascc.keys.claims import (
    WELL_KNOWN_CAPABILITIES,
    Claims,
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
    NotAModule,
    TokenExpired,
    TokenMalformed,
    TokenMissing,
    TokenNotYetValid,
    UntrustedIssuer,
    WrongKeyKind,
)
from wascc.keys.jwt import MAX_DATE, b64url_decode, b64url_encode, encode_token
from wascc.keys.nkeys import KeyPair
from wascc.keys.wasm import (
    TOKEN_SECTIONS,
    embed_token,
    find_token,
    iter_sections,
    module_hash,
    strip_token,
)

NOW = 1_700_000_000
ForgeModule = Callable[..., bytes]
AddSection = Callable[[bytes, str, bytes], bytes]


def _claims_of(module: bytes) -> dict[str, Any]:
    token = find_token(module)
    assert token is not None
    result: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return result


def _flip_code_byte(module: bytes) -> bytes:
    code = next(s for s in iter_sections(module) if s.id == 10)
    data = bytearray(module)
    data[code.end - 2] ^= 0x01  # the i32.const immediate: still valid wasm, different code
    return bytes(data)


@pytest.fixture
def signed(actor_wasm: bytes, account: KeyPair, module_key: KeyPair) -> bytes:
    """The actor signed with caps, tags, revision, version and a one-day lifetime."""
    return sign_module(
        actor_wasm,
        issuer=account,
        subject=module_key,
        name="demo",
        caps=["wascc:keyvalue", "wascc:http_server"],
        tags=["a"],
        rev=3,
        ver="1.0.2",
        expires_in=timedelta(days=1),
        now=NOW,
    )


def test_sign_and_validate(signed: bytes, account: KeyPair, module_key: KeyPair) -> None:
    """A freshly signed module validates and yields exactly what was signed."""
    claims = validate_module(signed, now=NOW + 60)
    assert claims.issuer == account.public_key
    assert claims.subject == module_key.public_key
    assert (claims.name, claims.rev, claims.ver) == ("demo", 3, "1.0.2")
    assert claims.caps == ("wascc:keyvalue", "wascc:http_server")
    assert claims.tags == ("a",)
    assert (claims.issued_at, claims.expires, claims.not_before) == (NOW, NOW + 86400, None)
    assert claims.hash == module_hash(signed)
    assert claims.token == find_token(signed)
    assert not claims.provider


def test_claims_key_order_is_the_tools(signed: bytes) -> None:
    """Claims are written exp, jti, iat, iss, sub, wascap; wascap with prov last."""
    raw = _claims_of(signed)
    assert list(raw) == ["exp", "jti", "iat", "iss", "sub", "wascap"]
    assert list(raw["wascap"]) == ["name", "hash", "tags", "caps", "rev", "ver", "prov"]


def test_minimal_claims_always_write_prov(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair
) -> None:
    """Without options only the required claims are written, and prov is always there."""
    module = sign_module(
        actor_wasm, issuer=account, subject=module_key, name="m", not_before_in=60, now=NOW
    )
    raw = _claims_of(module)
    assert list(raw) == ["jti", "iat", "iss", "sub", "nbf", "wascap"]
    assert raw["wascap"] == {"name": "m", "hash": module_hash(actor_wasm), "prov": False}


def test_resigning_replaces_the_token(signed: bytes, account: KeyPair, module_key: KeyPair) -> None:
    """Signing a signed module again leaves one token, the new one, and it verifies."""
    again = sign_module(signed, issuer=account, subject=module_key, name="renamed", now=NOW)
    assert [s.name for s in iter_sections(again) if s.id == 0] == ["jwt"]
    assert validate_module(again, now=NOW).name == "renamed"
    assert strip_token(again) == strip_token(signed)


def test_tampered_code_is_a_hash_mismatch(signed: bytes) -> None:
    """Changing one code byte after signing raises HashMismatch naming the file and the fix."""
    with pytest.raises(HashMismatch, match=r"^demo\.wasm: the module was changed") as info:
        validate_module(_flip_code_byte(signed), path="demo.wasm", now=NOW)
    assert "wascc claims sign" in str(info.value)
    assert info.value.path == "demo.wasm"


def test_swapped_signature_is_bad(signed: bytes, actor_wasm: bytes, account: KeyPair) -> None:
    """A token carrying another token's signature raises BadSignature."""
    other = sign_module(
        actor_wasm, issuer=account, subject=KeyPair.generate("module"), name="x", now=NOW
    )
    token, other_token = find_token(signed), find_token(other)
    assert token is not None
    assert other_token is not None
    swapped = ".".join([*token.split(".")[:2], other_token.split(".")[2]])
    with pytest.raises(BadSignature, match="does not verify"):
        validate_module(embed_token(signed, swapped), now=NOW)


def test_expired(signed: bytes) -> None:
    """After exp the module is refused with TokenExpired."""
    with pytest.raises(TokenExpired, match="re-sign it with a later --expires-in"):
        validate_module(signed, path="demo.wasm", now=NOW + 86400)


def test_not_yet_valid(actor_wasm: bytes, account: KeyPair, module_key: KeyPair) -> None:
    """Before nbf the module is refused with TokenNotYetValid."""
    module = sign_module(
        actor_wasm, issuer=account, subject=module_key, name="m", not_before_in=3600, now=NOW
    )
    with pytest.raises(TokenNotYetValid):
        validate_module(module, now=NOW)
    assert validate_module(module, now=NOW + 3600).not_before == NOW + 3600


def test_stripped_token_is_missing(signed: bytes) -> None:
    """A module without its token raises TokenMissing telling how to sign it."""
    with pytest.raises(TokenMissing, match="wascc claims sign FILE --name NAME"):
        validate_module(strip_token(signed), path="demo.wasm")


def test_not_a_module() -> None:
    """Text handed over as a module raises NotAModule."""
    with pytest.raises(NotAModule, match=r"^notes\.txt: not a WebAssembly module"):
        validate_module(b"just some text", path="notes.txt")


def _claims(issuer: KeyPair, subject: KeyPair, module: bytes, **wascap: Any) -> dict[str, Any]:
    return {
        "jti": "j",
        "iat": NOW,
        "iss": issuer.public_key,
        "sub": subject.public_key,
        "wascap": {"hash": module_hash(module), "prov": False, **wascap},
    }


@pytest.mark.parametrize(
    ("issuer_kind", "subject_kind", "provider", "message"),
    [
        ("module", "module", False, "issuer \\(iss\\) is a module key, expected account"),
        ("account", "account", False, "subject \\(sub\\) is an account key, expected module"),
        ("account", "service", False, "subject \\(sub\\) is a service key, expected module"),
        ("account", "server", True, "expected module or service"),
    ],
)
def test_wrong_key_kinds(
    *,
    actor_wasm: bytes,
    forge_module: ForgeModule,
    issuer_kind: Any,
    subject_kind: Any,
    provider: bool,
    message: str,
) -> None:
    """iss must be an account key; sub a module key, or a service key for a provider."""
    issuer, subject = KeyPair.generate(issuer_kind), KeyPair.generate(subject_kind)
    claims = _claims(issuer, subject, actor_wasm, prov=provider)
    with pytest.raises(InvalidIssuerOrSubject, match=message):
        validate_module(forge_module(actor_wasm, issuer, claims))


def test_provider_with_service_key(actor_wasm: bytes, account: KeyPair) -> None:
    """A provider is signed and validated with a service (V) subject."""
    service = KeyPair.generate("service")
    module = sign_module(actor_wasm, issuer=account, subject=service, name="p", provider=True)
    claims = validate_module(module)
    assert claims.provider
    assert claims.subject.startswith("V")


def test_malformed_subject_key(
    actor_wasm: bytes, account: KeyPair, forge_module: ForgeModule
) -> None:
    """A subject that is no public key at all is InvalidIssuerOrSubject."""
    claims = _claims(account, KeyPair.generate("module"), actor_wasm)
    claims["sub"] = "MNOTAKEY"
    with pytest.raises(InvalidIssuerOrSubject, match="not a valid public key"):
        validate_module(forge_module(actor_wasm, account, claims))


def test_untrusted_issuer(signed: bytes, account: KeyPair) -> None:
    """With a trusted list, only listed accounts are accepted."""
    assert validate_module(signed, trusted_issuers={account.public_key}, now=NOW)
    with pytest.raises(UntrustedIssuer, match="trusted"):
        validate_module(signed, trusted_issuers=[KeyPair.generate("account").public_key], now=NOW)


def test_wrong_header(signed: bytes, account: KeyPair) -> None:
    """A validly signed token with a non-Ed25519 header raises BadHeader."""
    token = find_token(signed)
    assert token is not None
    claims_segment = token.split(".")[1]
    header = b64url_encode(b'{"typ":"JWT","alg":"EdDSA"}')
    signing_input = f"{header}.{claims_segment}"
    forged = f"{signing_input}.{b64url_encode(account.sign(signing_input.encode()))}"
    with pytest.raises(BadHeader, match="'JWT' and alg 'EdDSA'"):
        validate_module(embed_token(signed, forged), now=NOW)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("wascap"), "no wascap claims object"),
        (lambda c: c["wascap"].pop("hash"), "'hash' must be a string"),
        (lambda c: c.update(iat="yesterday"), "'iat' is \"yesterday\", not a date"),
        (lambda c: c.update(iat=True), "'iat' is true, not a date"),
        (lambda c: c.pop("iat"), "'iat' is missing"),
        (lambda c: c["wascap"].update(caps="wascc:keyvalue"), "'caps' must be a list of strings"),
        (lambda c: c["wascap"].update(prov="yes"), "'prov' must be true or false"),
    ],
)
def test_malformed_claims(
    *,
    actor_wasm: bytes,
    account: KeyPair,
    module_key: KeyPair,
    forge_module: ForgeModule,
    change: Callable[[dict[str, Any]], object],
    message: str,
) -> None:
    """Missing or mistyped claims raise TokenMalformed naming the claim."""
    claims = _claims(account, module_key, actor_wasm)
    change(claims)
    with pytest.raises(TokenMalformed, match=message):
        validate_module(forge_module(actor_wasm, account, claims))


def test_header_is_checked_before_claims(actor_wasm: bytes) -> None:
    """A foreign token (wrong header, no wascap) is reported as BadHeader, the first check."""
    token = b64url_encode(b'{"alg":"RS256"}') + ".e30." + b64url_encode(bytes(64))
    with pytest.raises(BadHeader, match="RS256"):
        validate_module(embed_token(actor_wasm, token))


def test_garbage_token_is_malformed(actor_wasm: bytes) -> None:
    """A jwt section that is not a JWT raises TokenMalformed."""
    with pytest.raises(TokenMalformed, match="segment"):
        validate_module(embed_token(actor_wasm, "garbage"))


def test_wasmcloud_jwt_section_validates(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair, forge_module: ForgeModule
) -> None:
    """A module signed by newer tools (wasmcloud_jwt section) validates; unknown keys ignored."""
    claims = _claims(account, module_key, actor_wasm, call_alias="demo/x", extra={"k": 1})
    claims["new_field"] = True
    module = forge_module(actor_wasm, account, claims, section="wasmcloud_jwt")
    assert validate_module(module).call_alias == "demo/x"


def test_sign_refuses_wrong_key_kinds(actor_wasm: bytes, module_key: KeyPair) -> None:
    """Signing with a non-account issuer or a non-module subject raises WrongKeyKind."""
    with pytest.raises(WrongKeyKind, match="issuer must be an account key"):
        sign_module(actor_wasm, issuer=module_key, subject=module_key, name="m")
    with pytest.raises(WrongKeyKind, match="must be a service key"):
        sign_module(
            actor_wasm,
            issuer=KeyPair.generate("account"),
            subject=module_key,
            name="m",
            provider=True,
        )


def test_every_failure_is_a_distinct_claims_error() -> None:
    """Each validation failure has its own class under ClaimsError."""
    failures = {
        NotAModule,
        TokenMissing,
        TokenMalformed,
        AmbiguousClaims,
        BadHeader,
        HashMismatch,
        BadSignature,
        TokenExpired,
        TokenNotYetValid,
        InvalidIssuerOrSubject,
        UntrustedIssuer,
    }
    assert len(failures) == 11
    assert all(issubclass(cls, ClaimsError) for cls in failures)


def test_inspect_reports_instead_of_raising(signed: bytes) -> None:
    """Inspect reports hash and signature problems as flags and messages."""
    good = inspect_module(signed, "demo.wasm", now=NOW)
    assert (good.hash_valid, good.signature_valid, good.usable, good.valid) == (
        True,
        True,
        True,
        True,
    )
    bad = inspect_module(_flip_code_byte(signed), "demo.wasm", now=NOW + 86400)
    assert (bad.hash_valid, bad.signature_valid, bad.usable) == (False, True, False)
    assert bad.problems[0].startswith("demo.wasm: the module was changed")
    assert bad.claims.name == "demo"
    with pytest.raises(TokenMissing):
        inspect_module(strip_token(signed))


def test_claims_display(signed: bytes) -> None:
    """`to_json` is JSON-serializable and `is_usable_at` follows the time window."""
    claims = validate_module(signed, now=NOW)
    shown = claims.to_json()
    assert json.loads(json.dumps(shown))["caps"] == ["wascc:keyvalue", "wascc:http_server"]
    assert "token" not in shown
    assert "token" not in repr(claims)
    assert claims.is_usable_at(NOW)
    assert not claims.is_usable_at(NOW + 86400)
    assert isinstance(claims, Claims)


def test_unicode_names_survive(actor_wasm: bytes, account: KeyPair, module_key: KeyPair) -> None:
    """Non-ASCII names and tags round-trip through the token."""
    module = sign_module(actor_wasm, issuer=account, subject=module_key, name="café", tags=["ü"])
    claims = validate_module(module)
    assert (claims.name, claims.tags) == ("café", ("ü",))


def test_well_known_capabilities() -> None:
    """waSCC's eight well-known contract ids are listed."""
    assert len(WELL_KNOWN_CAPABILITIES) == 8
    assert "wascc:keyvalue" in WELL_KNOWN_CAPABILITIES


def _attacker_token(signed: bytes) -> bytes:
    """A token for ``signed``'s code from another account, validly signed, granting every
    capability: what an attacker appends to widen a signed actor's rights."""
    attacker = KeyPair.generate("account")
    claims = _claims_of(signed) | {"iss": attacker.public_key}
    claims["wascap"]["caps"] = list(WELL_KNOWN_CAPABILITIES)
    return encode_token(claims, attacker).encode()


def _second_token(signed: bytes, names: tuple[str, str], add_section: AddSection) -> bytes:
    """``signed`` with its own token as section ``names[0]``, then an attacker's as ``names[1]``."""
    own = find_token(signed)
    assert own is not None
    module = add_section(strip_token(signed), names[0], own.encode())
    return add_section(module, names[1], _attacker_token(signed))


AMBIGUOUS_NAMES = [
    ("jwt", "jwt"),
    ("jwt", "wasmcloud_jwt"),
    ("wasmcloud_jwt", "jwt"),
    ("wasmcloud_jwt", "wasmcloud_jwt"),
]


def test_an_attacker_token_alone_would_widen_the_caps(
    signer: Signer, add_section: AddSection
) -> None:
    """The threat: another account's token over the same code validates with every capability."""
    signed = signer.sign("echo", caps=["wascc:logging"])
    forged = add_section(strip_token(signed), "wasmcloud_jwt", _attacker_token(signed))
    assert validate_module(forged).caps == WELL_KNOWN_CAPABILITIES


@pytest.mark.parametrize("names", AMBIGUOUS_NAMES, ids="+".join)
def test_a_second_token_is_ambiguous(
    signer: Signer, add_section: AddSection, names: tuple[str, str]
) -> None:
    """A signed sample actor carrying a second token is refused by validate and inspect."""
    module = _second_token(signer.sign("echo", caps=["wascc:logging"]), names, add_section)
    for read in (validate_module, inspect_module):
        with pytest.raises(AmbiguousClaims) as info:
            read(module, path="echo_s.wasm")
        message = str(info.value)
        assert message.startswith("echo_s.wasm: the module carries 2 claims sections")
        assert f"({names[0]!r}, {names[1]!r})" in message
        assert "sign it once with `wascc claims sign`, which replaces every claims section" in (
            message
        )
        assert info.value.path == "echo_s.wasm"


def test_three_tokens_are_ambiguous(signer: Signer, add_section: AddSection) -> None:
    """Three token sections are refused too, and the message counts them."""
    signed = signer.sign("echo")
    module = add_section(signed, "jwt", _attacker_token(signed))
    module = add_section(module, "wasmcloud_jwt", _attacker_token(signed))
    with pytest.raises(
        AmbiguousClaims, match="3 claims sections \\('jwt', 'jwt', 'wasmcloud_jwt'\\)"
    ):
        validate_module(module)


@pytest.mark.parametrize("names", AMBIGUOUS_NAMES, ids="+".join)
def test_re_signing_repairs_an_ambiguous_module(
    signer: Signer, add_section: AddSection, names: tuple[str, str]
) -> None:
    """sign_module on a module with two token sections leaves exactly one, and it validates."""
    signed = signer.sign("echo", caps=["wascc:logging"])
    module = _second_token(signed, names, add_section)
    assert module_hash(module) == module_hash(signed)
    repaired = sign_module(
        module,
        issuer=signer.account,
        subject=signer.module_key("echo"),
        name="echo",
        caps=["wascc:logging"],
    )
    tokens = [s.name for s in iter_sections(repaired) if s.id == 0 and s.name in TOKEN_SECTIONS]
    assert tokens == ["jwt"]
    claims = validate_module(repaired)
    assert (claims.caps, claims.issuer) == (("wascc:logging",), signer.account.public_key)
    assert strip_token(repaired) == strip_token(signed)


BAD_DATES = [10**30, -(10**30), -1, MAX_DATE + 1, 1.5, float("inf"), float("nan"), True, "2030"]


@pytest.mark.parametrize("value", BAD_DATES, ids=repr)
@pytest.mark.parametrize("field", ["exp", "iat", "nbf"])
def test_impossible_dates_are_malformed(
    *,
    actor_wasm: bytes,
    account: KeyPair,
    module_key: KeyPair,
    forge_module: ForgeModule,
    field: str,
    value: object,
) -> None:
    """A signed token whose exp, iat or nbf is no whole second of 1970 to 9999 is malformed."""
    module = forge_module(
        actor_wasm, account, _claims(account, module_key, actor_wasm) | {field: value}
    )
    for read in (validate_module, inspect_module):
        with pytest.raises(TokenMalformed, match=f"^x\\.wasm: the claim '{field}' is ") as info:
            read(module, path="x.wasm")
        message = str(info.value)
        assert "a whole number of seconds from 0 to 253402300799, the end of year 9999" in message
        assert message.endswith("re-sign it with `wascc claims sign`")


def test_huge_dates_are_cut_short(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair, forge_module: ForgeModule
) -> None:
    """A 200-digit exp is quoted by its first digits only, not in full."""
    value = 10**200
    module = forge_module(
        actor_wasm, account, _claims(account, module_key, actor_wasm) | {"exp": value}
    )
    with pytest.raises(TokenMalformed, match="'exp' is 1000000000") as info:
        validate_module(module)
    assert str(value) not in str(info.value)
    assert "0…, not a date" in str(info.value)
    assert len(str(info.value)) < 250


def test_the_last_second_of_9999_is_a_date(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair, forge_module: ForgeModule
) -> None:
    """exp, iat and nbf of 253402300799 (9999-12-31 23:59:59 UTC), and 0, are accepted."""
    base = _claims(account, module_key, actor_wasm)
    late = forge_module(actor_wasm, account, base | {"iat": MAX_DATE, "nbf": MAX_DATE})
    claims = validate_module(late, now=MAX_DATE)
    assert (claims.issued_at, claims.not_before, claims.expires) == (MAX_DATE, MAX_DATE, None)
    lasting = forge_module(actor_wasm, account, base | {"iat": 0, "nbf": 0, "exp": MAX_DATE})
    assert validate_module(lasting, now=NOW).expires == MAX_DATE
    assert inspect_module(lasting, now=MAX_DATE).usable is False


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"expires_in": 1e30}, id="expires_in=1e30"),
        pytest.param({"expires_in": 10**400}, id="expires_in=10**400"),
        pytest.param({"expires_in": float("inf")}, id="expires_in=inf"),
        pytest.param({"not_before_in": float("nan")}, id="not_before_in=nan"),
        pytest.param({"expires_in": timedelta(days=999_999_999)}, id="expires_in=max-timedelta"),
        pytest.param({"not_before_in": -NOW - 1}, id="not_before_in=before-1970"),
        pytest.param({"now": -1.0}, id="now=-1"),
        pytest.param({"now": float(MAX_DATE + 1)}, id="now=year-10000"),
        pytest.param({"now": float("inf")}, id="now=inf"),
    ],
)
def test_sign_refuses_dates_no_token_can_carry(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair, options: dict[str, Any]
) -> None:
    """sign_module raises ValueError rather than write a date the host would refuse."""
    options = {"now": NOW, **options}
    with pytest.raises(ValueError, match="outside what a token can carry"):
        sign_module(actor_wasm, issuer=account, subject=module_key, name="m", **options)


def test_sign_up_to_the_end_of_9999(
    actor_wasm: bytes, account: KeyPair, module_key: KeyPair
) -> None:
    """A lifetime ending on the last second of 9999 is signed and validates."""
    module = sign_module(
        actor_wasm, issuer=account, subject=module_key, name="m", expires_in=MAX_DATE - NOW, now=NOW
    )
    assert validate_module(module, now=NOW).expires == MAX_DATE
