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

from bench.report import Section
from bench.signing import sign_throwaway
from host import ActorSettings, Host
from host.inline import InlinePolicy
from providers import HttpServerProvider

__all__ = ["main", "section", "warm_up"]

ROOT = Path(__file__).resolve().parents[1]

ECHO = ROOT / "actors" / "build" / "echo.wasm"
LOADGEN = ROOT / "bench" / "loadgen.py"
HTTP = "wascc:http_server"
TARGET = 0.5
WARM_UP = 0.5
Result = dict[str, float]


async def _load(port: int | list[int], seconds: float, connections: int) -> Result:
    """Run the load generator against ``port`` (or several, connections spread over them) in
    its own process and return its figures."""
    ports = [port] if isinstance(port, int) else port
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(LOADGEN),
        ",".join(map(str, ports)),
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


async def warm_up(port: int | list[int]) -> None:
    """A short load on one connection, not counted: sequential calls are quick, so the inline
    policy (``host/inline.py``) promotes the actor before the measurement starts."""
    await _load(port, WARM_UP, 1)


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
    module = sign_throwaway(ECHO.read_bytes(), "echo", [HTTP])
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


HEADER = ("server", "req/s", "p50 ms", "p99 ms", "requests")
METHOD = """
Both servers run in the benchmark process, one after the other; the load generator
(`bench/loadgen.py`, stdlib asyncio, keep-alive HTTP/1.1, one request in flight per
connection) runs in its own process, so on this 2-core machine it competes with the server
for CPU. The floor is aiohttp's low-level server answering "Hello, World!"; the host serves
`GET /` through the HTTP server provider (aiohttp) into the C `echo` actor (HandleRequest:
it answers a JSON description of the request), 2 instances. Latencies of the first 0.5 s are
not counted. Before the host is measured, a warm-up pass (0.5 s on one connection, not
counted) lets the inline policy promote the actor to run on the event loop thread; the last
row is a fresh host measured without it.
"""


async def _run(seconds: float, connections: int) -> Section:
    async with _bare_server() as port:
        bare = await _load(port, seconds, connections)
    async with _host_server(instances=2) as port:
        cold = await _load(port, seconds, connections)
    async with _host_server(instances=2) as port:
        await warm_up(port)
        hosted = await _load(port, seconds, connections)
    ratio = hosted["rps"] / bare["rps"]
    verdict = "meets" if ratio >= TARGET else "is below"
    return Section(
        f"HTTP: host + echo actor vs bare aiohttp ({seconds:g} s each, {connections} "
        "keep-alive connections, loopback)",
        METHOD,
        HEADER,
        [
            _row("bare aiohttp hello-world", bare),
            _row("host + echo actor", hosted),
            _row("host + echo actor, no warm-up pass", cold),
        ],
        verdicts=[f"HTTP host/bare: {ratio:.2f}x ({verdict} the {TARGET}x target)"],
        notes=[
            f"Without the warm-up pass the host serves {cold['rps'] / bare['rps']:.2f}x of "
            "bare: an actor's first calls run on worker threads, and it is promoted to run "
            f"inline only after {InlinePolicy.PROMOTE_AFTER} calls in a row that each ran "
            f"under {InlinePolicy.QUICK * 1e3:g} ms (measured on the worker), so the first "
            "requests of a fresh host pay two thread hops each."
        ],
    )


def section(seconds: float = 5.0, connections: int = 16) -> Section:
    """Measure both servers; the table as a ``Section``."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_run(seconds, connections))


def main(seconds: float = 5.0, connections: int = 16) -> Section:
    """Run both measurements and print the table."""
    result = section(seconds, connections)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
