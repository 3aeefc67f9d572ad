"""Identity is (issuer, subject): a live update from another account is a takeover unless
the host's trust policy allows that account and the operator asked for a rotation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Signer, module_path
from wascc.host import Host
from wascc.host.errors import IssuerMismatch
from wascc.host.trust import TrustPolicy
from wascc.keys.claims import sign_module
from wascc.keys.errors import UntrustedIssuer
from wascc.keys.nkeys import KeyPair


def _takeover(signer: Signer, account: KeyPair, rev: int) -> bytes:
    """echo re-signed by ``account`` under the running echo's own subject key: what an
    attacker with an account of their own can make (the subject key signs nothing)."""
    return signer.impersonate(account, "ponger", name="echo", caps=["wascc:keyvalue"], rev=rev)


async def test_update_from_another_account_is_refused(signer: Signer, host: Host) -> None:
    """The attack: a higher rev signed by a stranger's account is refused, naming both
    accounts and the fix; the running module keeps serving."""
    running = await host.add_actor(signer.sign("echo", rev=1))
    stranger = KeyPair.generate("account")
    with pytest.raises(IssuerMismatch) as refused:
        await host.replace_actor(_takeover(signer, stranger, 99))
    message = str(refused.value)
    assert signer.account.public_key in message
    assert stranger.public_key in message
    assert "--rotate-issuer" in message
    assert host.actor(running.subject).claims.issuer == signer.account.public_key
    assert host.actor(running.subject).claims.rev == 1
    assert await host.call_actor(running.subject, "Echo", b"still me") == b"still me"


async def test_rotation_needs_a_trusted_issuer(signer: Signer, host: Host) -> None:
    """Asking for a rotation is not enough while the new account is not a trusted issuer."""
    await host.add_actor(signer.sign("echo", rev=1))
    with pytest.raises(IssuerMismatch, match="--trust-issuer"):
        await host.replace_actor(
            _takeover(signer, KeyPair.generate("account"), 2), rotate_issuer=True
        )


async def test_rotation_to_a_trusted_issuer(signer: Signer, tmp_path: Path) -> None:
    """With the new account among the trusted issuers and an explicit rotation, the actor
    changes hands; without the flag it still does not."""
    successor = KeyPair.generate("account")
    policy = TrustPolicy.build(issuers=[signer.account.public_key, successor.public_key])
    async with Host(cache_dir=tmp_path, trust=policy) as host:
        running = await host.add_actor(signer.sign("echo", rev=1))
        with pytest.raises(IssuerMismatch):
            await host.replace_actor(_takeover(signer, successor, 2))
        rotated = await host.replace_actor(_takeover(signer, successor, 2), rotate_issuer=True)
        assert rotated.issuer == successor.public_key
        assert await host.call_actor(running.subject, "Pong", b"x") == b"pong: x"


async def test_same_issuer_update_still_works(signer: Signer, host: Host) -> None:
    """The legitimate path: the same account signs a newer revision."""
    running = await host.add_actor(signer.sign("echo", rev=1))
    updated = await host.replace_actor(signer.sign("ponger", name="echo", rev=2))
    assert (updated.subject, updated.issuer) == (running.subject, running.issuer)


async def test_trusted_issuers_apply_to_updates(signer: Signer, tmp_path: Path) -> None:
    """A host restricted to some accounts refuses a module from another on every path."""
    policy = TrustPolicy.build(issuers=[signer.account.public_key])
    async with Host(cache_dir=tmp_path, trust=policy) as host:
        await host.add_actor(signer.sign("echo", rev=1))
        with pytest.raises(UntrustedIssuer):
            await host.replace_actor(
                _takeover(signer, KeyPair.generate("account"), 2), rotate_issuer=True
            )
        with pytest.raises(UntrustedIssuer):
            await host.add_actor(
                sign_module(
                    module_path("echo").read_bytes(),
                    issuer=KeyPair.generate("account"),
                    subject=KeyPair.generate("module"),
                    name="other",
                )
            )


def test_policy_is_shown_in_the_inventory(signer: Signer) -> None:
    """The inventory names the trust policy, public keys only."""
    policy = TrustPolicy.build(issuers=[signer.account.public_key])
    shown = Host(trust=policy).inventory()["trust"]
    assert shown["issuers"] == [signer.account.public_key]
    assert Host().inventory()["trust"]["issuers"] == "any"
