"""Vouchers: an account's signed word that a host or controller key belongs to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wascc.keys.cli import main
from wascc.keys.errors import BadSignature, TokenExpired, TokenMalformed, WrongKeyKind
from wascc.keys.jwt import encode_token
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key
from wascc.keys.vouch import read_voucher, vouch

NOW = 1_800_000_000


@pytest.mark.parametrize(("kind", "role"), [("server", "host"), ("user", "controller")])
def test_vouch_round_trip(kind: str, role: str) -> None:
    """A voucher names the account, the key it vouches for and the role that key's kind has."""
    account, subject = KeyPair.generate("account"), KeyPair.generate(kind)  # type: ignore[arg-type]
    token = vouch(account, subject.public_key, name="h1", expires_in=60, now=NOW)
    voucher = read_voucher(token, now=NOW + 30)
    assert (voucher.account, voucher.subject, voucher.role) == (
        account.public_key,
        subject.public_key,
        role,
    )
    assert (voucher.name, voucher.expires, voucher.token) == ("h1", NOW + 60, token)


def test_expired_voucher_is_refused() -> None:
    """A voucher is good until its expiry, not after."""
    account = KeyPair.generate("account")
    token = vouch(account, KeyPair.generate("server").public_key, expires_in=60, now=NOW)
    with pytest.raises(TokenExpired):
        read_voucher(token, now=NOW + 60)


@pytest.mark.parametrize("kind", ["module", "account", "service", "operator"])
def test_only_hosts_and_controllers_are_vouched_for(kind: str) -> None:
    """Keys that neither run a host nor send control commands get no voucher."""
    with pytest.raises(WrongKeyKind):
        vouch(KeyPair.generate("account"), KeyPair.generate(kind).public_key)  # type: ignore[arg-type]


def test_only_an_account_vouches() -> None:
    """A host key cannot vouch for another host."""
    with pytest.raises(WrongKeyKind):
        vouch(KeyPair.generate("server"), KeyPair.generate("server").public_key)


def test_altered_voucher_is_refused() -> None:
    """A voucher's claims swapped for another key's break its signature."""
    account = KeyPair.generate("account")
    host, stranger = KeyPair.generate("server"), KeyPair.generate("server")
    header, _, signature = vouch(account, host.public_key).split(".")
    forged = vouch(account, stranger.public_key).split(".")[1]
    with pytest.raises(BadSignature):
        read_voucher(f"{header}.{forged}.{signature}")


def test_role_must_fit_the_key() -> None:
    """A token that calls a host key a controller is not a voucher."""
    account, host = KeyPair.generate("account"), KeyPair.generate("server")
    claims = {"jti": "x", "iat": NOW, "iss": account.public_key, "sub": host.public_key}
    token = encode_token({**claims, "wascc": {"role": "controller"}}, account)
    with pytest.raises(TokenMalformed, match="does not fit"):
        read_voucher(token, now=NOW)
    with pytest.raises(TokenMalformed, match="not a voucher"):
        read_voucher(encode_token(claims, account), now=NOW)


def test_keys_vouch_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`wascc keys vouch NAME --account NAME -o FILE` writes a voucher for the named key."""
    monkeypatch.setenv("WASCC_KEYS", str(tmp_path))
    account, host = KeyPair.generate("account"), KeyPair.generate("server")
    save_key(account, "lattice", directory=tmp_path)
    save_key(host, "host1", directory=tmp_path)
    out = tmp_path / "host1.jwt"
    result = CliRunner().invoke(
        main, ["keys", "vouch", "host1", "--account", "lattice", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"vouches for host {host.public_key}" in result.output
    voucher = read_voucher(out.read_text())
    assert (voucher.account, voucher.subject) == (account.public_key, host.public_key)
    printed = CliRunner().invoke(
        main, ["keys", "vouch", host.public_key, "--account", "lattice", "--expires-in", "2"]
    )
    assert printed.exit_code == 0
    assert read_voucher(printed.output.strip()).expires is not None


def test_keys_vouch_refuses_a_non_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A voucher signed by anything but an account key is refused with one error line."""
    monkeypatch.setenv("WASCC_KEYS", str(tmp_path))
    save_key(KeyPair.generate("server"), "host1", directory=tmp_path)
    result = CliRunner().invoke(main, ["keys", "vouch", "host1", "--account", "host1"])
    assert result.exit_code == 1
    assert "--account needs an account seed" in result.output
    assert "Traceback" not in result.output
