"""The messaging provider against a real nats-server: delivery, publish, request, queue groups,
a NATS restart, and malformed payloads."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nats.errors
import pytest

from tests.messaging.conftest import Env, bind_forwarder, bind_messenger, nats_url
from tests.providers.providers_support import eventually
from wascc.host import Host
from wascc.host.errors import GuestError, ProviderError
from wascc.providers.codec import MESSAGING, PublishMessage, RequestMessage


async def guest_error(host: Host, actor: str, operation: str, payload: bytes) -> str:
    """The error text the actor returns for this call (it must fail)."""
    with pytest.raises(GuestError) as caught:
        await host.call_actor(actor, operation, payload)
    return caught.value.guest_error


# delivery to actors ------------------------------------------------------------------------


async def test_request_reply_through_the_messenger_actor(env: Env) -> None:
    """A NATS request on the actor's subject is answered by the actor, uppercased."""
    await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper")
    reply = await env.client.request("upper", b"hello, world", timeout=5)
    assert reply.data == b"HELLO, WORLD"


async def test_every_subscribed_subject_is_delivered(env: Env) -> None:
    """Comma-separated subjects, wildcards included, all reach the actor; others do not."""
    await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION=" a.one , b.* ")
    assert (await env.client.request("a.one", b"x", timeout=5)).data == b"X"
    assert (await env.client.request("b.two", b"y", timeout=5)).data == b"Y"
    with pytest.raises(nats.errors.NoRespondersError):
        await env.client.request("c", b"z", timeout=2)


async def test_a_message_without_reply_subject_is_delivered_too(env: Env) -> None:
    """Plain publishes reach the actor as DeliverMessage with an empty replyTo."""
    actor = await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="events")
    for _ in range(5):
        await env.client.publish("events", b"\x00\xff binary is fine")
    await env.client.flush()
    link = env.messaging.link_of(actor)
    await eventually(lambda: link.delivered == 5, timeout=10)


async def test_removing_the_binding_unsubscribes(env: Env) -> None:
    """After the binding is removed nobody answers on the actor's subject any more."""
    actor = await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper")
    assert (await env.client.request("upper", b"a", timeout=5)).data == b"A"
    await env.host.remove_binding(actor, MESSAGING)
    with pytest.raises(nats.errors.NoRespondersError):
        await env.client.request("upper", b"a", timeout=2)


@pytest.mark.parametrize(("queue", "copies"), [("workers", 1), ("", 2)])
async def test_a_queue_group_shares_messages_between_actors(
    env: Env, queue: str, copies: int
) -> None:
    """In a queue group each message reaches one of the actors; without, every actor."""
    actors = [
        await bind_messenger(
            env.host,
            env.signer,
            env.server,
            name=f"m{i}",
            SUBSCRIPTION="jobs",
            QUEUEGROUP_NAME=queue,
        )
        for i in range(2)
    ]
    replies: list[bytes] = []

    async def collect(message: Any) -> None:
        replies.append(message.data)

    await env.client.subscribe("done", cb=collect)
    for i in range(40):
        await env.client.publish("jobs", f"job {i}".encode(), reply="done")
    await env.client.flush()
    await eventually(
        lambda: len(replies) >= 40 * copies,
        timeout=20,
        state=lambda: (len(replies), [env.messaging.link_of(a).delivered for a in actors]),
    )
    await asyncio.sleep(0.3)  # nothing more arrives
    assert len(replies) == 40 * copies
    assert sorted(set(replies)) == sorted(f"JOB {i}".encode() for i in range(40))
    counts = [env.messaging.link_of(actor).delivered for actor in actors]
    assert sum(counts) == 40 * copies
    assert all(count > 0 for count in counts), counts


# actors calling NATS -----------------------------------------------------------------------


async def test_an_actor_publishes_with_a_reply_subject(env: Env) -> None:
    """Publish from an actor reaches NATS subscribers with its body and reply subject."""
    sender = await bind_forwarder(env.host, env.signer, env.server)
    sub = await env.client.subscribe("news")
    await env.client.flush()  # the server knows the subscription before the actor publishes
    message = PublishMessage(subject="news", reply_to="back", body=b"\x00payload")
    assert await env.host.call_actor(sender, "Publish", message.encode()) == b""
    received = await sub.next_msg(timeout=5)
    assert (received.data, received.reply) == (b"\x00payload", "back")
    await sub.unsubscribe()


async def test_an_actor_request_gets_the_raw_reply(env: Env) -> None:
    """Request from an actor returns the reply's bytes exactly."""
    sender = await bind_forwarder(env.host, env.signer, env.server)

    async def respond(message: Any) -> None:
        await message.respond(b"pong:" + message.data)

    await env.client.subscribe("svc", cb=respond)
    await env.client.flush()
    request = RequestMessage(subject="svc", body=b"ping", timeout=2000)
    assert await env.host.call_actor(sender, "Request", request.encode()) == b"pong:ping"


async def test_an_actor_request_honours_its_timeout(env: Env) -> None:
    """A request nobody answers fails after its own timeout; one nobody hears fails at once."""
    sender = await bind_forwarder(env.host, env.signer, env.server)
    await env.client.subscribe("silent")  # hears, never answers
    await env.client.flush()
    started = time.monotonic()
    request = RequestMessage(subject="silent", body=b"?", timeout=300)
    error = await guest_error(env.host, sender, "Request", request.encode())
    assert 0.25 <= time.monotonic() - started < 3
    assert "no reply within the timeout" in error
    assert "Request for actor sender" in error
    nobody = RequestMessage(subject="nobody.home", body=b"?", timeout=5000)
    started = time.monotonic()
    assert "nobody subscribes" in await guest_error(env.host, sender, "Request", nobody.encode())
    assert time.monotonic() - started < 3


async def test_malformed_calls_are_error_replies_and_nothing_breaks(env: Env) -> None:
    """Garbage, missing fields, bad subjects and unknown operations are error replies; the
    connection and the actor keep working."""
    sender = await bind_forwarder(env.host, env.signer, env.server)
    assert "not valid msgpack" in await guest_error(env.host, sender, "Publish", b"\xc1garbage")
    assert "'subject'" in await guest_error(env.host, sender, "Request", b"\x80")
    bad_subject = PublishMessage(subject="has space", body=b"x").encode()
    assert "not valid" in await guest_error(env.host, sender, "Publish", bad_subject)
    empty = PublishMessage(subject="", body=b"x").encode()
    assert "not valid" in await guest_error(env.host, sender, "Publish", empty)
    negative = RequestMessage(subject="svc", timeout=-5).encode()
    assert "negative" in await guest_error(env.host, sender, "Request", negative)
    deliver = await guest_error(env.host, sender, "DeliverMessage", empty)
    assert "no such operation" in deliver
    sub = await env.client.subscribe("still.works")
    await env.client.flush()
    ok = PublishMessage(subject="still.works", body=b"yes").encode()
    await env.host.call_actor(sender, "Publish", ok)
    assert (await sub.next_msg(timeout=5)).data == b"yes"
    await sub.unsubscribe()


async def test_the_messenger_refuses_a_malformed_delivery(env: Env) -> None:
    """A DeliverMessage that is not a map is the messenger's guest error; it goes on after."""
    actor = await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper")
    error = await guest_error(env.host, actor, "DeliverMessage", b"\x93\x01\x02\x03")
    assert error == "messenger: cannot decode DeliverMessage"
    assert (await env.client.request("upper", b"ok", timeout=5)).data == b"OK"


# outages -----------------------------------------------------------------------------------


async def test_the_provider_reconnects_and_resubscribes_after_a_nats_restart(env: Env) -> None:
    """Traffic resumes through the actor after nats-server restarts in the middle of it."""
    actor = await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper")
    sender = await bind_forwarder(env.host, env.signer, env.server)
    answered: list[float] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                reply = await env.client.request("upper", b"ping", timeout=0.5)
            except nats.errors.Error:
                await asyncio.sleep(0.05)
                continue
            assert reply.data == b"PING"
            answered.append(time.monotonic())

    task = asyncio.create_task(traffic())
    try:
        await eventually(lambda: len(answered) >= 5, timeout=10)
        await asyncio.to_thread(env.server.stop)
        restarted = time.monotonic()
        await asyncio.to_thread(env.server.start)
        await eventually(lambda: bool(answered) and answered[-1] > restarted, timeout=15)
    finally:
        stop.set()
        await task
    link = env.messaging.link_of(actor)
    assert link.is_connected
    sub = await env.client.subscribe("after.restart")
    await env.client.flush()
    await env.host.call_actor(
        sender, "Publish", PublishMessage("after.restart", body=b"b").encode()
    )
    assert (await sub.next_msg(timeout=5)).data == b"b"
    await sub.unsubscribe()


async def test_binding_fails_fast_when_nats_is_unreachable(env: Env) -> None:
    """With NATS down, the binding fails within seconds with the URL and the fix."""
    await asyncio.to_thread(env.server.stop)
    claims = await env.host.add_actor(env.signer.sign("messenger", caps=[MESSAGING]))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="cannot be reached") as caught:
        await env.host.set_binding(claims.subject, MESSAGING, values={"URL": nats_url(env.server)})
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{env.server.port}" in str(caught.value)
    assert "start nats-server" in str(caught.value)
