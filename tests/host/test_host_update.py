"""Live update: replace_actor swaps an actor's module without losing or failing a call."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Signer
from wascc.host import ActorSettings, Host
from wascc.host.errors import ActorNotFound, GuestError, RevisionNotNewer
from wascc.host.testing import FunctionProvider, sleeping_handler


async def test_later_calls_go_to_the_new_module(signer: Signer, host: Host) -> None:
    """After the update the actor answers with the new module's behaviour."""
    old = await host.add_actor(signer.sign("echo", name="svc", rev=1))
    assert await host.call_actor(old.subject, "Echo", b"a") == b"a"
    new = await host.replace_actor(signer.sign("ponger", name="svc", rev=2))
    assert new.subject == old.subject
    assert host.actor(new.subject).claims.rev == 2
    assert await host.call_actor(new.subject, "Pong", b"a") == b"pong: a"
    with pytest.raises(GuestError, match="unknown operation: Echo"):
        await host.call_actor(new.subject, "Echo", b"a")


async def test_lower_or_equal_revision_is_refused(signer: Signer, host: Host) -> None:
    """An update whose rev is not higher is refused with the fix; force=True overrides."""
    await host.add_actor(signer.sign("echo", name="svc", rev=3))
    with pytest.raises(RevisionNotNewer, match="higher --rev"):
        await host.replace_actor(signer.sign("ponger", name="svc", rev=3))
    claims = await host.replace_actor(signer.sign("ponger", name="svc", rev=1), force=True)
    assert await host.call_actor(claims.subject, "Pong", b"") == b"pong: "


async def test_update_of_an_actor_that_is_not_running(signer: Signer, host: Host) -> None:
    """replace_actor on an unknown subject says to use add_actor."""
    with pytest.raises(ActorNotFound, match="use add_actor"):
        await host.replace_actor(signer.sign("echo", rev=2))


async def test_calls_in_flight_finish_on_the_old_instances(signer: Signer, host: Host) -> None:
    """A call running during the swap, and one queued behind it, both complete."""
    await host.add_provider(FunctionProvider("test:slow", sleeping_handler(0.3, b"old done")))
    old = await host.add_actor(
        signer.sign("fixtures/hostcall", name="svc", caps=["test:slow"], rev=1),
        settings=ActorSettings(max_instances=1),
    )
    await host.set_binding(old.subject, "test:slow")
    running = asyncio.create_task(host.call_actor(old.subject, "Wait", b""))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(host.call_actor(old.subject, "Wait", b""))
    await asyncio.sleep(0.05)
    await host.replace_actor(signer.sign("ponger", name="svc", rev=2))
    assert await host.call_actor(old.subject, "Pong", b"new") == b"pong: new"
    assert await asyncio.gather(running, queued) == [b"old done", b"old done"]


async def test_no_call_is_lost_during_updates_under_load(signer: Signer, host: Host) -> None:
    """Concurrent callers see every call succeed across several live updates."""
    claims = await host.add_actor(
        signer.sign("echo", name="svc", rev=1), settings=ActorSettings(max_instances=2)
    )
    stop = asyncio.Event()
    results: list[bool] = []

    async def caller(n: int) -> None:
        i = 0
        while not stop.is_set():
            payload = f"{n}-{i}".encode()
            results.append(await host.call_actor(claims.subject, "Echo", payload) == payload)
            i += 1

    callers = [asyncio.create_task(caller(n)) for n in range(8)]
    for rev in range(2, 6):
        await asyncio.sleep(0.05)
        await host.replace_actor(signer.sign("echo", name="svc", rev=rev))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*callers)
    assert len(results) > 50
    assert all(results)
    assert host.actor(claims.subject).claims.rev == 5
