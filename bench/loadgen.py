"""A small HTTP/1.1 load generator: keep-alive connections on raw asyncio protocols.

It runs in its own process (so it does not compete with the server for the GIL), sends one
fixed request per connection at a time, and prints one JSON line with the request count, the
measured duration and latency percentiles. Loopback benchmarks only; stdlib only.

    python bench/loadgen.py PORT[,PORT...] SECONDS CONNECTIONS [PATH]

With several ports the connections are spread over them round-robin (several servers).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Sequence

__all__ = ["LoadResult", "run"]

HOST = "127.0.0.1"
WARMUP = 0.5
LoadResult = dict[str, float]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send, read one response, repeat until ``stop_at``."""

    def __init__(self, request: bytes, warm_at: float, stop_at: float, latencies: list[float]):
        self._request = request
        self._warm_at = warm_at
        self._stop_at = stop_at
        self._latencies = latencies
        self._buffer = bytearray()
        self._sent_at = 0.0
        self._transport: asyncio.Transport | None = None
        self.errors = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._sent_at = time.perf_counter()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:  # every server measured here sends Content-Length
            self.errors += 1
            self._finish()
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        total = end + 4 + length
        if len(buffer) < total:
            return
        del buffer[:total]
        now = time.perf_counter()
        if not head.startswith(b"http/1.1 200"):
            self.errors += 1
        if now >= self._warm_at:
            self._latencies.append(now - self._sent_at)
        if now >= self._stop_at:
            self._finish()
        else:
            self._send()

    def _finish(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.errors += 1
            self.done.set_result(None)


async def run(
    port: int | Sequence[int], seconds: float, connections: int, path: str = "/"
) -> LoadResult:
    """Load ``http://127.0.0.1:port/path`` for ``WARMUP + seconds`` with ``connections``
    keep-alive connections (spread round-robin over several ports if given); latencies of the
    warm-up are not counted. ``cpu_s`` is the CPU time this load generator used."""
    loop = asyncio.get_running_loop()
    ports = [port] if isinstance(port, int) else list(port)
    cpu_started = time.process_time()
    start = time.perf_counter()
    warm_at, stop_at = start + WARMUP, start + WARMUP + seconds
    latencies: list[float] = []
    conns: list[_Connection] = []
    for i in range(connections):
        target = ports[i % len(ports)]
        request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{target}\r\n\r\n".encode()
        _, conn = await loop.create_connection(
            functools.partial(_Connection, request, warm_at, stop_at, latencies), HOST, target
        )
        conns.append(conn)
    async with asyncio.timeout(WARMUP + seconds + 30):
        await asyncio.gather(*(c.done for c in conns))
    measured = time.perf_counter() - warm_at
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else float("nan")

    return {
        "requests": count,
        "seconds": measured,
        "rps": count / measured,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": sum(c.errors for c in conns),
        "cpu_s": time.process_time() - cpu_started,
    }


def main(argv: list[str]) -> None:
    """Command line: ``PORT[,PORT...] SECONDS CONNECTIONS [PATH]``; prints the result as JSON."""
    ports = [int(p) for p in argv[0].split(",")]
    seconds, connections = float(argv[1]), int(argv[2])
    path = argv[3] if len(argv) > 3 else "/"
    print(json.dumps(asyncio.run(run(ports, seconds, connections, path))))


if __name__ == "__main__":
    main(sys.argv[1:])
