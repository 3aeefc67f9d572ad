"""Several hosts in one process, linked by a real nats-server: remote actors and providers,
faults, inventory, events and control."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import msgpack
import nats
import pytest

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, nats_url, until
from tests.support.servers import ServerProcess
from wascc.host import ActorSettings, Host
from wascc.host.errors import ActorNotFound
from wascc.host.host import ActorSource
from wascc.host.lattice import (
    Entity,
    Lattice,
    LatticeClient,
    LatticeConfig,
    RemoteError,
    Subjects,
    decode_response,
    seal,
)
from wascc.host.lattice.command import Controller
from wascc.host.lattice.control import auction, launch, terminate, update
from wascc.host.lattice.errors import LatticeTimeout, LatticeUnavailable
from wascc.host.lattice.inventory import gather, host_inventory
from wascc.host.testing import FunctionProvider
from wascc.host.trust import TrustPolicy
from wascc.keys.nkeys import KeyPair
from wascc.providers.codec import HttpRequest
from wascc.providers.keyvalue.provider import MemoryKeyValueProvider

pytestmark = pytest.mark.timeout(60)


async def test_remote_actor_call(member: MakeMember, signer: Signer) -> None:
    """Host B calls an actor that runs only on host A."""
    a, _ = await member()
    b, _ = await member()
    claims = await a.add_actor(signer.sign("echo", caps=[]))
    assert await b.call_actor(claims.subject, "Echo", b"hello") == b"hello"


async def test_promoted_actor_answers_remote_calls_inline(
    member: MakeMember, signer: Signer
) -> None:
    """Once the actor runs inline, remote calls to it are answered inline too (right in the
    subscription's callback), with the right results, and forged ones are still refused."""
    a, lattice_a = await member()
    b, _ = await member()
    claims = await a.add_actor(signer.sign("echo", caps=[]))
    policy = a.actor(claims.subject).inline
    for i in range(200):
        assert await b.call_actor(claims.subject, "Echo", b"%d" % i) == b"%d" % i
        if policy.inline_calls >= 5:
            break
    assert policy.inline_calls >= 5
    assert lattice_a.remote.stats()["in_flight"] == 0
    envelope = seal(Entity.of("system"), Entity(actor=claims.subject), "Echo", b"a", lattice_a.key)
    forged = dataclasses.replace(envelope, msg=b"b")  # signed for "a"
    reply = await lattice_a.client.request(
        Subjects().actor(claims.subject), forged.encode(), timeout=2, what="forged"
    )
    assert "hash mismatch" in (decode_response(reply).error or "")


async def test_slow_call_does_not_hold_up_the_subscription(
    member: MakeMember, signer: Signer
) -> None:
    """While one remote call waits in a slow provider, a later call to the same actor is
    served: each call that cannot answer at once runs as its own task."""
    a, _ = await member()
    b, _ = await member()
    release = asyncio.Event()
    calls = 0

    async def store(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        nonlocal calls
        calls += 1
        mine = calls
        if mine == 1:
            await release.wait()
        return msgpack.packb({"value": mine}, use_bin_type=True)

    await a.add_provider(FunctionProvider("wascc:keyvalue", store))
    counter = await a.add_actor(
        signer.sign("kvcounter", caps=["wascc:keyvalue"]),
        settings=ActorSettings(max_instances=2),
    )
    await a.set_binding(counter.subject, "wascc:keyvalue")
    request = HttpRequest(method="GET", path="/n").encode()
    stuck = asyncio.create_task(b.call_actor(counter.subject, "HandleRequest", request))

    async def waiting() -> bool:
        return calls == 1

    await until(waiting)
    reply = await b.call_actor(counter.subject, "HandleRequest", request)
    assert json.loads(msgpack.unpackb(reply)["body"]) == {"counter": 2}
    assert not stuck.done()
    release.set()
    assert json.loads(msgpack.unpackb(await stuck)["body"]) == {"counter": 1}


async def test_actor_to_actor_across_hosts(member: MakeMember, signer: Signer) -> None:
    """pinger on B calls ponger on A through the lattice."""
    a, _ = await member()
    b, _ = await member()
    pong = await a.add_actor(signer.sign("ponger"))
    ping = await b.add_actor(signer.sign("pinger", caps=[pong.subject]))
    reply = await b.call_actor(ping.subject, "Ping", pong.subject.encode())
    assert reply == b"pong: ping"


async def test_unknown_actor_is_a_clear_error(member: MakeMember) -> None:
    """No host runs the actor: the caller learns it within the RPC timeout (it asks again
    meanwhile, in case a host is just subscribing)."""
    b, _ = await member()
    missing = KeyPair.generate("module").public_key
    with pytest.raises(LatticeUnavailable, match="no host in the lattice serves it"):
        await b.call_actor(missing, "Echo", b"")


async def test_remote_guest_error_comes_back(member: MakeMember, signer: Signer) -> None:
    """An operation the remote actor does not know fails with the remote error text."""
    a, _ = await member()
    b, _ = await member()
    claims = await a.add_actor(signer.sign("echo"))
    with pytest.raises(RemoteError, match="Nope"):
        await b.call_actor(claims.subject, "Nope", b"")


async def test_nats_paused_gives_timeout(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """A call in flight while NATS does not answer ends with a timeout, never a hang."""
    a, _ = await member()
    b, _ = await member(rpc_timeout=0.5)
    claims = await a.add_actor(signer.sign("echo"))
    nats.pause()
    try:
        started = time.monotonic()
        with pytest.raises(LatticeTimeout, match=r"no answer within 0\.5s"):
            await b.call_actor(claims.subject, "Echo", b"x")
        assert time.monotonic() - started < 2.0
    finally:
        nats.resume()


async def test_remote_provider_with_replayed_binding(member: MakeMember, signer: Signer) -> None:
    """kvcounter on B uses a key-value provider on A loaded after the binding was made."""
    b, _ = await member()
    counter = await b.add_actor(signer.sign("kvcounter", caps=["wascc:keyvalue"]))
    await b.set_binding(counter.subject, "wascc:keyvalue")  # no provider anywhere yet
    a, lattice_a = await member()
    await a.add_provider(MemoryKeyValueProvider())
    request = HttpRequest(method="GET", path="/n").encode()

    async def bound() -> bool:
        return bool(lattice_a.remote.incoming)

    await until(bound)
    for expected in (1, 2):
        reply = await b.call_actor(counter.subject, "HandleRequest", request)
        assert json.loads(msgpack.unpackb(reply)["body"]) == {"counter": expected}
    await b.remove_binding(counter.subject, "wascc:keyvalue")

    async def unbound() -> bool:
        return not lattice_a.remote.incoming

    await until(unbound)


async def test_malformed_and_forged_messages_are_answered(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """Garbage, oversized and forged messages get an error reply; the actor keeps serving."""
    a, lattice = await member(max_message=4096)
    b, _ = await member()
    claims = await a.add_actor(signer.sign("echo"))
    subject = Subjects().actor(claims.subject)
    nc = await _raw(nats)
    try:
        for body in (b"\xc1garbage", b"x" * 5000):
            reply = msgpack.unpackb((await nc.request(subject, body, timeout=2)).data)
            assert "MalformedMessage" in reply["error"]
        forged = msgpack.packb(
            {
                "origin": {0: KeyPair.generate("module").public_key},
                "target": {0: claims.subject},
                "operation": "Echo",
                "msg": b"x",
                "id": "1",
                "encoded_claims": "a.b.c",
                "host_id": KeyPair.generate("server").public_key,
            },
            use_bin_type=True,
        )
        reply = msgpack.unpackb((await nc.request(subject, forged, timeout=2)).data)
        assert "ForgedInvocation" in reply["error"]
    finally:
        await nc.close()
    assert lattice.remote.refused == 3
    assert await b.call_actor(claims.subject, "Echo", b"still") == b"still"


async def _raw(server: ServerProcess) -> nats.NATS:
    return await nats.connect(nats_url(server))


async def test_inventory_and_events(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """Every host answers the inventory; changes are published as CloudEvents."""
    a, lattice_a = await member(labels={"zone": "a"})
    b, lattice_b = await member(labels={"zone": "b"})
    client = LatticeClient(nats_url(nats), name="test")
    await client.connect_once()
    seen: list[dict[str, object]] = []

    async def on_event(msg: object) -> None:
        seen.append(json.loads(msg.data))  # type: ignore[attr-defined]

    await client.subscribe("wasmbus.events", on_event)
    await client.flush()
    try:
        claims = await a.add_actor(signer.sign("echo"))
        await b.add_provider(MemoryKeyValueProvider())
        hosts = await gather(client, Subjects(), "hosts", timeout=0.5)
        assert {h["host_id"] for h in hosts} == {lattice_a.host_id, lattice_b.host_id}
        assert {h["labels"]["zone"] for h in hosts} == {"a", "b"}
        actors = await gather(client, Subjects(), "actors", timeout=0.5)
        by_host = {x["host_id"]: [y["key"] for y in x["actors"]] for x in actors}
        assert by_host == {lattice_a.host_id: [claims.subject], lattice_b.host_id: []}
        caps = await gather(client, Subjects(), "capabilities", timeout=0.5)
        assert any(c["capabilities"] for c in caps if c["host_id"] == lattice_b.host_id)

        async def got_events() -> bool:
            kinds = {(e["type"], e["source"]) for e in seen}
            return ("actor_started", lattice_a.host_id) in kinds and (
                "provider_loaded",
                lattice_b.host_id,
            ) in kinds

        await until(got_events)
        event = next(e for e in seen if e["type"] == "actor_started")
        assert event["specversion"] == "1.0"
        assert event["data"]["public_key"] == claims.subject  # type: ignore[index]
    finally:
        await client.close()


async def test_control_launch_terminate_update_and_auction(
    member: MakeMember, signer: Signer, nats: ServerProcess, lattice_account: KeyPair
) -> None:
    """Auction by label picks the matching host; commands signed by the lattice's account
    stop and update the actor on the right hosts."""
    ctl = Controller(lattice_account)
    a, lattice_a = await member(labels={"gpu": "yes"})
    b, _ = await member(labels={"gpu": "no"})
    client = LatticeClient(nats_url(nats), name="ctl")
    await client.connect_once()
    subjects = Subjects()
    try:
        assert await auction(client, subjects, {"gpu": "yes"}, timeout=0.5) == [lattice_a.host_id]
        echo = signer.sign("echo", rev=1)
        started = await launch(client, subjects, echo, constraints={"gpu": "yes"}, signer=ctl)
        assert started["host_id"] == lattice_a.host_id
        assert a.actor(started["key"]).claims.rev == 1
        updated = await update(client, subjects, signer.sign("echo", rev=2), signer=ctl)
        assert [u["rev"] for u in updated] == [2]
        assert a.actor(started["key"]).claims.rev == 2
        stopped = await terminate(client, subjects, started["key"], signer=ctl)
        assert [s["host_id"] for s in stopped] == [lattice_a.host_id]
        with pytest.raises(ActorNotFound):
            a.actor(started["key"])
        with pytest.raises(Exception, match="none answered the auction"):
            await launch(client, subjects, echo, constraints={"gpu": "maybe"}, signer=ctl)
        assert b.inventory()["actors"] == []
    finally:
        await client.close()


async def test_reconnect_after_nats_restart(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """After NATS restarts, hosts reconnect, resubscribe and serve again."""
    a, _ = await member()
    b, lattice_b = await member(rpc_timeout=0.5)
    claims = await a.add_actor(signer.sign("echo"))
    assert await b.call_actor(claims.subject, "Echo", b"1") == b"1"
    nats.stop()
    with pytest.raises((LatticeTimeout, LatticeUnavailable)):
        await b.call_actor(claims.subject, "Echo", b"2")
    nats.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert await b.call_actor(claims.subject, "Echo", b"3") == b"3"
            break
        except (LatticeTimeout, LatticeUnavailable):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    assert lattice_b.client.is_connected


async def test_join_before_nats_starts(
    tmp_path: object, signer: Signer, nats: ServerProcess, lattice_account: KeyPair
) -> None:
    """A host started while NATS is down retries with backoff and joins when it comes."""
    nats.stop()
    trust = TrustPolicy.build(lattice_account=lattice_account.public_key)
    async with Host(trust=trust) as host:
        lattice = Lattice(host, LatticeConfig(url=nats_url(nats), vouch_with=lattice_account))
        await lattice.join()
        try:
            claims = await host.add_actor(signer.sign("echo"))
            await asyncio.sleep(0.6)
            assert not lattice.client.is_connected
            nats.start()
            assert await lattice.client.wait_connected(10)
            async with Host(trust=trust) as other:
                peer = Lattice(other, LatticeConfig(url=nats_url(nats), vouch_with=lattice_account))
                await peer.join(wait=5)
                try:
                    assert await other.call_actor(claims.subject, "Echo", b"k") == b"k"
                finally:
                    await peer.leave()
        finally:
            await lattice.leave()


async def test_the_actors_inventory_carries_each_actors_source(host: Host, signer: Signer) -> None:
    """`wascc ctl get actors` shows where a module came from: the registry reference and
    digest of an actor pulled from one, nothing for a file's."""
    reference = "oci://127.0.0.1:5000/actors/echo@sha256:" + "a" * 64
    await host.add_actor(signer.sign("echo"), source=ActorSource(reference, "sha256:" + "a" * 64))
    await host.add_actor(signer.sign("ponger"))
    answer = host_inventory("actors", host, "N" + "A" * 55, time.monotonic(), {})
    sources = {actor["name"]: actor["source"] for actor in answer["actors"]}
    assert sources == {
        "echo": {"reference": reference, "digest": "sha256:" + "a" * 64},
        "ponger": None,
    }
