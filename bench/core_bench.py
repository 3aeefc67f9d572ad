"""Host core benchmarks: echo invocations through the host next to the raw floor, a guest to
provider host-call round trip, and actor load time (first vs cached).

Every figure is measured in this run, on this machine, next to its floor; read the ratios,
not the absolute numbers (machines here are shared and noisy).

    .venv/bin/python bench/core_bench.py [seconds per figure]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import wasmtime

from bench.raw_floor import ECHO_WAT, raw_echo_rate
from bench.report import Section
from bench.signing import sign_throwaway
from wascc.host import Host
from wascc.host.testing import FunctionProvider

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]

SIZES = (("16 B", 16), ("1 KiB", 1024), ("64 KiB", 65536), ("1 MiB", 2**20))
HOSTCALL_WAT = ROOT / "actors" / "build" / "fixtures" / "hostcall.wasm"
COUNTER_WAT = ROOT / "actors" / "build" / "fixtures" / "counter.wasm"
BIG = ROOT / "actors" / "build" / "big.wasm"


async def _rate(call: Callable[[], Awaitable[bytes]], seconds: float, concurrency: int) -> float:
    """Calls per second with ``concurrency`` callers looping for ``seconds``."""
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            for _ in range(10):
                await call()
            done += 10

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


class _Answer:
    """A provider whose answer needs no I/O: served on the worker thread (SyncProvider)."""

    contract_id = "test:slow"

    async def start(self, host: object) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def bind_actor(self, actor: str, binding: str, values: object) -> None:
        pass

    async def remove_actor(self, actor: str, binding: str) -> None:
        pass

    async def handle(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return payload

    def handle_sync(self, actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return payload


async def _echo_rows(seconds: float) -> list[tuple[str, ...]]:
    module = bytes(wasmtime.wat2wasm(ECHO_WAT))
    rows: list[tuple[str, ...]] = []
    async with Host() as host:
        key = (await host.add_actor(sign_throwaway(module, "echo"))).subject
        for label, size in SIZES:
            payload = b"x" * size
            floor = raw_echo_rate(module, size, seconds)
            sequential = await _rate(lambda p=payload: host.call_actor(key, "Echo", p), seconds, 1)
            parallel = await _rate(lambda p=payload: host.call_actor(key, "Echo", p), seconds, 64)
            rows.append(
                (
                    f"echo {label}",
                    f"{floor:,.0f}/s",
                    f"{sequential:,.0f}/s",
                    f"{sequential / floor:.2f}x",
                    f"{parallel:,.0f}/s",
                    f"{parallel / floor:.2f}x",
                )
            )
    return rows


async def _hostcall_rows(seconds: float) -> tuple[list[tuple[str, ...]], float, float]:
    """The hostcall fixture per kind of provider; what one async provider call adds (µs), and
    the bare thread round trip under it (µs)."""
    rows: list[tuple[str, ...]] = []
    module = HOSTCALL_WAT.read_bytes()

    async def echo_back(actor: str, binding: str, operation: str, payload: bytes) -> bytes:
        return payload

    per_call: dict[str, float] = {}
    for label, provider, inline in (
        ("host call, sync provider", _Answer(), True),
        ("host call, sync provider, worker thread", _Answer(), False),
        ("host call, async provider", FunctionProvider("test:slow", echo_back), True),
    ):
        async with Host(inline=inline) as host:
            await host.add_provider(provider)  # type: ignore[arg-type]
            key = (await host.add_actor(sign_throwaway(module, "hc", ("test:slow",)))).subject
            await host.set_binding(key, "test:slow")
            rate = await _rate(lambda k=key: host.call_actor(k, "Wait", b"x" * 16), seconds, 1)
            per_call[label] = 1e6 / rate
            rows.append((label, "", f"{rate:,.0f}/s", f"{1e6 / rate:.1f} µs", "", ""))
    async with Host() as host:
        # The same call served by a provider written in wasm (the counter fixture: it answers
        # every call with a count, as little work as the async provider's echo).
        counter = sign_throwaway(COUNTER_WAT.read_bytes(), "counter", provider=True)
        await host.add_wasm_provider(counter, contract_id="test:slow")
        key = (await host.add_actor(sign_throwaway(module, "hc", ("test:slow",)))).subject
        await host.set_binding(key, "test:slow")
        rate = await _rate(lambda k=key: host.call_actor(k, "Wait", b"x" * 16), seconds, 1)
        label = "host call, wasm provider"
        per_call[label] = 1e6 / rate
        rows.append((label, "", f"{rate:,.0f}/s", f"{1e6 / rate:.1f} µs", "", ""))
    # Both on a worker thread; the difference is the provider call's trip to the loop and back.
    added = per_call["host call, async provider"] - per_call[rows[1][0]]
    rows.append(("one async provider call (the difference)", "", "", f"{added:.1f} µs", "", ""))
    wasm = per_call["host call, wasm provider"] / per_call["host call, async provider"]
    rows.append(("wasm provider / async provider (time per call)", "", "", f"{wasm:.2f}x", "", ""))
    floor = await _round_trip(seconds)
    rows.append(("floor: bare thread -> loop -> thread", "", "", f"{floor:.1f} µs", "", ""))
    return rows, added, floor


async def _round_trip(seconds: float) -> float:
    """Median µs of the least a thread can do to have the loop run something and wait for
    it: ``call_soon_threadsafe`` of a lock's ``release``, then ``acquire`` (no task, no
    coroutine, no provider): the floor under an async provider call from a worker."""
    loop = asyncio.get_running_loop()
    times: list[float] = []

    def thread() -> None:
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            lock = threading.Lock()
            lock.acquire()
            started = time.perf_counter()
            loop.call_soon_threadsafe(lock.release)
            lock.acquire()
            times.append(time.perf_counter() - started)

    await asyncio.to_thread(thread)
    return statistics.median(times) * 1e6


async def _load_rows() -> list[tuple[str, ...]]:
    signed = sign_throwaway(BIG.read_bytes(), "big")
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as cache:
        for label in ("load 2 MB, first (compile)", "load 2 MB, cached"):
            async with Host(cache_dir=Path(cache)) as host:
                started = time.perf_counter()
                await host.add_actor(signed)
                elapsed = time.perf_counter() - started
            rows.append((label, "", f"{elapsed * 1e3:.1f} ms", "", "", ""))
    return rows


HEADER = ("figure", "raw floor", "host (1 caller)", "ratio", "host (64 callers)", "ratio")
METHOD = """
One `Host` in this process; `host.call_actor(key, "Echo", payload)` awaited in a loop by one
caller, then by 64 concurrent callers, on a signed hand-written waPC echo module
(`bench/raw_floor.py` `ECHO_WAT`: `__guest_request` to offset 1024, `__guest_response` back).
The **raw floor** is the same module called in a tight loop through wasmtime's C API
(`wasmtime_func_call_unchecked`) with two bare ctypes callbacks that copy the payload in and
out: no bounds checks, no pool, no asyncio, no error handling. The ratio host/floor is the
share of the floor the host keeps. Host calls: the `hostcall` fixture calls a provider once
per invocation. With a sync provider (answered on the calling thread) the actor runs inline
on the event loop's thread, and once more on a worker thread (a host made with
`inline=False`); with an async provider it runs on a worker thread and each host call is a
trip to the event loop and back. With a provider written in wasm (the `counter` fixture
signed with `prov: true`, loaded with `Host.add_wasm_provider`) the actor runs on a worker
thread, the call goes to the loop and on to one of the provider's instances (on a worker
thread too) and back: the row next to it is the same call to the native async provider.
*One async provider call* is the difference between the
async row and the sync worker-thread row: what the trip to the loop adds to a call; under it,
the floor of any such trip: a bare thread has the loop release a lock it then waits on
(`call_soon_threadsafe` and `Lock.acquire`, nothing else; median). Load:
the 2 MB `big.wasm` actor compiled by Cranelift, then loaded again from the signed on-disk
module cache.
"""


ECHO_TARGET = 0.5
ASYNC_CALL_TARGET_US = 40.0


async def _section(seconds: float) -> Section:
    logging.disable(logging.WARNING)
    try:
        rows = await _echo_rows(seconds)
        hostcall, added, floor = await _hostcall_rows(seconds)
        rows += hostcall
        rows += await _load_rows()
    finally:
        logging.disable(logging.NOTSET)
    echo = float(rows[0][3].rstrip("x"))
    wasm_ratio = next(row[3] for row in rows if row[0].startswith("wasm provider /"))
    return Section(
        f"Host core: echo through the host vs the raw floor ({seconds:g} s per figure)",
        METHOD,
        HEADER,
        rows,
        verdicts=[
            f"echo 16 B, 1 caller: {echo:.2f}x of the raw floor "
            f"({'meets' if echo >= ECHO_TARGET else 'misses'} the >= {ECHO_TARGET}x target)",
            f"one async provider call: {added:.1f} µs "
            f"({'meets' if added <= ASYNC_CALL_TARGET_US else 'misses'} the <= "
            f"{ASYNC_CALL_TARGET_US:g} µs target; a bare thread -> loop -> thread round trip "
            f"takes {floor:.1f} µs here)",
            f"one host call to a provider written in wasm: {wasm_ratio} the time of the same "
            "call to a native async provider (no target: the cost of running a provider in the "
            "sandbox)",
        ],
    )


def section(seconds: float = 1.0) -> Section:
    """Measure every core figure; the table as a ``Section``."""
    return asyncio.run(_section(seconds))


def main(seconds: float = 1.0) -> Section:
    """Run every core benchmark and print one table."""
    result = section(seconds)
    result.print()
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
