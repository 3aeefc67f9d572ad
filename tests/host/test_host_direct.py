"""Bindings answered on the calling thread (``Provider.direct``): where an actor's host calls
run, when the actor may run on the event loop's thread, and the hand-off to async providers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from tests.conftest import Signer
from wascc.host import Host
from wascc.host.errors import ProviderCallError
from wascc.host.inline import InlinePolicy
from wascc.host.invocation import current_invocation
from wascc.host.testing import FunctionProvider

CONTRACT = "test:slow"
PATIENCE = 2000


class _Direct:
    """A binding's direct calls: records the thread of every call; ``loop_safe`` settable."""

    def __init__(self, *, loop_safe: bool = True) -> None:
        self.loop_safe = loop_safe
        self.threads: list[int] = []

    def call(self, operation: str, payload: bytes) -> bytes:
        self.threads.append(threading.get_ident())
        return b"direct:" + payload


class _DirectProvider(FunctionProvider):
    """A provider with ``handle`` (recorded in ``calls``) and ``direct`` per binding."""

    def __init__(self, direct: _Direct | None, *, fails: bool = False) -> None:
        async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
            return b"handle:" + payload

        super().__init__(CONTRACT, handle)
        self._direct = direct
        self._fails = fails
        self.asked: list[tuple[str, str]] = []

    def direct(self, actor: str, binding: str) -> _Direct | None:
        self.asked.append((actor, binding))
        if self._fails:
            raise RuntimeError("no direct path today")
        return self._direct


async def _hostcall_actor(host: Host, signer: Signer, provider: FunctionProvider) -> str:
    await host.add_provider(provider)
    claims = await host.add_actor(signer.sign("fixtures/hostcall", caps=[CONTRACT]))
    await host.set_binding(claims.subject, CONTRACT)
    return claims.subject


async def _until_inline(host: Host, key: str) -> InlinePolicy:
    policy = host.actor(key).inline
    for _ in range(PATIENCE):
        assert await host.call_actor(key, "Wait", b"x") == b"direct:x"
        if policy.inline_calls:
            return policy
    raise AssertionError(f"not promoted to inline in {PATIENCE} calls")


async def test_direct_binding_is_served_on_the_calling_thread(signer: Signer, host: Host) -> None:
    """Every host call goes to ``DirectCalls.call`` (never ``handle``); once the actor runs
    inline, the call is served on the event loop's own thread."""
    direct = _Direct()
    provider = _DirectProvider(direct)
    key = await _hostcall_actor(host, signer, provider)
    assert provider.asked == [(key, "default")]
    await _until_inline(host, key)
    direct.threads.clear()
    assert await host.call_actor(key, "Wait", b"now") == b"direct:now"
    assert direct.threads == [threading.get_ident()]
    assert provider.calls == []


async def test_a_binding_that_is_not_loop_safe_keeps_the_actor_on_workers(
    signer: Signer, host: Host
) -> None:
    """While ``loop_safe`` is False the actor's calls run on worker threads, still served by
    ``call``; when it turns True again, the actor goes back to the loop's thread."""
    direct = _Direct(loop_safe=False)
    key = await _hostcall_actor(host, signer, _DirectProvider(direct))
    loop_thread = threading.get_ident()
    for _ in range(InlinePolicy.PROMOTE_AFTER * 4):
        assert await host.call_actor(key, "Wait", b"w") == b"direct:w"
    assert host.actor(key).inline.inline_calls == 0
    assert direct.threads
    assert loop_thread not in direct.threads
    direct.loop_safe = True
    await _until_inline(host, key)
    direct.loop_safe = False
    direct.threads.clear()
    assert await host.call_actor(key, "Wait", b"w") == b"direct:w"
    assert direct.threads
    assert direct.threads[0] != loop_thread


async def test_without_direct_calls_the_provider_is_awaited(signer: Signer, host: Host) -> None:
    """``direct`` answering None, or failing (logged), leaves the binding on ``handle``."""
    provider = _DirectProvider(None)
    key = await _hostcall_actor(host, signer, provider)
    assert await host.call_actor(key, "Wait", b"a") == b"handle:a"
    assert provider.calls == [(key, "default", "Wait", b"a")]


async def test_a_failing_direct_is_logged_and_handle_serves(
    signer: Signer, host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    provider = _DirectProvider(_Direct(), fails=True)
    with caplog.at_level(logging.WARNING, logger="wascc.host"):
        key = await _hostcall_actor(host, signer, provider)
    assert "could not answer actor" in caplog.text
    assert "no direct path today" in caplog.text
    assert await host.call_actor(key, "Wait", b"b") == b"handle:b"


async def test_removing_the_binding_forgets_its_direct_calls(signer: Signer, host: Host) -> None:
    """After the binding is removed and made again without a direct path, ``handle`` serves."""
    direct = _Direct()
    provider = _DirectProvider(direct)
    key = await _hostcall_actor(host, signer, provider)
    assert await host.call_actor(key, "Wait", b"1") == b"direct:1"
    await host.remove_binding(key, CONTRACT)
    provider._direct = None
    await host.set_binding(key, CONTRACT)
    assert await host.call_actor(key, "Wait", b"2") == b"handle:2"


async def test_actor_is_promoted_under_concurrent_load_from_the_first_call(
    signer: Signer, host: Host
) -> None:
    """Sixteen callers from the start on a busy loop: worker calls are judged by their CPU
    time, not by the clock (which counts the waits for the interpreter lock the loop holds),
    so the actor still earns inline."""
    direct = _Direct()
    key = await _hostcall_actor(host, signer, _DirectProvider(direct))
    policy = host.actor(key).inline
    # 16 in flight plus 16 quick ones; judged by the clock it took ~300 calls here, or never.
    limit, calls = InlinePolicy.PROMOTE_AFTER * 6, 0

    async def busy() -> None:  # what serving other requests looks like to a worker thread
        while not policy.inline_calls:
            until = time.perf_counter() + 0.02
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    background = asyncio.create_task(busy())

    async def caller() -> None:
        nonlocal calls
        while not policy.inline_calls and calls < limit:
            calls += 1
            assert await host.call_actor(key, "Wait", b"c") == b"direct:c"

    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(caller() for _ in range(16)))
    finally:
        background.cancel()
    assert policy.inline_calls > 0, f"not promoted after {calls} concurrent calls"


async def test_async_provider_runs_as_a_task_in_the_callers_context(
    signer: Signer, host: Host
) -> None:
    """The hand-off to an async provider runs its coroutine as a task (``asyncio.timeout``
    works in it) with the provider call's invocation current, and returns its answer."""
    seen: list[str | None] = []

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        invocation = current_invocation.get()
        seen.append(None if invocation is None else invocation.target)
        return payload.upper()

    key = await _hostcall_actor(host, signer, FunctionProvider(CONTRACT, handle))
    assert await host.call_actor(key, "Wait", b"abc") == b"ABC"
    assert seen == [f"{CONTRACT}/default"]


async def test_async_provider_errors_reach_the_guest(signer: Signer, host: Host) -> None:
    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        raise ValueError("the back end said no")

    key = await _hostcall_actor(host, signer, FunctionProvider(CONTRACT, handle))
    with pytest.raises(Exception, match="the back end said no") as raised:
        await host.call_actor(key, "Wait", b"x")
    assert not isinstance(raised.value, ProviderCallError)  # the guest's error, its text


async def test_a_hung_async_provider_times_out_and_is_cancelled(signer: Signer) -> None:
    """A provider that never answers fails the host call after ``host_call_timeout`` and its
    task is cancelled, so nothing is left running."""
    cancelled = asyncio.Event()

    async def handle(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b""

    async with Host(host_call_timeout=0.2) as host:
        key = await _hostcall_actor(host, signer, FunctionProvider(CONTRACT, handle))
        with pytest.raises(Exception, match=r"did not finish within 0\.2s"):
            await host.call_actor(key, "Wait", b"x")
        async with asyncio.timeout(10):
            await cancelled.wait()


class _WaitsOffTheCpu:
    """An instance whose call waits 30 ms without running: what a worker call does while the
    busy loop holds the interpreter lock, or while the store it calls answers."""

    def invoke(self, operation: str, payload: bytes) -> bytes:
        time.sleep(0.03)
        return payload


def test_worker_calls_are_judged_by_cpu_time_not_by_the_clock() -> None:
    """A worker call's wall time counts its waits, its CPU time does not: ``_timed`` reports
    both, and the inline policy reads the CPU. (Waiting is made certain with a sleep: a test
    that waited for the interpreter lock behind a busy thread depended on the OS scheduling
    both threads, and failed on a loaded machine.)"""
    from wascc.host.actor import _timed  # noqa: PLC0415 - the one private function under test

    spent = [0.0, 0.0]
    worker = threading.Thread(target=_timed, args=(_WaitsOffTheCpu(), "Op", b"", spent))
    worker.start()
    worker.join(10)
    wall, cpu = spent
    assert wall >= 0.03
    assert cpu < InlinePolicy.QUICK
