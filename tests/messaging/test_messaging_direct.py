"""The messaging binding's calls on the calling thread (``MessagingProvider.direct``) against a
real nats-server: a Publish that does not wait, on a worker thread and on the loop's, in order;
a Publish that fails afterwards; a Request from a worker thread; the same errors as ``handle``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import nats
import pytest

from tests.messaging.conftest import (
    bind_forwarder,
    nats_url,
    publish,
    received,
    subscribed,
    while_the_loop_waits,
)
from tests.providers.providers_support import SignerLike, eventually
from tests.support.servers import ServerProcess
from wascc.host import Host
from wascc.host.errors import ProviderError
from wascc.host.natsio import round_trip
from wascc.providers.codec import RequestMessage
from wascc.providers.messaging import DirectMessaging, MessagingProvider
from wascc.providers.messaging.eager import start_eagerly

LOGGER = "wascc.provider.messaging"


@dataclass
class Direct:
    """A forwarding actor bound to messaging, its direct calls, and a raw client."""

    host: Host
    messaging: MessagingProvider
    server: ServerProcess
    client: Any
    actor: str
    calls: DirectMessaging


@pytest.fixture
async def direct(
    host: Host,
    signer: SignerLike,
    messaging: MessagingProvider,
    nats_srv: ServerProcess,
    client: Any,
) -> Direct:
    """The direct calls of a bound actor's default binding."""
    actor = await bind_forwarder(host, signer, nats_srv)
    return Direct(host, messaging, nats_srv, client, actor, messaging.direct(actor, "default"))


# nats-py's publish, stepped by hand -----------------------------------------------------


async def test_nats_py_buffers_a_publish_before_it_first_waits(client: Any) -> None:
    """What ``eager`` relies on (nats-py 2.16.0): ``publish`` puts the PUB in the send buffer
    without waiting, and, with the buffer over its limit, before its first wait."""
    sub = await subscribed(client, "eager")
    before = client.pending_data_size
    assert start_eagerly(client.publish("eager", b"now"), name="test") is None
    assert client.pending_data_size >= before + len(b"PUB eager 3\r\nnow\r\n")
    assert await received(sub, 1) == [b"now"]


async def test_nats_py_over_its_buffer_limit_finishes_in_a_task(nats_srv: ServerProcess) -> None:
    """Over its buffer limit nats-py waits for its flusher: the message is in the buffer
    already, the rest runs as a task, and the messages arrive in order."""
    tiny = await nats.connect(nats_url(nats_srv), pending_size=1, connect_timeout=1)
    try:
        sub = await subscribed(tiny, "eager.full")
        rests = []
        for i in range(20):
            before = tiny.pending_data_size
            rest = start_eagerly(tiny.publish("eager.full", str(i).encode()), name="test")
            assert rest is not None
            assert tiny.pending_data_size > before
            rests.append(rest)
        await asyncio.wait_for(asyncio.gather(*rests), timeout=5)
        assert await received(sub, 20) == [str(i).encode() for i in range(20)]
    finally:
        await tiny.close()


# Publish -------------------------------------------------------------------------------------


async def test_a_publish_from_a_worker_thread_does_not_wait_for_the_loop(direct: Direct) -> None:
    """A worker thread's Publish returns while the loop is blocked; the message arrives once
    the loop runs again, with its reply subject."""
    assert direct.calls.loop_safe is False
    sub = await subscribed(direct.client, "news")
    payload = publish("news", b"\x00payload", reply_to="back")

    def call() -> tuple[bytes, float]:
        started = time.monotonic()
        return direct.calls.call("Publish", payload), time.monotonic() - started

    reply, took = while_the_loop_waits(call)
    assert reply == b""
    assert took < 1.0
    message = await sub.next_msg(timeout=5)
    assert (message.data, message.reply) == (b"\x00payload", "back")


async def test_a_publish_on_the_loop_thread_is_buffered_at_once(direct: Direct) -> None:
    """On the loop's thread Publish writes into nats-py's buffer before it returns."""
    sub = await subscribed(direct.client, "here")
    assert direct.calls.call("Publish", publish("here", b"at once")) == b""
    assert await received(sub, 1) == [b"at once"]


async def test_publishes_from_one_worker_thread_arrive_in_order(direct: Direct) -> None:
    """Many Publish calls queued while the loop is blocked reach NATS in call order, and a
    Publish on the loop's thread after them comes after them."""
    sub = await subscribed(direct.client, "seq")

    def burst() -> None:
        for i in range(300):
            direct.calls.call("Publish", publish("seq", str(i).encode()))

    while_the_loop_waits(burst)
    direct.calls.call("Publish", publish("seq", b"last"))
    expected = [str(i).encode() for i in range(300)] + [b"last"]
    assert await received(sub, 301) == expected


async def test_publishes_on_the_loop_thread_arrive_in_order(direct: Direct) -> None:
    """Many Publish calls on the loop's thread reach NATS in call order."""
    sub = await subscribed(direct.client, "seq.loop")
    for i in range(300):
        direct.calls.call("Publish", publish("seq.loop", str(i).encode()))
    assert await received(sub, 300) == [str(i).encode() for i in range(300)]


async def test_big_publishes_from_a_worker_thread_all_arrive(direct: Direct) -> None:
    """Bodies well past what the loop may have queued make the worker wait for it, not fail."""
    sub = await subscribed(direct.client, "big")
    bodies = [bytes([i]) * 700_000 for i in range(8)]  # 5.6 MB, nearly 3 x MAX_QUEUED

    def burst() -> None:
        for body in bodies:
            assert direct.calls.call("Publish", publish("big", body)) == b""

    await asyncio.wait_for(asyncio.to_thread(burst), timeout=20)
    assert await received(sub, len(bodies)) == bodies


async def test_a_worker_that_outruns_a_stuck_loop_is_told(direct: Direct) -> None:
    """Past MAX_QUEUED bytes handed to a loop that does not run, a Publish fails after the
    provider's request timeout; what was handed over is published once the loop runs."""
    direct.messaging.request_timeout = 0.5
    calls = direct.messaging.direct(direct.actor, "default")
    sub = await subscribed(direct.client, "stuck")
    bodies = [bytes([i]) * 900_000 for i in range(3)]
    sent: list[bytes] = []

    def burst() -> None:
        for body in bodies:
            calls.call("Publish", publish("stuck", body))
            sent.append(body)

    with pytest.raises(ProviderError, match="takes messages more slowly") as caught:
        while_the_loop_waits(burst)
    assert "binding 'default'" in str(caught.value)
    assert len(sent) == 2
    assert await received(sub, 2) == sent


async def test_a_publish_after_the_binding_went_is_refused(direct: Direct) -> None:
    """Once the binding is removed a Publish fails at once, on a worker thread and on the
    loop's."""
    calls = direct.calls
    await direct.host.remove_binding(direct.actor, "wascc:messaging")
    with pytest.raises(ProviderError, match=r"binding 'default'.*the binding was removed"):
        await asyncio.to_thread(calls.call, "Publish", publish("gone", b"x"))
    with pytest.raises(ProviderError, match=r"binding 'default'.*the binding was removed"):
        calls.call("Publish", publish("gone", b"x"))


async def test_a_publish_that_overflows_during_an_outage_is_reported_next_time(
    direct: Direct, caplog: pytest.LogCaptureFixture
) -> None:
    """With NATS down nats-py keeps messages up to its buffer's limit; the one past it fails
    after its call returned: logged, then the next call's ProviderError (once)."""
    link = direct.messaging.link_of(direct.actor)
    await asyncio.to_thread(direct.server.stop)
    await eventually(lambda: not link.is_connected, timeout=10)
    body = b"z" * 900_000  # nats-py keeps 2 MiB while it reconnects: the third is too many
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for _ in range(3):
            reply = await asyncio.to_thread(direct.calls.call, "Publish", publish("out", body))
            assert reply == b""
        await eventually(
            lambda: any("was not sent" in r.getMessage() for r in caplog.records), timeout=5
        )
    with pytest.raises(ProviderError) as caught:
        await asyncio.to_thread(direct.calls.call, "Publish", publish("out", b"small"))
    text = str(caught.value)
    assert "(binding 'default')" in text
    assert "subject 'out'" in text
    assert "start nats-server" in text
    # Reported once: the next call goes through (into the buffer, NATS still down).
    assert await asyncio.to_thread(direct.calls.call, "Publish", publish("out", b"small")) == b""


async def test_an_overflow_on_the_loop_thread_is_the_calls_own_error(direct: Direct) -> None:
    """On the loop's thread the Publish nats-py refuses fails itself, nothing is kept."""
    link = direct.messaging.link_of(direct.actor)
    await asyncio.to_thread(direct.server.stop)
    await eventually(lambda: not link.is_connected, timeout=10)
    body = b"z" * 900_000
    for _ in range(2):
        assert direct.calls.call("Publish", publish("out", body)) == b""
    with pytest.raises(ProviderError, match=r"binding 'default'.*start nats-server"):
        direct.calls.call("Publish", publish("out", body))
    assert direct.calls.call("Publish", publish("out", b"small")) == b""


# Request -------------------------------------------------------------------------------------


async def test_a_request_from_a_worker_thread_gets_the_reply(direct: Direct) -> None:
    """Request waits for the loop's round trip and returns the reply's bytes."""

    async def respond(message: Any) -> None:
        await message.respond(b"pong:" + message.data)

    await direct.client.subscribe("svc", cb=respond)
    await round_trip(direct.client, 5)
    request = RequestMessage(subject="svc", body=b"ping", timeout=2000).encode()
    reply = await asyncio.wait_for(
        asyncio.to_thread(direct.calls.call, "Request", request), timeout=10
    )
    assert reply == b"pong:ping"
    nobody = RequestMessage(subject="nobody.home", body=b"?", timeout=2000).encode()
    with pytest.raises(ProviderError, match="nobody subscribes"):
        await asyncio.wait_for(asyncio.to_thread(direct.calls.call, "Request", nobody), 10)


async def test_a_request_on_the_loop_thread_is_refused(direct: Direct) -> None:
    """On the loop's thread a Request would wait for its own thread: it is refused at once."""
    request = RequestMessage(subject="svc", body=b"ping", timeout=2000).encode()
    with pytest.raises(ProviderError, match="cannot be answered on the event loop's thread"):
        direct.calls.call("Request", request)


# the same errors as handle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("Publish", b"\xc1garbage"),
        ("Publish", b"\x80"),
        ("Publish", publish("has space", b"x")),
        ("Publish", publish("", b"x")),
        ("Publish", publish("ok", b"x", reply_to="bad\r\nreply")),
        ("Publish", publish("ok", b"x" * (1024 * 1024 + 1))),
        ("Request", b"\x80"),
        ("Request", RequestMessage(subject="svc", timeout=-5).encode()),
        ("DeliverMessage", publish("ok")),
    ],
    ids=[
        "garbage",
        "no-subject",
        "space",
        "empty",
        "bad-reply",
        "too-big",
        "request-no-subject",
        "negative-timeout",
        "unknown-operation",
    ],
)
async def test_a_bad_call_gets_the_same_error_as_through_handle(
    direct: Direct, operation: str, payload: bytes
) -> None:
    """Direct calls decode and check a call exactly as ``handle`` does, on any thread."""
    with pytest.raises(ProviderError) as through_handle:
        await direct.messaging.handle(direct.actor, "default", operation, payload)
    with pytest.raises(ProviderError) as on_a_worker:
        await asyncio.to_thread(direct.calls.call, operation, payload)
    assert str(on_a_worker.value) == str(through_handle.value)
    if operation != "Request":
        with pytest.raises(ProviderError) as on_the_loop:
            direct.calls.call(operation, payload)
        assert str(on_the_loop.value) == str(through_handle.value)
    sub = await subscribed(direct.client, "still.works")
    direct.calls.call("Publish", publish("still.works", b"yes"))
    assert await received(sub, 1) == [b"yes"]
