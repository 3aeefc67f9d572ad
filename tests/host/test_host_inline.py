"""The inline policy: quick, loop-free calls run on the event loop thread; anything that could
need the loop, or that turns out slow, runs on worker threads."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgpack
import pytest
import wasmtime

from tests.conftest import Signer
from wascc.host import Host
from wascc.host.errors import ActorTrapped, GuestError, NotAuthorized
from wascc.host.inline import InlinePolicy
from wascc.host.invocation import Invocation
from wascc.host.testing import FunctionProvider
from wascc.keys.claims import Claims, sign_module

# Spins payload_len million iterations: no payload is quick, 30 bytes take tens of ms.
SPIN_WAT = """
(module
  (memory (export "memory") 1)
  (func (export "__guest_call") (param $op i32) (param $msg i32) (result i32)
    (local $i i32)
    (local.set $i (i32.mul (local.get $msg) (i32.const 1000000)))
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br $again)))
    (i32.const 1)))
"""

ENOUGH = InlinePolicy.PROMOTE_AFTER + 8
# On a loaded machine a worker call can take longer than QUICK and restart the streak, so
# tests that wait for a promotion keep calling, up to this many times.
PATIENCE = 2000


async def _promote(host: Host, key: str, operation: str, payload: bytes) -> InlinePolicy:
    """Call until the actor runs inline (bounded); the policy, for assertions."""
    policy = host.actor(key).inline
    for _ in range(PATIENCE):
        await host.call_actor(key, operation, payload)
        if policy.inline_calls:
            return policy
    raise AssertionError(f"not promoted to inline in {PATIENCE} calls")


def _spin(signer: Signer) -> bytes:
    return sign_module(
        bytes(wasmtime.wat2wasm(SPIN_WAT)),
        issuer=signer.account,
        subject=signer.module_key("spin"),
        name="spin",
    )


async def test_quick_loop_free_actor_is_promoted(signer: Signer, host: Host) -> None:
    """After a run of quick worker calls, an actor with no async needs runs inline."""
    claims = await host.add_actor(signer.sign("echo"))
    policy = await _promote(host, claims.subject, "Echo", b"x")
    assert await host.call_actor(claims.subject, "Echo", b"inline") == b"inline"
    assert policy.inline_calls >= 2


async def test_actor_bound_to_an_async_provider_stays_on_workers(
    signer: Signer, host: Host
) -> None:
    """An actor whose binding leads to a provider without handle_sync never runs inline."""

    async def add(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return msgpack.packb({"value": 1})

    await host.add_provider(FunctionProvider("wascc:keyvalue", add))
    claims = await host.add_actor(signer.sign("kvcounter", caps=["wascc:keyvalue"]))
    await host.set_binding(claims.subject, "wascc:keyvalue")
    request = msgpack.packb(
        {"method": "GET", "path": "/", "queryString": "", "header": {}, "body": b""},
        use_bin_type=True,
    )
    for _ in range(ENOUGH):
        await host.call_actor(claims.subject, "HandleRequest", request)
    assert host.actor(claims.subject).inline.inline_calls == 0


async def test_actor_that_may_call_actors_stays_on_workers(signer: Signer, host: Host) -> None:
    """An actor whose claims list another actor's key never runs inline."""
    ponger = await host.add_actor(signer.sign("ponger"))
    pinger = await host.add_actor(signer.sign("pinger", caps=[ponger.subject]))
    ponger_policy = host.actor(ponger.subject).inline
    for _ in range(PATIENCE):
        assert await host.call_actor(pinger.subject, "Ping", ponger.subject.encode()) == (
            b"pong: ping"
        )
        if ponger_policy.inline_calls:
            break
    assert ponger_policy.inline_calls > 0  # the callee, which calls nobody, was promoted
    assert host.actor(pinger.subject).inline.inline_calls == 0


async def test_slow_inline_call_sends_the_actor_back_to_workers(signer: Signer, host: Host) -> None:
    """One slow inline call demotes the actor, which must then earn inline twice as long."""
    claims = await host.add_actor(_spin(signer))
    policy = await _promote(host, claims.subject, "Spin", b"")
    await host.call_actor(claims.subject, "Spin", b"x" * 30)
    assert policy.demotions == 1
    assert policy.required == 2 * InlinePolicy.PROMOTE_AFTER
    before = policy.inline_calls
    for _ in range(InlinePolicy.PROMOTE_AFTER):
        await host.call_actor(claims.subject, "Spin", b"")
    assert policy.inline_calls == before  # still earning its way back


async def test_trap_inline_replaces_the_instance_and_demotes(signer: Signer, host: Host) -> None:
    """A trap during an inline call replaces the instance and sends the actor to workers."""
    claims = await host.add_actor(signer.sign("fixtures/counter"))
    policy = await _promote(host, claims.subject, "Count", b"")
    with pytest.raises(ActorTrapped):
        await host.call_actor(claims.subject, "Trap", b"")
    assert policy.demotions == 1
    assert await host.call_actor(claims.subject, "Count", b"") == b"1"


async def test_inline_can_be_turned_off(signer: Signer, tmp_path: object) -> None:
    """Host(inline=False) runs every call on worker threads."""
    async with Host(inline=False) as host:
        claims = await host.add_actor(signer.sign("echo"))
        for _ in range(ENOUGH):
            await host.call_actor(claims.subject, "Echo", b"x")
        assert host.actor(claims.subject).inline.inline_calls == 0


async def test_call_actor_now_runs_a_promoted_actor_without_awaiting(
    signer: Signer, host: Host
) -> None:
    """call_actor_now answers at once for a promoted local actor, and returns None, having
    run nothing, for an unknown actor or one not promoted yet."""
    claims = await host.add_actor(signer.sign("echo"))
    assert host.call_actor_now("MNOTHERE", "Echo", b"x") is None
    policy = host.actor(claims.subject).inline
    assert host.call_actor_now(claims.subject, "Echo", b"early") is None
    assert policy.inline_calls == 0
    await _promote(host, claims.subject, "Echo", b"warm")
    before = policy.inline_calls
    assert host.call_actor_now(claims.subject, "Echo", b"now") == b"now"
    assert policy.inline_calls == before + 1


class _Refuse:
    def can_load(self, claims: Claims) -> bool:
        return True

    def can_invoke(self, invocation: Invocation) -> bool:
        return invocation.operation != "Forbidden"


class _Record:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes | None, str | None]] = []

    def before(self, invocation: Invocation) -> None:
        pass

    def after(
        self, invocation: Invocation, result: bytes | None, error: BaseException | None
    ) -> None:
        self.seen.append((invocation.operation, result, type(error).__name__ if error else None))


async def test_inline_refusal_gives_the_instance_back(signer: Signer, tmp_path: Path) -> None:
    """An inline call the authorizer refuses raises NotAuthorized, is not seen by middleware,
    and leaves the actor's single instance free for the next call."""
    record = _Record()
    async with Host(cache_dir=tmp_path, authorizer=_Refuse(), middleware=[record]) as host:
        claims = await host.add_actor(signer.sign("echo"))
        await _promote(host, claims.subject, "Echo", b"warm")
        record.seen.clear()
        for _ in range(3):
            with pytest.raises(NotAuthorized, match="Forbidden"):
                host.call_actor_now(claims.subject, "Forbidden", b"")
            with pytest.raises(NotAuthorized, match="Forbidden"):
                await host.call_actor(claims.subject, "Forbidden", b"")
        assert host.call_actor_now(claims.subject, "Echo", b"still") == b"still"
        assert await host.call_actor(claims.subject, "Echo", b"free") == b"free"
        assert host.actor(claims.subject).pool.busy == 0
        assert record.seen == [("Echo", b"still", None), ("Echo", b"free", None)]


async def test_errors_carry_the_invocation_id_inline_and_on_workers(
    signer: Signer, host: Host
) -> None:
    """A failed call's error names its invocation id whether it ran on a worker or inline."""
    claims = await host.add_actor(signer.sign("echo"))
    with pytest.raises(GuestError) as on_worker:
        await host.call_actor(claims.subject, "Nope", b"")
    await _promote(host, claims.subject, "Echo", b"warm")
    with pytest.raises(GuestError) as inline:
        await host.call_actor(claims.subject, "Nope", b"")
    assert host.call_actor_now(claims.subject, "Echo", b"x") == b"x"  # still promoted
    for failure in (on_worker, inline):
        assert uuid.UUID(failure.value.invocation_id or "").version == 4
    assert on_worker.value.invocation_id != inline.value.invocation_id
