"""Dispatch of a guest's host calls: actor-to-actor, providers, bindings, and every refusal."""

from __future__ import annotations

import logging

import msgpack
import pytest

from tests.conftest import Signer
from wascc.host import Host, Invocation, InvocationLogFilter
from wascc.host.errors import (
    CapabilityNotClaimed,
    GuestError,
    HostError,
    ProviderNotFound,
)
from wascc.host.invocation import current_invocation
from wascc.host.testing import FunctionProvider

KV = "wascc:keyvalue"


def _request(path: str) -> bytes:
    return msgpack.packb(
        {"method": "GET", "path": path, "queryString": "", "header": {}, "body": b""},
        use_bin_type=True,
    )


def counting_store() -> FunctionProvider:
    """An in-memory stand-in for the key-value provider that answers Add."""
    totals: dict[str, int] = {}

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        assert operation == "Add"
        request = msgpack.unpackb(payload, raw=False)
        totals[request["key"]] = totals.get(request["key"], 0) + request["value"]
        return msgpack.packb({"value": totals[request["key"]]}, use_bin_type=True)

    return FunctionProvider(KV, handle)


async def test_actor_to_actor_call_with_the_key_in_caps(signer: Signer, host: Host) -> None:
    """pinger calls ponger when pinger's claims list ponger's key."""
    ponger = await host.add_actor(signer.sign("ponger"))
    pinger = await host.add_actor(signer.sign("pinger", caps=[ponger.subject]))
    reply = await host.call_actor(pinger.subject, "Ping", ponger.subject.encode())
    assert reply == b"pong: ping"


async def test_actor_to_actor_call_without_the_key_is_refused(signer: Signer, host: Host) -> None:
    """Without ponger's key in its caps, pinger gets the refusal text as its host error."""
    ponger = await host.add_actor(signer.sign("ponger"))
    pinger = await host.add_actor(signer.sign("pinger"))
    with pytest.raises(GuestError) as caught:
        await host.call_actor(pinger.subject, "Ping", ponger.subject.encode())
    text = caught.value.guest_error
    assert text.startswith("pinger: actor pinger")
    assert f"re-sign with --cap {ponger.subject}" in text


async def test_call_to_an_actor_that_is_not_loaded_reaches_the_guest(
    signer: Signer, host: Host
) -> None:
    """An actor-to-actor call to a key with no actor gives the guest a not-found error."""
    missing = signer.key("ghost")
    pinger = await host.add_actor(signer.sign("pinger", caps=[missing]))
    with pytest.raises(GuestError, match=f"no actor {missing}"):
        await host.call_actor(pinger.subject, "Ping", missing.encode())


async def test_capability_not_claimed_is_refused(signer: Signer, host: Host) -> None:
    """kvcounter signed without wascc:keyvalue is told to re-sign with that capability."""
    await host.add_provider(counting_store())
    actor = await host.add_actor(signer.sign("kvcounter"))
    with pytest.raises(GuestError) as caught:
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))
    assert "its claims do not list wascc:keyvalue" in caught.value.guest_error
    assert "re-sign with --cap wascc:keyvalue" in caught.value.guest_error
    assert actor.subject in caught.value.guest_error


async def test_claimed_but_unbound_is_refused(signer: Signer, host: Host) -> None:
    """kvcounter that claims wascc:keyvalue but has no binding is told to add one."""
    await host.add_provider(counting_store())
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    with pytest.raises(GuestError) as caught:
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))
    assert "has no binding 'default' for wascc:keyvalue" in caught.value.guest_error
    assert "add a binding" in caught.value.guest_error


async def test_bound_actor_reaches_its_provider(signer: Signer, host: Host) -> None:
    """With claim and binding, kvcounter's Add reaches the provider and counts per path."""
    store = counting_store()
    await host.add_provider(store)
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV)
    bodies = []
    for path in ("/a/b", "/a/b", "/c"):
        raw = await host.call_actor(actor.subject, "HandleRequest", _request(path))
        bodies.append(msgpack.unpackb(raw, raw=False)["body"])
    assert bodies == [b'{"counter":1}', b'{"counter":2}', b'{"counter":1}']
    assert [msgpack.unpackb(c[3], raw=False)["key"] for c in store.calls] == [":a:b", ":a:b", ":c"]


async def test_named_binding_is_separate_from_default(signer: Signer, host: Host) -> None:
    """A binding under another name does not satisfy a call on binding 'default'."""
    await host.add_provider(counting_store(), binding="other")
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV, "other")
    with pytest.raises(GuestError, match="no binding 'default'"):
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))


async def test_bind_actor_carries_the_wascc_values(signer: Signer, host: Host) -> None:
    """BindActor gets the binding's values plus the __wascc_* keys docs/contracts.md lists."""
    store = counting_store()
    await host.add_provider(store)
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV, "wascc:logging"]))
    await host.set_binding(actor.subject, KV, values={"URL": "memory://"})
    [event] = store.events
    assert event.actor == actor.subject
    assert event.binding == "default"
    assert event.values == {
        "URL": "memory://",
        "__wascc_issuer": signer.account.public_key,
        "__wascc_capabilities": "wascc:keyvalue,wascc:logging",
        "__wascc_name": "kvcounter",
        "__wascc_expires": "0",
        "__wascc_tags": "",
    }


async def test_remove_binding_sends_remove_actor(signer: Signer, host: Host) -> None:
    """Removing a binding tells the provider, and later calls are refused again."""
    store = counting_store()
    await host.add_provider(store)
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV)
    await host.remove_binding(actor.subject, KV)
    assert store.events[-1].values is None
    with pytest.raises(GuestError, match="add a binding"):
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))


async def test_binding_refused_without_the_claim(signer: Signer, host: Host) -> None:
    """set_binding refuses a contract the actor's claims do not list, naming the fix."""
    await host.add_provider(counting_store())
    actor = await host.add_actor(signer.sign("kvcounter"))
    with pytest.raises(CapabilityNotClaimed, match="re-sign with --cap wascc:keyvalue"):
        await host.set_binding(actor.subject, KV)


async def test_binding_refused_without_a_provider(signer: Signer, host: Host) -> None:
    """set_binding to a contract no provider serves names the missing capability."""
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    with pytest.raises(ProviderNotFound, match="no such provider is loaded"):
        await host.set_binding(actor.subject, KV)


async def test_duplicate_provider_binding_is_refused(host: Host) -> None:
    """Two providers for one contract and binding name are refused."""
    await host.add_provider(counting_store())
    with pytest.raises(HostError, match="already loaded"):
        await host.add_provider(counting_store())


async def test_provider_failure_reaches_the_guest(signer: Signer, host: Host) -> None:
    """A provider that raises gives the guest an error naming the provider and the cause."""

    async def broken(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        raise ConnectionError("back end is down")

    await host.add_provider(FunctionProvider(KV, broken))
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV)
    with pytest.raises(GuestError) as caught:
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))
    assert "provider wascc:keyvalue (binding 'default') failed Add" in caught.value.guest_error
    assert "back end is down" in caught.value.guest_error
    # The host keeps serving the actor after the failure.
    with pytest.raises(GuestError, match="back end is down"):
        await host.call_actor(actor.subject, "HandleRequest", _request("/x"))


async def test_stop_unbinds_and_stops_providers(signer: Signer, host: Host) -> None:
    """Stopping the host sends RemoveActor for each binding, then stops the provider."""
    store = counting_store()
    await host.add_provider(store)
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV)
    await host.stop()
    assert store.events[-1].values is None
    assert store.stopped


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    def before(self, invocation: Invocation) -> None:
        self.seen.append(("before", invocation.target, invocation.operation, invocation.id))

    def after(
        self, invocation: Invocation, result: bytes | None, error: BaseException | None
    ) -> None:
        outcome = "ok" if error is None else type(error).__name__
        self.seen.append(("after", invocation.target, invocation.operation, outcome))


async def test_middleware_sees_actor_and_provider_invocations(
    signer: Signer, tmp_path: object
) -> None:
    """Middleware runs before and after the actor call and the nested provider call."""
    recorder = _Recorder()
    async with Host(middleware=[recorder]) as host:
        await host.add_provider(counting_store())
        actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
        await host.set_binding(actor.subject, KV)
        await host.call_actor(actor.subject, "HandleRequest", _request("/m"))
    kinds = [(s[0], s[1], s[2]) for s in recorder.seen]
    assert kinds == [
        ("before", actor.subject, "HandleRequest"),
        ("before", f"{KV}/default", "Add"),
        ("after", f"{KV}/default", "Add"),
        ("after", actor.subject, "HandleRequest"),
    ]
    assert recorder.seen[1][3] != recorder.seen[0][3]  # each invocation has its own id
    assert recorder.seen[-1][3] == "ok"


async def test_log_lines_during_a_call_carry_the_invocation(
    signer: Signer, host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    """A provider's log line made during an actor's host call carries its invocation id."""
    seen: list[Invocation | None] = []
    log = logging.getLogger("wascc.test.provider")

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        seen.append(current_invocation.get())
        log.info("serving %s", operation)
        return msgpack.packb({"value": 1}, use_bin_type=True)

    caplog.handler.addFilter(InvocationLogFilter())
    caplog.set_level(logging.INFO, logger="wascc.test.provider")
    await host.add_provider(FunctionProvider(KV, handle))
    actor = await host.add_actor(signer.sign("kvcounter", caps=[KV]))
    await host.set_binding(actor.subject, KV)
    await host.call_actor(actor.subject, "HandleRequest", _request("/l"))
    [record] = [r for r in caplog.records if r.name == "wascc.test.provider"]
    [invocation] = seen
    assert invocation is not None
    assert invocation.operation == "Add"
    assert record.invocation_id == invocation.id
    assert record.operation == "Add"
