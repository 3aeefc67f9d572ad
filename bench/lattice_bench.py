"""Lattice benchmark: a remote actor call (host B → NATS → host A's ``echo`` actor) next to
a plain nats-py request/reply on the same nats-server, in the same run.

Both run in this process on one event loop: two hosts joined to the lattice, and a nats-py
responder that answers with the request's body. Figures: sequential latency (one call at a
time) and throughput with 64 calls in flight. The difference is the lattice: the envelope,
its signed anti-forgery token (Ed25519 sign + verify, SHA-256), the actor call, the response.

    .venv/bin/python -m bench.lattice_bench [seconds per figure]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats

from bench.signing import sign_throwaway
from host import Host
from host.lattice import Lattice, LatticeConfig

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "actors" / "build" / "echo.wasm"
IN_FLIGHT = 64
WARMUP = 0.3
PAYLOAD = b"x" * 64
Call = Callable[[], Awaitable[bytes]]


async def _sequential(call: Call, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + WARMUP + seconds
    warm_at = stop_at - seconds
    while (now := time.perf_counter()) < stop_at:
        await call()
        if now >= warm_at:
            latencies.append(time.perf_counter() - now)
    return {
        "p50_us": statistics.median(latencies) * 1e6,
        "mean_us": statistics.fmean(latencies) * 1e6,
    }


async def _throughput(call: Call, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    warm_at, stop_at = start + WARMUP, start + WARMUP + seconds

    async def loop() -> None:
        nonlocal count
        while (now := time.perf_counter()) < stop_at:
            await call()
            if now >= warm_at:
                count += 1

    await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    return count / seconds


async def _run(seconds: float) -> dict[str, Any]:
    from tests.support.servers import nats_server  # noqa: PLC0415 - the suite's helper

    with tempfile.TemporaryDirectory() as tmp, nats_server(Path(tmp)) as srv:
        url = f"nats://127.0.0.1:{srv.port}"
        module = sign_throwaway(ECHO.read_bytes(), "echo")
        async with Host(cache_dir=Path(tmp)) as a, Host(cache_dir=Path(tmp)) as b:
            la, lb = Lattice(a, LatticeConfig(url=url)), Lattice(b, LatticeConfig(url=url))
            await la.join(wait=5)
            await lb.join(wait=5)
            responder = await nats.connect(url)
            requester = await nats.connect(url)
            try:
                claims = await a.add_actor(module)
                await la.client.flush()

                async def reply(msg: Any) -> None:
                    await responder.publish(msg.reply, msg.data)

                await responder.subscribe("bench.raw", queue="bench.raw", cb=reply)
                await responder.flush()

                async def raw() -> bytes:
                    return bytes((await requester.request("bench.raw", PAYLOAD, 5)).data)

                async def remote() -> bytes:
                    return await b.call_actor(claims.subject, "Echo", PAYLOAD)

                assert await remote() == PAYLOAD
                return {
                    "raw_latency": await _sequential(raw, seconds),
                    "lattice_latency": await _sequential(remote, seconds),
                    "raw_rps": await _throughput(raw, seconds),
                    "lattice_rps": await _throughput(remote, seconds),
                }
            finally:
                await responder.close()
                await requester.close()
                await lb.stop_serving()
                await la.stop_serving()
                await b.stop()
                await a.stop()
                await lb.leave()
                await la.leave()


def main(seconds: float = 2.0) -> dict[str, Any]:
    """Measure and print the table; returns the figures."""
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(_run(seconds))
    raw_l, lat_l = result["raw_latency"], result["lattice_latency"]
    raw_t, lat_t = result["raw_rps"], result["lattice_rps"]
    print(f"lattice benchmark ({seconds:g} s per figure, payload {len(PAYLOAD)} B, one process)")
    print(f"{'':34}{'raw nats-py':>14}{'lattice':>14}{'ratio':>9}  target")
    print(
        f"{'latency p50, sequential (µs)':34}{raw_l['p50_us']:>14.0f}{lat_l['p50_us']:>14.0f}"
        f"{lat_l['p50_us'] / raw_l['p50_us']:>8.2f}x  ≤ 1.5x"
    )
    print(
        f"{'latency mean, sequential (µs)':34}{raw_l['mean_us']:>14.0f}"
        f"{lat_l['mean_us']:>14.0f}{lat_l['mean_us'] / raw_l['mean_us']:>8.2f}x"
    )
    print(
        f"{f'throughput, {IN_FLIGHT} in flight (calls/s)':34}{raw_t:>14.0f}{lat_t:>14.0f}"
        f"{lat_t / raw_t:>8.2f}x  ≥ 0.7x"
    )
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
