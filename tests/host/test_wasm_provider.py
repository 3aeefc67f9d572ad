"""Capability providers written in wasm, through the host API: loaded only when signed as a
provider, bound like a native one, kept up to date on every instance, isolated when they trap,
and limited in what they may call."""

from __future__ import annotations

import logging

import msgpack
import pytest

from tests.conftest import Signer
from wascc.host import Host
from wascc.host.errors import (
    CapabilityNotClaimed,
    GuestError,
    NotAProvider,
    ProviderError,
)
from wascc.host.wasm_provider import WasmProvider

COUNTER = "test:counter"
RELAY = "test:relay"


def relay(namespace: str, operation: str, body: bytes = b"") -> bytes:
    """The payload of the relay actor's ``Call``: one host call of the test's choosing."""
    return f"{namespace}\n{operation}\n".encode() + body


async def _counter_provider(host: Host, signer: Signer) -> WasmProvider:
    """The counter fixture as a provider of ``test:counter``: it answers every call with how
    many calls its instance has served, and traps on any operation starting with T."""
    return await host.add_wasm_provider(
        signer.sign_provider("fixtures/counter", name="counter"), contract_id=COUNTER
    )


async def test_a_provider_module_serves_the_actors_bound_to_it(host: Host, signer: Signer) -> None:
    """An actor's host call reaches the module, whose instance keeps its state between calls;
    the inventory names the module that serves the contract."""
    provider = await _counter_provider(host, signer)
    await host.add_actor(signer.sign("relay", caps=[COUNTER]))
    await host.set_binding(signer.key("relay"), COUNTER)
    first = int(await host.call_actor(signer.key("relay"), "Call", relay(COUNTER, "Count")))
    second = int(await host.call_actor(signer.key("relay"), "Call", relay(COUNTER, "Count")))
    assert second == first + 1
    (listed,) = host.inventory()["providers"]
    assert listed["contract_id"] == COUNTER
    assert listed["module"] == provider.key
    assert listed["name"] == "counter"


async def test_a_trapping_provider_fails_the_call_and_serves_the_next_from_a_fresh_instance(
    host: Host, signer: Signer
) -> None:
    """The trap reaches the calling actor as its host error; the host, the actor and the
    provider keep running, and the next call gets a fresh instance (its count starts over)
    that was told about the binding before serving it."""
    await _counter_provider(host, signer)
    await host.add_actor(signer.sign("relay", caps=[COUNTER]))
    await host.set_binding(signer.key("relay"), COUNTER)
    key = signer.key("relay")
    for _ in range(5):
        before = int(await host.call_actor(key, "Call", relay(COUNTER, "Count")))
    with pytest.raises(GuestError) as failed:
        await host.call_actor(key, "Call", relay(COUNTER, "Trap"))
    assert "relay: provider counter" in str(failed.value)
    assert "trapped: unreachable" in str(failed.value)
    after = int(await host.call_actor(key, "Call", relay(COUNTER, "Count")))
    # A fresh instance: BindActor (the binding replayed), then this call.
    assert after == 2 < before


async def test_an_actor_reaches_a_provider_module_only_with_the_capability_claimed(
    host: Host, signer: Signer
) -> None:
    await _counter_provider(host, signer)
    await host.add_actor(signer.sign("relay"))
    with pytest.raises(CapabilityNotClaimed, match="re-sign with --cap test:counter"):
        await host.set_binding(signer.key("relay"), COUNTER)


async def test_an_actor_module_is_refused_as_a_provider(host: Host, signer: Signer) -> None:
    """``prov: false`` claims: the refusal says where an actor belongs and how to sign a
    provider."""
    with pytest.raises(NotAProvider) as refused:
        await host.add_wasm_provider(signer.sign("relay"), path="relay.wasm", contract_id=RELAY)
    message = str(refused.value)
    assert message.startswith("relay.wasm is signed as an actor (prov: false)")
    assert "list it under actors:" in message
    assert "wascc claims sign --provider" in message
    assert host.inventory()["providers"] == []


async def test_a_provider_that_names_no_contract_needs_one_given(
    host: Host, signer: Signer
) -> None:
    """The relay module answers no GetCapabilityDescriptor: without a contract it is refused
    with the fix; with one it serves it."""
    module = signer.sign_provider("relay", name="relayer")
    with pytest.raises(ProviderError, match="give it with `contract:`"):
        await host.add_wasm_provider(module)
    provider = await host.add_wasm_provider(module, contract_id=RELAY)
    assert provider.contract_id == RELAY


async def test_a_provider_logs_and_calls_back_only_the_actors_bound_to_it(
    host: Host, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay module as a provider makes host calls of the test's choosing: WriteLog goes
    to its own logger (it claims wascc:logging); a call to an actor bound to it is answered;
    a call to an actor that is not bound to it, or to another capability, is refused."""
    provider = await host.add_wasm_provider(
        signer.sign_provider("relay", name="relayer", caps=["wascc:logging"]), contract_id=RELAY
    )
    await host.add_actor(signer.sign("echo", caps=[RELAY]))
    await host.add_actor(signer.sign("echo", name="stranger"))
    await host.set_binding(signer.key("echo"), RELAY)

    log = msgpack.packb({"level": 2, "body": "disk almost full"})
    with caplog.at_level(logging.INFO):
        assert (
            await provider.actor.invoke("Call", relay("wascc:logging", "WriteLog", log), timeout=5)
            == b""
        )
    (record,) = [r for r in caplog.records if r.name == "wascc.provider.relayer"]
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "disk almost full")

    echoed = await provider.actor.invoke(
        "Call", relay(signer.key("echo"), "Echo", b"hi"), timeout=5
    )
    assert echoed == b"hi"
    with pytest.raises(GuestError, match="is not bound to it"):
        await provider.actor.invoke("Call", relay(signer.key("stranger"), "Echo", b"hi"), timeout=5)
    with pytest.raises(GuestError, match="may call only wascc:logging and the actors bound"):
        await provider.actor.invoke("Call", relay("wascc:keyvalue", "Get", b""), timeout=5)


async def test_removing_a_binding_tells_the_module_and_refuses_the_actor(
    host: Host, signer: Signer
) -> None:
    await _counter_provider(host, signer)
    await host.add_actor(signer.sign("relay", caps=[COUNTER]))
    key = signer.key("relay")
    await host.set_binding(key, COUNTER)
    await host.call_actor(key, "Call", relay(COUNTER, "Count"))
    await host.remove_binding(key, COUNTER)
    with pytest.raises(GuestError, match="no binding 'default' for test:counter"):
        await host.call_actor(key, "Call", relay(COUNTER, "Count"))
