"""Whom a lattice host trusts: hosts vouched for by the anchor account or listed by id,
controllers that sign commands, and fresh tokens only (``host.lattice.trust``, ``command``)."""

from __future__ import annotations

import json
import time

import msgpack
import pytest

from wascc.host.lattice import Entity, seal, verify_envelope
from wascc.host.lattice.command import Controller, open_command, seal_command
from wascc.host.lattice.errors import ForgedInvocation, MalformedMessage, ReplayedInvocation
from wascc.host.lattice.events import cloud_event, parse_event, verify_event
from wascc.host.lattice.trust import LatticeTrust, Untrusted
from wascc.host.trust import TrustPolicy
from wascc.keys.nkeys import KeyPair
from wascc.keys.vouch import vouch

ACTOR = KeyPair.generate("module").public_key


def _admit(trust: LatticeTrust, key: KeyPair, voucher: str | None = None) -> None:
    envelope = seal(Entity(capid="system"), Entity(actor=ACTOR), "Echo", b"x", key, voucher=voucher)
    claims = verify_envelope(envelope)
    trust.admit(envelope.describe, envelope.host_id, envelope.voucher, claims)


@pytest.fixture
def account() -> KeyPair:
    """The lattice's anchor account."""
    return KeyPair.generate("account")


@pytest.fixture
def trust(account: KeyPair) -> LatticeTrust:
    """A host's lattice trust anchored in ``account``."""
    policy = TrustPolicy.build(lattice_account=account.public_key)
    return LatticeTrust(policy, KeyPair.generate("server").public_key, rpc_timeout=2)


def test_vouched_host_is_admitted(trust: LatticeTrust, account: KeyPair) -> None:
    """A host that presents the anchor's voucher for its key is trusted."""
    host = KeyPair.generate("server")
    _admit(trust, host, vouch(account, host.public_key))


def test_unvouched_host_is_refused(trust: LatticeTrust) -> None:
    """A correctly signed invocation from a fresh key nobody vouched for is refused."""
    stranger = KeyPair.generate("server")
    with pytest.raises(Untrusted, match=f"host {stranger.public_key} is not trusted here"):
        _admit(trust, stranger)


def test_voucher_of_another_host_or_account_is_refused(
    trust: LatticeTrust, account: KeyPair
) -> None:
    """A stolen voucher is only good with its own key, and another account's is no good."""
    host, thief = KeyPair.generate("server"), KeyPair.generate("server")
    with pytest.raises(Untrusted, match="its voucher is for host"):
        _admit(trust, thief, vouch(account, host.public_key))
    other = KeyPair.generate("account")
    with pytest.raises(Untrusted, match="not from the lattice's account"):
        _admit(trust, thief, vouch(other, thief.public_key))


def test_expired_voucher_is_refused(trust: LatticeTrust, account: KeyPair) -> None:
    """A voucher past its expiry no longer admits its host."""
    host = KeyPair.generate("server")
    token = vouch(account, host.public_key, expires_in=1, now=time.time() - 10)
    with pytest.raises(Untrusted, match=r"does not verify.*expired"):
        _admit(trust, host, token)


def test_listed_host_and_self_need_no_voucher(account: KeyPair) -> None:
    """Hosts listed by id, and the host itself, are trusted without a voucher."""
    me, listed = KeyPair.generate("server"), KeyPair.generate("server")
    policy = TrustPolicy.build(hosts=[listed.public_key])
    trust = LatticeTrust(policy, me.public_key, rpc_timeout=2)
    _admit(trust, listed)
    _admit(trust, me)
    with pytest.raises(Untrusted):
        _admit(trust, KeyPair.generate("server"))


def test_insecure_lattice_admits_any_signed_host() -> None:
    """With insecure_lattice, any correctly signed host is admitted (still once per token)."""
    policy = TrustPolicy.build(insecure_lattice=True)
    trust = LatticeTrust(policy, KeyPair.generate("server").public_key, rpc_timeout=2)
    _admit(trust, KeyPair.generate("server"))


def test_replayed_invocation_is_refused(trust: LatticeTrust, account: KeyPair) -> None:
    """The same genuine token is served once; a second delivery is a replay."""
    host = KeyPair.generate("server")
    envelope = seal(
        Entity(capid="system"),
        Entity(actor=ACTOR),
        "Add",
        b"1000",
        host,
        voucher=vouch(account, host.public_key),
    )
    claims = verify_envelope(envelope)
    trust.admit(envelope.describe, envelope.host_id, envelope.voucher, claims)
    with pytest.raises(ReplayedInvocation, match="already used"):
        trust.admit(envelope.describe, envelope.host_id, envelope.voucher, claims)
    assert trust.stats()["replay"]["entries"] == 1


# control commands -------------------------------------------------------------------------


def _command() -> bytes:
    return json.dumps({"actor": ACTOR}).encode()


def test_command_signed_by_the_account_is_opened(trust: LatticeTrust, account: KeyPair) -> None:
    """The anchor account's own key may control the host; the command comes out intact."""
    sealed = seal_command("terminate", trust.host_id, _command(), Controller(account))
    assert open_command("terminate", sealed, trust) == _command()


def test_command_of_a_vouched_user_is_opened(trust: LatticeTrust, account: KeyPair) -> None:
    """A user key the account vouched for may control the host, with its voucher."""
    user = KeyPair.generate("user")
    signer = Controller(user, vouch(account, user.public_key))
    sealed = seal_command("terminate", trust.host_id, _command(), signer)
    assert open_command("terminate", sealed, trust) == _command()
    with pytest.raises(Untrusted, match="is not a controller of this host"):
        open_command(
            "terminate",
            seal_command("terminate", trust.host_id, _command(), Controller(user)),
            trust,
        )


def test_listed_controller_is_obeyed(account: KeyPair) -> None:
    """A key listed in trust.controllers needs no voucher."""
    user = KeyPair.generate("user")
    policy = TrustPolicy.build(lattice_account=account.public_key, controllers=[user.public_key])
    trust = LatticeTrust(policy, KeyPair.generate("server").public_key, rpc_timeout=2)
    sealed = seal_command("terminate", trust.host_id, _command(), Controller(user))
    assert open_command("terminate", sealed, trust) == _command()


def test_unsigned_and_stranger_commands_are_refused(trust: LatticeTrust) -> None:
    """An unsigned command, or one signed by an unknown account, is refused with the fix."""
    with pytest.raises(ForgedInvocation, match="not signed; sign it with `wascc ctl --signer"):
        open_command("terminate", seal_command("terminate", trust.host_id, _command(), None), trust)
    stranger = Controller(KeyPair.generate("account"))
    with pytest.raises(Untrusted, match="is not a controller"):
        open_command(
            "terminate", seal_command("terminate", trust.host_id, _command(), stranger), trust
        )


def test_command_bound_to_host_action_and_body(trust: LatticeTrust, account: KeyPair) -> None:
    """A command signed for another host, another action, or with another body is refused."""
    signer = Controller(account)
    other_host = KeyPair.generate("server").public_key
    with pytest.raises(ForgedInvocation, match="signed for host"):
        open_command("terminate", seal_command("terminate", other_host, _command(), signer), trust)
    with pytest.raises(ForgedInvocation, match="signed for action 'terminate'"):
        open_command("launch", seal_command("terminate", trust.host_id, _command(), signer), trust)
    message = msgpack.unpackb(seal_command("terminate", trust.host_id, _command(), signer))
    message["command"] = json.dumps({"actor": KeyPair.generate("module").public_key}).encode()
    with pytest.raises(ForgedInvocation, match="altered"):
        open_command("terminate", msgpack.packb(message), trust)


def test_replayed_command_is_refused(trust: LatticeTrust, account: KeyPair) -> None:
    """A captured control command is obeyed once."""
    sealed = seal_command("terminate", trust.host_id, _command(), Controller(account))
    open_command("terminate", sealed, trust)
    with pytest.raises(ReplayedInvocation):
        open_command("terminate", sealed, trust)


def test_insecure_lattice_obeys_unsigned_commands() -> None:
    """An insecure lattice obeys unsigned commands (experiments only)."""
    policy = TrustPolicy.build(insecure_lattice=True)
    trust = LatticeTrust(policy, KeyPair.generate("server").public_key, rpc_timeout=2)
    sealed = seal_command("terminate", trust.host_id, _command(), None)
    assert open_command("terminate", sealed, trust) == _command()


@pytest.mark.parametrize("data", [b"", b"\xc1", msgpack.packb([1]), msgpack.packb({"x": 1})])
def test_malformed_command(trust: LatticeTrust, data: bytes) -> None:
    """Anything that is not {command, token} is malformed, never a crash."""
    with pytest.raises(MalformedMessage):
        open_command("terminate", data, trust)


# events -----------------------------------------------------------------------------------


def _event(signer: KeyPair | None, **overrides: object) -> dict[str, object]:
    host = signer.public_key if signer is not None else KeyPair.generate("server").public_key
    raw = cloud_event(
        "actor_binding_created",
        host,
        {"actor": ACTOR, "capability_id": "wascc:keyvalue", "binding_name": "default"},
        signer=signer,
    )
    return {**parse_event(raw), **overrides}


def test_signed_event_verifies() -> None:
    """An event signed by its source host verifies, naming that host."""
    host = KeyPair.generate("server")
    assert verify_event(_event(host))["iss"] == host.public_key


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"wascctoken": None}, "not signed"),
        ({"type": "actor_binding_removed"}, "for another event"),
        ({"data": {"actor": ACTOR, "capability_id": "x", "binding_name": "y"}}, "another event"),
        ({"id": "another-id"}, "for another event"),
        ({"source": KeyPair.generate("server").public_key}, "for another event"),
        ({"wascctoken": "a.b.c"}, "does not verify"),
    ],
)
def test_altered_or_unsigned_event_is_refused(change: dict[str, object], reason: str) -> None:
    """An unsigned event, or one whose type, data, id or source differ from what was
    signed, is refused."""
    event = _event(KeyPair.generate("server"), **change)
    if event.get("wascctoken") is None:
        event.pop("wascctoken")
    with pytest.raises(ForgedInvocation, match=reason):
        verify_event(event)
