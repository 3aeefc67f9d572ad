"""One messaging provider, over a real nats-server, serving a waSCC 0.14 actor and a
wasmCloud 0.18 actor side by side: ``HandleMessage`` instead of ``DeliverMessage``,
``{published}`` after ``Publish``, and the ``Request`` reply as a map."""

from __future__ import annotations

import logging

import pytest

from tests.messaging.conftest import Env, bind_messenger, nats_url, received, subscribed
from tests.providers.providers_support import sign_forwarder
from wascc.providers.codec import wasmcloud as wc
from wascc.providers.logging_provider import LoggingProvider

WC_MESSAGING = wc.MESSAGING


async def test_both_generations_answer_requests_through_one_provider(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    await bind_messenger(env.host, env.signer, env.server, SUBSCRIPTION="upper")
    claims = await env.host.add_actor(
        env.signer.sign("wcmessenger", caps=[WC_MESSAGING, wc.LOGGING])
    )
    await env.host.add_provider(LoggingProvider())
    await env.host.set_binding(claims.subject, wc.LOGGING)
    await env.host.set_binding(
        claims.subject,
        WC_MESSAGING,
        values={"URL": nats_url(env.server), "SUBSCRIPTION": "wc.echo"},
    )
    with caplog.at_level(logging.INFO, logger="wascc.actor"):
        old = await env.client.request("upper", b"hello", timeout=5)
        new = await env.client.request("wc.echo", b"hello", timeout=5)
    assert old.data == b"HELLO"
    assert new.data == b"echo: hello"
    # wcmessenger logged through wasmcloud:logging before it answered.
    assert "wcmessenger: message on wc.echo" in caplog.text


async def test_publish_answers_published_and_request_a_message(env: Env) -> None:
    sender = await env.host.add_actor(
        sign_forwarder(env.signer, "sender", WC_MESSAGING, caps=[WC_MESSAGING])
    )
    await env.host.set_binding(sender.subject, WC_MESSAGING, values={"URL": nats_url(env.server)})
    sub = await subscribed(env.client, "wc.out")
    reply = await env.host.call_actor(
        sender.subject,
        "Publish",
        wc.PublishMessage(subject="wc.out", reply_to="", body=b"x").encode(),
    )
    assert reply == bytes.fromhex("81a97075626c6973686564c3")  # {published: true}
    assert await received(sub, 1) == [b"x"]

    async def pong(msg: object) -> None:
        await env.client.publish(msg.reply, b"pong:" + msg.data)  # type: ignore[attr-defined]

    await env.client.subscribe("wc.ping", cb=pong)
    await env.client.flush()
    answer = await env.host.call_actor(
        sender.subject,
        "Request",
        wc.RequestMessage(subject="wc.ping", body=b"ping", timeout=2000).encode(),
    )
    assert wc.BrokerMessage.decode(answer) == wc.BrokerMessage("wc.ping", "", b"pong:ping")
