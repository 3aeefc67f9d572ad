"""HTTP benchmark: requests per second and p50/p99 latency through the host with the ``echo``
actor, next to a bare aiohttp hello-world server measured in the same run.

Both servers run in this process on the same event loop setup; the load comes from
``bench/loadgen.py`` in a separate process (keep-alive connections, loopback only), for a
bounded time each. Read the ratio, not the absolute figures: machines here are shared.

    .venv/bin/python bench/http_bench.py [seconds per figure] [connections]
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from host import ActorSettings, Host
from keys.claims import sign_module
from keys.nkeys import KeyPair
from providers import HttpServerProvider

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]

ECHO = ROOT / "actors" / "build" / "echo.wasm"
LOADGEN = ROOT / "bench" / "loadgen.py"
HTTP = "wascc:http_server"
TARGET = 0.5
Result = dict[str, float]


async def _load(port: int, seconds: float, connections: int) -> Result:
    """Run the load generator against ``port`` in its own process and return its figures."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOADGEN),
        str(port),
        str(seconds),
        str(connections),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(seconds + 60):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed with exit code {proc.returncode}")
    return json.loads(out)  # type: ignore[no-any-return]


@asynccontextmanager
async def _bare_server() -> AsyncIterator[int]:
    """aiohttp's low-level server answering every request with "Hello, World!"."""

    async def hello(request: web.BaseRequest) -> web.Response:
        return web.Response(body=b"Hello, World!", content_type="text/plain")

    runner = web.ServerRunner(web.Server(hello, access_log=None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _host_server(instances: int) -> AsyncIterator[int]:
    """A host running the echo actor behind the HTTP server provider."""
    account, subject = KeyPair.generate("account"), KeyPair.generate("module")
    module = sign_module(
        ECHO.read_bytes(), issuer=account, subject=subject, name="echo", caps=[HTTP]
    )
    async with Host() as host:
        provider = HttpServerProvider()
        await host.add_provider(provider)
        claims = await host.add_actor(module, settings=ActorSettings(max_instances=instances))
        await host.set_binding(claims.subject, HTTP, values={"PORT": "0"})
        yield provider.port_of(claims.subject)


def _row(name: str, result: Result) -> tuple[str, ...]:
    errors = f"  ({int(result['errors'])} errors)" if result["errors"] else ""
    return (
        name,
        f"{result['rps']:,.0f}",
        f"{result['p50_ms']:.2f}",
        f"{result['p99_ms']:.2f}",
        f"{int(result['requests']):,}{errors}",
    )


def _print(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


async def _run(seconds: float, connections: int) -> float:
    async with _bare_server() as port:
        bare = await _load(port, seconds, connections)
    async with _host_server(instances=2) as port:
        hosted = await _load(port, seconds, connections)
    ratio = hosted["rps"] / bare["rps"]
    print(
        f"HTTP through the host vs bare aiohttp: {seconds:g} s each, {connections} keep-alive "
        "connections, loopback"
    )
    _print(
        [
            ("server", "req/s", "p50 ms", "p99 ms", "requests"),
            _row("bare aiohttp hello-world", bare),
            _row("host + echo actor", hosted),
        ]
    )
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(f"ratio host/bare: {ratio:.2f}x ({verdict} the {TARGET}x target)")
    return ratio


def main(seconds: float = 5.0, connections: int = 16) -> float:
    """Run both measurements, print the table, and return the host/bare ratio."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_run(seconds, connections))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
