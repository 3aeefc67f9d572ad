"""Bindings across hosts that survive outages, and bindings of actors that run elsewhere."""

from __future__ import annotations

import json
import time

import msgpack
import pytest

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, until
from tests.support.servers import ServerProcess
from wascc.host import Host
from wascc.host.errors import LatticeError, WasccError
from wascc.keys.nkeys import KeyPair
from wascc.providers.codec import HttpRequest
from wascc.providers.keyvalue.provider import MemoryKeyValueProvider

pytestmark = pytest.mark.timeout(60)

KV = "wascc:keyvalue"
REQUEST = HttpRequest(method="GET", path="/n").encode()


async def count(host: Host, actor: str) -> int:
    """One kvcounter request on ``host``: the counter it answers."""
    reply = await host.call_actor(actor, "HandleRequest", REQUEST)
    return int(json.loads(msgpack.unpackb(reply)["body"])["counter"])


async def test_binding_replayed_after_nats_restart(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """NATS restarts while the provider's host reloads its provider (its announcement is
    lost, the new provider knows no binding): once both reconnect, the binding is replayed
    and kvcounter on B uses the provider on A again."""
    a, lattice_a = await member()
    b, _ = await member(rpc_timeout=0.5)
    counter = await b.add_actor(signer.sign("kvcounter", caps=[KV]))
    await a.add_provider(MemoryKeyValueProvider())
    await b.set_binding(counter.subject, KV)
    await until(lambda: bool(lattice_a.remote.incoming))
    assert await count(b, counter.subject) == 1
    nats.stop()
    await until(lambda: not lattice_a.client.is_connected)
    await a.remove_provider(KV, "default")  # a provider host that restarted meanwhile
    await a.add_provider(MemoryKeyValueProvider())
    assert not lattice_a.remote.incoming
    nats.start()

    async def counts_again() -> bool:
        try:
            return await count(b, counter.subject) == 1
        except WasccError:  # not reconnected or not replayed yet: a clear error, no hang
            return False

    await until(counts_again, timeout=15)
    assert await count(b, counter.subject) == 2


async def test_bind_an_actor_of_another_host(member: MakeMember, signer: Signer) -> None:
    """B binds kvcounter, which runs only on A, to B's key-value provider: A routes the
    actor's calls to it; the binding comes back when A restarts the actor and goes when B
    removes it."""
    a, _ = await member()
    b, lattice_b = await member()
    module = signer.sign("kvcounter", caps=[KV])
    counter = await a.add_actor(module)
    await b.add_provider(MemoryKeyValueProvider())
    host_id, claims = await lattice_b.find_actor(counter.subject, timeout=5)
    assert KV in claims["caps"]
    await lattice_b.bind_remote_actor(counter.subject, KV, "default", {})
    await until(lambda: a.find_binding(counter.subject, KV, "default") is not None)
    assert [await count(a, counter.subject) for _ in range(2)] == [1, 2]
    inventory = a.inventory()["bindings"]
    assert [(x["actor"], x["contract_id"]) for x in inventory] == [(counter.subject, KV)]

    await a.remove_actor(counter.subject)  # the actor restarts: B announces its binding again
    assert a.find_binding(counter.subject, KV, "default") is None
    await a.add_actor(module)
    await until(lambda: a.find_binding(counter.subject, KV, "default") is not None)
    assert await count(a, counter.subject) == 3

    await lattice_b.unbind_remote_actors()
    await until(lambda: a.find_binding(counter.subject, KV, "default") is None)
    await until(lambda: not lattice_b.remote.incoming)
    assert host_id != lattice_b.host_id


async def test_other_hosts_bindings_are_not_touched(member: MakeMember, signer: Signer) -> None:
    """A binding recorded from another host never replaces one of this host, and an event
    from a third host cannot remove it."""
    a, lattice_a = await member()
    b, lattice_b = await member()
    counter = await a.add_actor(signer.sign("kvcounter", caps=[KV]))
    await a.add_provider(MemoryKeyValueProvider())
    await a.set_binding(counter.subject, KV)  # A's own binding
    await b.add_provider(MemoryKeyValueProvider(), binding="other")
    await lattice_b.bind_remote_actor(counter.subject, KV, "other", {})
    await until(lambda: a.find_binding(counter.subject, KV, "other") is not None)
    assert lattice_a.adopted == {(counter.subject, KV, "other"): lattice_b.host_id}
    assert not a.forget_binding(counter.subject, KV, "default")  # A's own: not forgettable
    await lattice_b.unbind_remote_actors()
    await until(lambda: a.find_binding(counter.subject, KV, "other") is None)
    assert a.find_binding(counter.subject, KV, "default") is not None


async def test_find_actor_that_no_host_runs(member: MakeMember) -> None:
    """Looking up an actor nobody runs ends, after the timeout, with the fix."""
    _, lattice = await member()
    missing = KeyPair.generate("module").public_key
    started = time.monotonic()
    with pytest.raises(LatticeError, match=f"no host of the lattice .* runs actor {missing}"):
        await lattice.find_actor(missing, timeout=0.5)
    assert time.monotonic() - started < 3
