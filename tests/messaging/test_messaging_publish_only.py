"""A messaging binding with ``PUBLISH_ONLY=true``, against a real nats-server: its direct calls
are ``loop_safe``, so the host may run the actor on the event loop's thread, and a Request is
refused at once, with the reason and the fix, on every path. Without it nothing changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.messaging.conftest import (
    Env,
    bind_forwarder,
    bind_messenger,
    publish,
    received,
    subscribed,
    while_the_loop_waits,
)
from wascc.host.errors import GuestError, ProviderError
from wascc.host.inline import InlinePolicy
from wascc.host.natsio import round_trip
from wascc.providers.codec import MESSAGING, RequestMessage

REFUSED = "the binding has PUBLISH_ONLY=true, so Request is refused"
FIX = "remove PUBLISH_ONLY from the binding's values to allow Request"
# Sequential requests are quick, so a messenger that may run inline is promoted after
# PROMOTE_AFTER of them; on a loaded machine a slow worker call restarts the streak, so the
# tests keep requesting up to PATIENCE times.
PATIENCE = 2000
INLINE_ANSWERS = 20
"""Requests the messenger must answer inline: promoted, and going on answering there."""


async def messenger(env: Env, **values: str) -> str:
    """The messenger sample actor, answering requests on ``upper``, bound with ``values``."""
    return await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper", **values)


async def ask(client: Any, body: bytes) -> None:
    """One request to the messenger; it must answer with the body uppercased."""
    reply = await client.request("upper", body, timeout=5)
    assert reply.data == body.upper()


# the binding's value -------------------------------------------------------------------------


async def test_a_bad_value_is_refused_at_bind_time(env: Env) -> None:
    """A PUBLISH_ONLY that is neither true nor false fails the binding, saying what to fix."""
    with pytest.raises(ProviderError) as caught:
        await bind_forwarder(env.host, env.signer, env.server, PUBLISH_ONLY="sometimes")
    message = str(caught.value)
    assert "(binding 'default') cannot bind actor sender" in message
    assert "PUBLISH_ONLY='sometimes' is neither true nor false" in message
    assert "fix the binding's values" in message


@pytest.mark.parametrize(
    ("values", "loop_safe"),
    [({}, False), ({"PUBLISH_ONLY": "false"}, False), ({"PUBLISH_ONLY": "Yes"}, True)],
    ids=["default", "false", "yes"],
)
async def test_only_a_publish_only_binding_is_loop_safe(
    env: Env, values: dict[str, str], loop_safe: bool
) -> None:
    """Direct calls are loop_safe with PUBLISH_ONLY=true while the binding is open, and never
    without it."""
    actor = await bind_forwarder(env.host, env.signer, env.server, **values)
    calls = env.messaging.direct(actor, "default")
    assert calls.loop_safe is loop_safe
    await env.host.remove_binding(actor, MESSAGING)
    assert calls.loop_safe is False


# Request refused -------------------------------------------------------------------------------


async def test_a_request_is_refused_on_every_path(env: Env) -> None:
    """Through handle, direct calls on a worker thread or on the loop's, and from an actor, a
    Request fails at once with the same error naming the binding, the reason and the fix, and
    nothing reaches NATS; a malformed Request gets the same answer."""
    actor = await bind_forwarder(env.host, env.signer, env.server, PUBLISH_ONLY="true")
    calls = env.messaging.direct(actor, "default")
    sub = await subscribed(env.client, "svc")
    for payload in (RequestMessage(subject="svc", body=b"ping", timeout=2000).encode(), b"\x80"):
        with pytest.raises(ProviderError) as through_handle:
            await env.messaging.handle(actor, "default", "Request", payload)
        message = str(through_handle.value)
        assert message.startswith("wascc:messaging Request for actor sender (")
        assert "(binding 'default'): " in message
        assert REFUSED in message
        assert FIX in message
        with pytest.raises(ProviderError) as on_a_worker:
            while_the_loop_waits(lambda payload=payload: calls.call("Request", payload))
        assert str(on_a_worker.value) == message
        with pytest.raises(ProviderError) as on_the_loop:
            calls.call("Request", payload)
        assert str(on_the_loop.value) == message
        with pytest.raises(GuestError) as from_the_actor:
            await env.host.call_actor(actor, "Request", payload)
        assert REFUSED in from_the_actor.value.guest_error
    # Publish still works, and is the first thing the subscriber sees: no request went out.
    assert await env.host.call_actor(actor, "Publish", publish("svc", b"published")) == b""
    assert await received(sub, 1) == [b"published"]


async def test_publishes_on_the_loop_thread_follow_those_of_workers(env: Env) -> None:
    """A publish-only binding publishes on the loop's thread as any binding does: at once, and
    after what worker threads handed over before, in call order."""
    actor = await bind_forwarder(env.host, env.signer, env.server, PUBLISH_ONLY="1")
    calls = env.messaging.direct(actor, "default")
    sub = await subscribed(env.client, "seq")

    def burst() -> None:
        for i in range(100):
            calls.call("Publish", publish("seq", str(i).encode()))

    while_the_loop_waits(burst)
    for i in range(100, 200):
        assert calls.call("Publish", publish("seq", str(i).encode())) == b""
    assert await received(sub, 200) == [str(i).encode() for i in range(200)]


# end to end: the messenger actor ---------------------------------------------------------------


async def test_a_publish_only_messenger_runs_inline_and_answers(env: Env) -> None:
    """The messenger bound with PUBLISH_ONLY=true answers every request, and once its calls
    proved quick the host runs them on the event loop's thread, where it goes on answering."""
    actor = await messenger(env, PUBLISH_ONLY="true")
    policy = env.host.actor(actor).inline
    for i in range(PATIENCE):
        await ask(env.client, f"hello {i}".encode())
        if policy.inline_calls >= INLINE_ANSWERS:
            break
    assert policy.inline_calls >= INLINE_ANSWERS, (
        f"{policy.inline_calls} inline calls in {PATIENCE} requests"
    )
    # Many requests at once: answered right too, whichever thread runs them.
    await asyncio.gather(*(ask(env.client, f"at once {i}".encode()) for i in range(50)))


async def test_a_messenger_that_may_request_stays_on_worker_threads(env: Env) -> None:
    """Without PUBLISH_ONLY the messenger answers too, but never on the event loop's thread,
    however many quick calls it makes."""
    actor = await messenger(env)
    for i in range(InlinePolicy.PROMOTE_AFTER * 8):
        await ask(env.client, f"hello {i}".encode())
    await round_trip(env.client, 5)
    assert env.host.actor(actor).inline.inline_calls == 0
