"""The trust policy from a manifest's ``trust`` section and the ``wascc up`` flags: read,
checked before anything starts, shown, and refused with the entry and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer
from tests.process.process_support import run_wascc, wascc_env
from wascc.host.manifest import ManifestInvalid, load_manifest
from wascc.keys.nkeys import KeyPair
from wascc.keys.store import save_key
from wascc.keys.vouch import vouch

EMPTY = "capabilities: [{path: logging}]\n"


def _manifest(tmp_path: Path, text: str) -> Path:
    file = tmp_path / "m.yaml"
    file.write_text(text)
    return file


def test_trust_section_is_read(tmp_path: Path) -> None:
    """Every key of the trust section reaches the manifest, public keys checked."""
    issuer, account = KeyPair.generate("account"), KeyPair.generate("account")
    host, user = KeyPair.generate("server"), KeyPair.generate("user")
    text = (
        f"trust: {{issuers: [{issuer.public_key}], lattice_account: {account.public_key}, "
        f"hosts: [{host.public_key}], controllers: [{user.public_key}], "
        "insecure_lattice: false, clock_skew: 2, replay_window: 9}\n" + EMPTY
    )
    trust = load_manifest(_manifest(tmp_path, text)).trust
    assert trust is not None
    assert trust.issuers == (issuer.public_key,)
    assert (trust.lattice_account, trust.account_seed) == (account.public_key, None)
    assert (trust.hosts, trust.controllers) == ((host.public_key,), (user.public_key,))
    assert (trust.insecure_lattice, trust.clock_skew, trust.replay_window) == (False, 2, 9)


def test_lattice_account_by_name_gives_its_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A saved account's name resolves to its public key, and its seed lets the host vouch
    for itself."""
    monkeypatch.setenv("WASCC_KEYS", str(tmp_path / "keys"))
    account = KeyPair.generate("account")
    save_key(account, "lattice")
    trust = load_manifest(_manifest(tmp_path, "trust: {lattice_account: lattice}\n" + EMPTY)).trust
    assert trust is not None
    assert (trust.lattice_account, trust.account_seed) == (account.public_key, account.seed)
    assert account.seed not in repr(trust)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trust: {issuers: [MABC]}", "trust.issuers[0]: 'MABC' is not an account key"),
        ("trust: {issuers: AABC}", "trust.issuers: expected a list of account keys"),
        ("trust: {hosts: [AABC]}", "trust.hosts[0]: 'AABC' is not a host id"),
        ("trust: {controllers: [NABC]}", "trust.controllers[0]: 'NABC' is not a controller key"),
        ("trust: {insecure_lattice: 'yes'}", "trust.insecure_lattice: expected true or false"),
        ("trust: {replay_window: 0}", "trust.replay_window: must be at least 0.1"),
        ("trust: {issuer: []}", "trust.issuer: unknown key; did you mean 'issuers'?"),
        ("trust: {lattice_account: nobody}", "trust.lattice_account: cannot use it"),
        ("trust: {lattice_account: srv.nk}", "it is a server key, not an account key"),
        (
            "lattice: {url: 'nats://127.0.0.1:4222', host_token: missing.jwt}",
            "lattice.host_token: cannot read",
        ),
        (
            "lattice: {url: 'nats://127.0.0.1:4222', host_token: junk.jwt}",
            "lattice.host_token:",
        ),
    ],
)
def test_bad_trust_entries(tmp_path: Path, text: str, expected: str) -> None:
    """Each bad trust entry is a problem naming its path and the fix."""
    (tmp_path / "srv.nk").write_text(KeyPair.generate("server").seed)
    (tmp_path / "junk.jwt").write_text("not.a.token")
    with pytest.raises(ManifestInvalid) as invalid:
        load_manifest(_manifest(tmp_path, text + "\n" + EMPTY))
    assert expected in str(invalid.value)


def test_issuers_restrict_the_manifest_actors(tmp_path: Path, signer: Signer) -> None:
    """With trust.issuers (or --trust-issuer) an actor of another account is a problem."""
    (tmp_path / "echo_s.wasm").write_bytes(signer.sign("echo"))
    other = KeyPair.generate("account").public_key
    text = f"trust: {{issuers: [{other}]}}\nactors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n"
    with pytest.raises(ManifestInvalid, match=r"actors\[0\]: .* not one of the host's trusted"):
        load_manifest(_manifest(tmp_path, text))
    assert load_manifest(_manifest(tmp_path, text), trusted_issuers=[signer.account.public_key])


def test_host_token_is_read(tmp_path: Path) -> None:
    """lattice.host_token names the host's voucher file, verified when the manifest loads."""
    token = vouch(KeyPair.generate("account"), KeyPair.generate("server").public_key)
    (tmp_path / "host.jwt").write_text(token + "\n")
    text = "lattice: {url: 'nats://127.0.0.1:4222', host_token: host.jwt}\n" + EMPTY
    lattice = load_manifest(_manifest(tmp_path, text)).lattice
    assert lattice is not None
    assert lattice.host_token == token


def test_up_without_a_trust_anchor_refuses_to_join(tmp_path: Path) -> None:
    """`wascc up --lattice` with neither account nor host list exits 2, saying how to set
    one up (before any connection is tried)."""
    env = wascc_env(tmp_path / "keys")
    file = _manifest(tmp_path, EMPTY)
    result = run_wascc("up", str(file), "--lattice", "nats://127.0.0.1:9", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "refusing to join the lattice" in result.stderr
    assert "--lattice-account" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--trust-issuer", "MABC"), "'MABC' is not an account key"),
        (("--lattice-account", "nobody"), "cannot use it as the lattice's account"),
        (("--trust-controller", "NABC"), "'NABC' is not a controller key"),
        (("--host-token", "missing.jwt"), "cannot read missing.jwt"),
    ],
)
def test_bad_trust_flags(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    """A bad trust flag stops `wascc up` with a usage error naming the option."""
    env = wascc_env(tmp_path / "keys")
    result = run_wascc("up", str(_manifest(tmp_path, EMPTY)), *args, env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_up_with_a_voucher_for_another_key(tmp_path: Path) -> None:
    """A voucher made for another host key stops `wascc up` with one error line naming the
    two keys, before it joins."""
    env = wascc_env(tmp_path / "keys")
    account = KeyPair.generate("account")
    (tmp_path / "other.jwt").write_text(vouch(account, KeyPair.generate("server").public_key))
    args = ("--lattice", "nats://127.0.0.1:9", "--lattice-account", account.public_key)
    args += ("--host-token", "other.jwt")
    result = run_wascc("up", str(_manifest(tmp_path, EMPTY)), *args, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "the host's voucher (--host-token) is for N" in result.stderr
    assert "not for this host's key" in result.stderr
    assert "Traceback" not in result.stderr
