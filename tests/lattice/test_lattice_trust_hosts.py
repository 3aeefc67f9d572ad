"""Lattice trust between real hosts on a real nats-server: forged, replayed and unsigned
messages are refused, the legitimate ones still work."""

from __future__ import annotations

import json
import logging

import msgpack
import nats as nats_py
import pytest

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, nats_url, until
from tests.support.servers import ServerProcess
from wascc.host import Host
from wascc.host.errors import IssuerMismatch, LatticeError
from wascc.host.lattice import Entity, Lattice, LatticeClient, LatticeConfig, Subjects, seal
from wascc.host.lattice.command import Controller
from wascc.host.lattice.control import launch, terminate, update
from wascc.host.lattice.events import cloud_event
from wascc.host.trust import TrustPolicy
from wascc.keys.nkeys import KeyPair
from wascc.keys.vouch import vouch


async def _send(nats: ServerProcess, subject: str, data: bytes) -> dict[str, object]:
    nc = await nats_py.connect(nats_url(nats))
    try:
        reply = await nc.request(subject, data, timeout=5)
    finally:
        await nc.close()
    answer: dict[str, object] = msgpack.unpackb(reply.data)
    return answer


async def test_forged_invocation_from_a_fresh_key_is_refused(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """The attack: an envelope correctly signed by a freshly generated host key that nobody
    vouched for changes nothing; a call between the lattice's own hosts works."""
    a, _ = await member()
    b, _ = await member()
    counter = await a.add_actor(signer.sign("fixtures/counter"))
    forged = seal(
        Entity(capid="system"),
        Entity(actor=counter.subject),
        "Add",
        b"1000",
        KeyPair.generate("server"),
    )
    answer = await _send(nats, Subjects().actor(counter.subject), forged.encode())
    assert answer["msg"] == b""
    assert "is not trusted here" in str(answer["error"])
    assert await b.call_actor(counter.subject, "Add", b"") == b"1"


async def test_replayed_invocation_runs_once(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """The attack: one captured genuine invocation sent 5 times is executed once."""
    a, _ = await member()
    _, lattice_b = await member()
    counter = await a.add_actor(signer.sign("fixtures/counter"))
    genuine = seal(
        Entity(capid="system"),
        Entity(actor=counter.subject),
        "Add",
        b"",
        lattice_b.key,
        voucher=lattice_b.voucher,
    ).encode()
    answers = [await _send(nats, Subjects().actor(counter.subject), genuine) for _ in range(5)]
    assert answers[0] == {"msg": b"1", "error": None, "invocation_id": answers[0]["invocation_id"]}
    for replay in answers[1:]:
        assert replay["msg"] == b""
        assert "ReplayedInvocation" in str(replay["error"])
        assert "already used" in str(replay["error"])
    assert await a.call_actor(counter.subject, "Add", b"") == b"2"


async def test_unsigned_and_stranger_control_is_refused(
    member: MakeMember, signer: Signer, nats: ServerProcess, lattice_account: KeyPair
) -> None:
    """The attack: `wascc ctl start/stop/update` without a signature, or signed by an
    account of the attacker's own, is refused with why; the lattice's account is obeyed."""
    a, lattice_a = await member()
    client = LatticeClient(nats_url(nats), name="ctl")
    await client.connect_once()
    subjects = Subjects()
    echo = signer.sign("echo", rev=1)
    try:
        with pytest.raises(LatticeError, match="the command is not signed"):
            await launch(client, subjects, echo, host_id=lattice_a.host_id)
        stranger = Controller(KeyPair.generate("account"))
        with pytest.raises(LatticeError, match="is not a controller of this host"):
            await launch(client, subjects, echo, host_id=lattice_a.host_id, signer=stranger)
        assert a.inventory()["actors"] == []
        ctl = Controller(lattice_account)
        started = await launch(client, subjects, echo, host_id=lattice_a.host_id, signer=ctl)
        for unsigned in (None, stranger):
            with pytest.raises(LatticeError, match="refused"):
                await update(client, subjects, signer.sign("echo", rev=2), signer=unsigned)
            with pytest.raises(LatticeError, match="refused"):
                await terminate(client, subjects, started["key"], signer=unsigned)
        assert a.actor(started["key"]).claims.rev == 1
        user = KeyPair.generate("user")
        vouched = Controller(user, vouch(lattice_account, user.public_key))
        await terminate(client, subjects, started["key"], signer=vouched)
        assert a.inventory()["actors"] == []
    finally:
        await client.close()


async def test_takeover_by_ctl_update_is_refused(
    member: MakeMember, signer: Signer, nats: ServerProcess, lattice_account: KeyPair
) -> None:
    """The attack through a signed `ctl update`: a module for the running actor's key from
    another account is refused by the host, naming both accounts."""
    a, _ = await member()
    running = await a.add_actor(signer.sign("echo", rev=1))
    stranger = KeyPair.generate("account")
    takeover = signer.impersonate(stranger, "ponger", name="echo", rev=99)
    client = LatticeClient(nats_url(nats), name="ctl")
    await client.connect_once()
    try:
        with pytest.raises(LatticeError, match=f"issued by account {stranger.public_key}"):
            await update(client, Subjects(), takeover, signer=Controller(lattice_account))
    finally:
        await client.close()
    assert a.actor(running.subject).claims.issuer == signer.account.public_key


async def test_same_key_under_another_account_is_refused_lattice_wide(
    member: MakeMember, signer: Signer
) -> None:
    """A host asked to start an actor whose key another host runs under another account
    refuses; the same actor from the same account starts (hosts share its load)."""
    a, _ = await member()
    b, lattice_b = await member()
    await a.add_actor(signer.sign("echo"))
    await until(lambda: lattice_b.directory.others(signer.key("echo"), "nobody"))
    impostor = signer.impersonate(KeyPair.generate("account"), "echo", name="echo")
    with pytest.raises(IssuerMismatch, match="of the lattice runs it"):
        await b.add_actor(impostor)
    shared = await b.add_actor(signer.sign("echo"))
    assert shared.subject == signer.key("echo")


async def test_host_without_anchor_refuses_to_join(nats: ServerProcess) -> None:
    """A host told neither an account nor a host list does not join, and says how to."""
    with pytest.raises(LatticeError, match="--lattice-account"):
        Lattice(Host(), LatticeConfig(url=nats_url(nats)))


async def test_insecure_lattice_is_logged_at_every_start(
    member: MakeMember, caplog: pytest.LogCaptureFixture
) -> None:
    """--insecure-lattice works, with a warning on start."""
    await member(trust=TrustPolicy.build(insecure_lattice=True))
    assert any(
        r.levelname == "WARNING" and "insecure lattice" in r.getMessage() for r in caplog.records
    )


async def test_voucher_for_another_key_stops_the_start(nats: ServerProcess) -> None:
    """A host given a voucher made for another host key refuses to start, naming both."""
    account = KeyPair.generate("account")
    trust = TrustPolicy.build(lattice_account=account.public_key)
    wrong = vouch(account, KeyPair.generate("server").public_key)
    with pytest.raises(LatticeError, match="not for this host's key"):
        Lattice(Host(trust=trust), LatticeConfig(url=nats_url(nats), voucher=wrong))


async def test_hosts_inventory_shows_the_trust_policy(
    member: MakeMember, nats: ServerProcess, lattice_account: KeyPair
) -> None:
    """`wascc ctl get hosts` (the hosts inventory) shows each host's trust policy."""
    _, lattice_a = await member()
    client = LatticeClient(nats_url(nats), name="ctl")
    await client.connect_once()
    try:
        raw = await client.gather(Subjects().inventory("hosts"), b"", timeout=0.5, what="inventory")
    finally:
        await client.close()
    (answer,) = [json.loads(r) for r in raw]
    assert answer["host_id"] == lattice_a.host_id
    assert answer["trust"]["lattice_account"] == lattice_account.public_key
    assert answer["trust"]["issuers"] == "any"


async def test_a_host_that_joins_later_knows_who_runs_what(
    member: MakeMember, signer: Signer
) -> None:
    """A host joining after the actor started learns its account from the inventory it asks
    for on joining, and refuses the impostor at once."""
    a, _ = await member()
    await a.add_actor(signer.sign("echo"))
    late, _ = await member()
    impostor = signer.impersonate(KeyPair.generate("account"), "echo", name="echo")
    with pytest.raises(IssuerMismatch, match=signer.account.public_key):
        await late.add_actor(impostor)


async def test_forged_events_change_nothing(
    member: MakeMember,
    signer: Signer,
    nats: ServerProcess,
    lattice_account: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A host acts only on events signed by a host it trusts: a forged binding event (as if
    from a trusted host, unsigned; or signed by a stranger) routes nothing, and a forged
    host_stopped makes it forget nothing."""
    caplog.set_level(logging.INFO, logger="wascc.lattice")
    a, lattice_a = await member()
    _, lattice_b = await member()
    kv = await a.add_actor(signer.sign("kvcounter", caps=["wascc:keyvalue"]))
    binding = {"actor": kv.subject, "capability_id": "wascc:keyvalue", "binding_name": "default"}
    stranger = KeyPair.generate("server")
    forged = [
        cloud_event("actor_binding_created", lattice_b.host_id, binding),
        cloud_event("actor_binding_created", stranger.public_key, binding, signer=stranger),
    ]
    nc = await nats_py.connect(nats_url(nats))
    try:
        for event in forged:
            await nc.publish(Subjects().events, event)
        await nc.flush()
        await until(lambda: caplog.text.count("ignoring an event") >= 2)
        assert a.find_binding(kv.subject, "wascc:keyvalue", "default") is None
        await lattice_b.bind_remote_actor(kv.subject, "wascc:keyvalue", "default", {})
        await until(lambda: a.find_binding(kv.subject, "wascc:keyvalue", "default") is not None)
        await nc.publish(
            Subjects().events, cloud_event("host_stopped", lattice_b.host_id, {"labels": {}})
        )
        await nc.flush()
        await until(lambda: caplog.text.count("ignoring an event") >= 3)
        assert a.find_binding(kv.subject, "wascc:keyvalue", "default") is not None
        assert lattice_a.adopted
    finally:
        await nc.close()
