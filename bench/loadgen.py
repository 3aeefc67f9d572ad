"""A small HTTP/1.1 load generator: keep-alive connections on raw asyncio protocols.

It runs in its own process (so it does not compete with the server for the GIL), sends one
fixed request per connection at a time, and prints one JSON line with the request count, the
measured duration and latency percentiles. Loopback benchmarks only; stdlib only.

    python bench/loadgen.py PORT[,PORT...] SECONDS CONNECTIONS [PATH] [--pid PID]

With several ports the connections are spread over them round-robin (several servers). The
load lasts ``WARMUP + SECONDS``: ``requests``/``rps``/latencies leave out the first
``WARMUP`` seconds, ``total_requests``/``total_rps`` count every answer from the first one.
With ``--pid``, ``server_cpu_s`` is the CPU time process PID used over the whole load.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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
        self.answers = 0
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
        self.answers += 1
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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    port: int | Sequence[int],
    seconds: float,
    connections: int,
    path: str = "/",
    server_pid: int | None = None,
) -> LoadResult:
    """Load ``http://127.0.0.1:port/path`` for ``WARMUP + seconds`` with ``connections``
    keep-alive connections (spread round-robin over several ports if given); latencies of the
    warm-up are not counted. ``cpu_s`` is the CPU time this load generator used;
    ``server_cpu_s`` (with ``server_pid``) the CPU time of that process over the same window."""
    loop = asyncio.get_running_loop()
    ports = [port] if isinstance(port, int) else list(port)
    cpu_started = time.process_time()
    # Read here, next to ``start``, so the server is charged for this load's window only.
    server_cpu_started = _cpu_seconds(server_pid) if server_pid is not None else 0.0
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
    ended = time.perf_counter()
    server_cpu = _cpu_seconds(server_pid) - server_cpu_started if server_pid is not None else 0.0
    measured = ended - warm_at
    total = sum(c.answers for c in conns)
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
        "total_requests": total,
        "total_seconds": ended - start,
        "total_rps": total / (ended - start),
        "server_cpu_s": server_cpu,
    }


def main(argv: list[str]) -> None:
    """Command line: ``PORT[,PORT...] SECONDS CONNECTIONS [PATH] [--pid PID]``; prints the
    result as JSON."""
    server_pid = None
    if "--pid" in argv:
        at = argv.index("--pid")
        server_pid = int(argv[at + 1])
        argv = argv[:at] + argv[at + 2 :]
    ports = [int(p) for p in argv[0].split(",")]
    seconds, connections = float(argv[1]), int(argv[2])
    path = argv[3] if len(argv) > 3 else "/"
    print(json.dumps(asyncio.run(run(ports, seconds, connections, path, server_pid))))


if __name__ == "__main__":
    main(sys.argv[1:])
