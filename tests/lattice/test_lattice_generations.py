"""wasmCloud 0.18 actors across a lattice: a call by call alias to an actor on another host,
and a 0.18 actor using a provider another host loaded (translated there)."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats import connect
from nats.errors import NoRespondersError

from tests.conftest import Signer
from tests.lattice.conftest import MakeMember, nats_url, until
from tests.support.servers import ServerProcess
from wascc.providers.codec import HttpRequest, HttpResponse
from wascc.providers.codec import wasmcloud as wc
from wascc.providers.keyvalue.provider import MemoryKeyValueProvider
from wascc.providers.logging_provider import LoggingProvider
from wascc.providers.messaging import MessagingProvider

pytestmark = pytest.mark.timeout(60)

PONGER = "wasmcloud/examples/ponger"


def http_get(path: str = "/") -> bytes:
    return HttpRequest("GET", path, "", {}, b"").encode()


async def test_an_alias_call_reaches_an_actor_on_another_host(
    member: MakeMember, signer: Signer
) -> None:
    a, _ = await member()
    b, lattice_b = await member()
    ponger = await a.add_actor(signer.sign("wcponger", call_alias=PONGER))
    pinger = await b.add_actor(signer.sign("wcpinger", caps=[wc.HTTP_SERVER]))
    await until(lambda: lattice_b.resolve_alias(PONGER) == ponger.subject)
    reply = await b.call_actor(pinger.subject, "HandleRequest", http_get())
    assert json.loads(HttpResponse.decode(reply).body) == {"value": 53}
    assert b.resolve_alias(PONGER) == ponger.subject
    # Stopped on A: released there, and B's lattice forgets it.
    await a.remove_actor(ponger.subject)
    await until(lambda: lattice_b.resolve_alias(PONGER) is None)


async def test_a_second_generation_actor_uses_a_provider_on_another_host(
    member: MakeMember, signer: Signer
) -> None:
    a, _ = await member()
    b, _ = await member()
    await a.add_provider(MemoryKeyValueProvider())
    counter = await b.add_actor(signer.sign("wckvcounter", caps=[wc.HTTP_SERVER, wc.KEYVALUE]))
    await b.set_binding(counter.subject, wc.KEYVALUE)

    async def counted() -> object:
        reply = await b.call_actor(counter.subject, "HandleRequest", http_get("/x"))
        return json.loads(HttpResponse.decode(reply).body)

    first = await counted()
    assert first == {"counter": 1, "paths": 1}  # {new_count} made on host A
    assert await counted() == {"counter": 2, "paths": 1}


async def test_a_provider_on_another_host_delivers_handle_message(
    member: MakeMember, signer: Signer, nats: ServerProcess
) -> None:
    """The messaging provider on host A delivers to a 0.18 actor on host B: B's host names
    the operation ``HandleMessage`` for it."""
    a, _ = await member()
    b, _ = await member()
    await a.add_provider(MessagingProvider(connect_timeout=1.0, reconnect_wait=0.2))
    await b.add_provider(LoggingProvider())
    claims = await b.add_actor(signer.sign("wcmessenger", caps=[wc.MESSAGING, wc.LOGGING]))
    await b.set_binding(claims.subject, wc.LOGGING)
    await b.set_binding(
        claims.subject,
        wc.MESSAGING,
        values={"URL": nats_url(nats), "SUBSCRIPTION": "wc.remote"},
    )
    client = await connect(nats_url(nats))
    try:
        reply = None
        for _ in range(50):  # until A's provider subscribed for the binding B sent it
            try:
                reply = await client.request("wc.remote", b"hi", timeout=0.5)
                break
            except NoRespondersError:
                await asyncio.sleep(0.1)
        assert reply is not None
        assert reply.data == b"echo: hi"
    finally:
        await client.close()
