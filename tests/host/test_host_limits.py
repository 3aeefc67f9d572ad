"""Limits and failures: every trap kind, recovery, the instance pool and its queue, and a slow
provider that must not stall other actors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import Signer
from wascc.host import ActorSettings, Host, Limits
from wascc.host.errors import (
    ActorBusy,
    ActorOutOfFuel,
    ActorOutOfMemory,
    ActorOutOfTime,
    ActorTrapped,
    GuestError,
    InvocationTimeout,
)
from wascc.host.testing import FunctionProvider, sleeping_handler

SLOW = "test:slow"


async def test_unreachable_trap_names_actor_kind_and_guest_error(
    signer: Signer, host: Host, fast: bool
) -> None:
    """A trap reports the actor's name and key, the trap kind and the stored guest error."""
    claims = await host.add_actor(signer.sign("fixtures/trap", name="trapper"))
    with pytest.raises(ActorTrapped) as caught:
        await host.call_actor(claims.subject, "Go", b"")
    error = caught.value
    assert error.kind == "unreachable"
    assert error.guest_error == "about to trap"
    assert error.actor == claims.subject
    assert f"trapper ({claims.subject})" in str(error)
    assert "about to trap" in str(error)


async def test_endless_loop_is_stopped_at_the_deadline(signer: Signer, tmp_path: Path) -> None:
    """An endless loop is interrupted at the actor's deadline and reported as out of time."""
    async with Host(cache_dir=tmp_path, default_limits=Limits(deadline=0.2)) as host:
        claims = await host.add_actor(signer.sign("fixtures/loop", name="loop"))
        with pytest.raises(ActorOutOfTime) as caught:
            await host.call_actor(claims.subject, "Spin", b"")
        assert caught.value.kind == "out of time"


async def test_memory_cap_is_reported_as_out_of_memory(signer: Signer, tmp_path: Path) -> None:
    """A guest growing memory past the actor's cap is reported as out of memory."""
    settings = ActorSettings(limits=Limits(memory_bytes=4 * 2**20))
    async with Host(cache_dir=tmp_path) as host:
        claims = await host.add_actor(signer.sign("fixtures/membomb"), settings=settings)
        with pytest.raises(ActorOutOfMemory) as caught:
            await host.call_actor(claims.subject, "Grow", b"")
        assert caught.value.kind == "out of memory"


async def test_deep_recursion_is_a_stack_overflow(signer: Signer, host: Host) -> None:
    """Unbounded recursion traps with kind stack overflow."""
    claims = await host.add_actor(signer.sign("fixtures/recursion"))
    with pytest.raises(ActorTrapped) as caught:
        await host.call_actor(claims.subject, "Down", b"")
    assert caught.value.kind == "stack overflow"


async def test_fuel_runs_out(signer: Signer, tmp_path: Path) -> None:
    """With a fuel budget, an endless loop stops with out of fuel before its deadline."""
    settings = ActorSettings(limits=Limits(fuel=100_000, deadline=30))
    async with Host(cache_dir=tmp_path) as host:
        claims = await host.add_actor(signer.sign("fixtures/loop"), settings=settings)
        with pytest.raises(ActorOutOfFuel) as caught:
            await host.call_actor(claims.subject, "Spin", b"")
        assert caught.value.kind == "out of fuel"


async def test_guest_store_out_of_bounds_traps(signer: Signer, host: Host, fast: bool) -> None:
    """A guest that stores outside its memory traps with an out-of-bounds access."""
    claims = await host.add_actor(signer.sign("fixtures/oob"))
    with pytest.raises(ActorTrapped) as caught:
        await host.call_actor(claims.subject, "Store", b"")
    assert caught.value.kind == "out-of-bounds access"


async def test_guest_pointer_out_of_range_is_refused(signer: Signer, host: Host) -> None:
    """A guest handing the host a response pointer beyond its memory is stopped."""
    claims = await host.add_actor(signer.sign("fixtures/oob"))
    with pytest.raises(ActorTrapped, match="out-of-bounds"):
        await host.call_actor(claims.subject, "Response", b"")


async def test_guest_that_returns_garbage(signer: Signer, host: Host) -> None:
    """A guest returning neither 1 nor a stored error fails with 'no error message set'."""
    claims = await host.add_actor(signer.sign("fixtures/garbage"))
    with pytest.raises(GuestError, match="no error message set"):
        await host.call_actor(claims.subject, "Seven", b"")
    with pytest.raises(GuestError, match="no error message set"):
        await host.call_actor(claims.subject, "Zero", b"")
    assert await host.call_actor(claims.subject, "Anything", b"") == b""


async def test_trapped_instance_is_replaced_and_the_host_keeps_serving(
    signer: Signer, host: Host, fast: bool
) -> None:
    """After a trap the instance is thrown away: a fresh one (state reset) serves next."""
    claims = await host.add_actor(signer.sign("fixtures/counter"))
    assert await host.call_actor(claims.subject, "Count", b"") == b"1"
    assert await host.call_actor(claims.subject, "Count", b"") == b"2"
    with pytest.raises(ActorTrapped):
        await host.call_actor(claims.subject, "Trap", b"")
    assert await host.call_actor(claims.subject, "Count", b"") == b"1"
    assert host.actor(claims.subject).pool.size == 1


async def _slow_host(host: Host, signer: Signer, seconds: float, instances: int = 1) -> str:
    provider = FunctionProvider(SLOW, sleeping_handler(seconds))
    await host.add_provider(provider)
    claims = await host.add_actor(
        signer.sign("fixtures/hostcall", name="slow", caps=[SLOW]),
        settings=ActorSettings(max_instances=instances, max_queue=2),
    )
    await host.set_binding(claims.subject, SLOW)
    return claims.subject


async def test_slow_provider_does_not_stall_other_actors(signer: Signer, host: Host) -> None:
    """While one actor waits on a slow provider, calls to another actor are served."""
    slow = await _slow_host(host, signer, 0.5)
    echo = await host.add_actor(signer.sign("echo"))
    pending = asyncio.create_task(host.call_actor(slow, "Wait", b"x"))
    await asyncio.sleep(0.05)
    for _ in range(50):
        assert await host.call_actor(echo.subject, "Echo", b"hi") == b"hi"
    assert not pending.done()  # fifty echo calls finished inside the slow call
    assert await pending == b"done"


async def test_n_instances_serve_n_calls_at_once(signer: Signer, host: Host) -> None:
    """With three instances, three calls to one actor are in progress together."""
    slow = await _slow_host(host, signer, 0.3, instances=3)
    calls = [asyncio.create_task(host.call_actor(slow, "Wait", b"")) for _ in range(3)]
    await asyncio.sleep(0.15)
    pool = host.actor(slow).pool
    assert pool.busy == 3
    assert pool.waiting == 0
    assert await asyncio.gather(*calls) == [b"done"] * 3


async def test_calls_beyond_the_pool_wait_then_run(signer: Signer, host: Host) -> None:
    """A call beyond the pool waits in the queue and runs when an instance frees up."""
    slow = await _slow_host(host, signer, 0.2)
    first = asyncio.create_task(host.call_actor(slow, "Wait", b""))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(host.call_actor(slow, "Wait", b""))
    await asyncio.sleep(0.05)
    assert host.actor(slow).pool.waiting == 1
    assert await asyncio.gather(first, second) == [b"done", b"done"]


async def test_full_queue_refuses_with_actor_busy(signer: Signer, host: Host) -> None:
    """When the queue is full, a further call fails at once with ActorBusy."""
    slow = await _slow_host(host, signer, 0.3)
    running = [asyncio.create_task(host.call_actor(slow, "Wait", b"")) for _ in range(3)]
    await asyncio.sleep(0.05)
    with pytest.raises(ActorBusy, match="raise max_instances or max_queue"):
        await host.call_actor(slow, "Wait", b"")
    assert await asyncio.gather(*running) == [b"done"] * 3


async def test_call_that_cannot_start_in_time_is_busy(signer: Signer, host: Host) -> None:
    """A queued call whose timeout passes before an instance frees up fails with ActorBusy."""
    slow = await _slow_host(host, signer, 0.5)
    running = asyncio.create_task(host.call_actor(slow, "Wait", b""))
    await asyncio.sleep(0.05)
    with pytest.raises(ActorBusy, match="no instance was free") as caught:
        await host.call_actor(slow, "Wait", b"", timeout=0.1)
    assert isinstance(caught.value, TimeoutError)
    assert host.actor(slow).pool.waiting == 0
    assert await running == b"done"


async def test_call_outliving_its_timeout_fails_and_frees_the_instance(
    signer: Signer, host: Host
) -> None:
    """A running call past its timeout raises InvocationTimeout; its instance returns after
    the call really ended, not when its caller gave up (two calls on one instance at once
    would corrupt it)."""
    slow = await _slow_host(host, signer, 0.3)
    with pytest.raises(InvocationTimeout):
        await host.call_actor(slow, "Wait", b"", timeout=0.1)
    assert host.actor(slow).pool.busy == 1  # the wasm still runs, on its worker thread
    assert await host.call_actor(slow, "Wait", b"") == b"done"
    assert host.actor(slow).pool.busy == 0
    assert host.actor(slow).pool.size == 1
