"""The peers of the capability benchmarks: what a Python user would write instead of an actor
on the host, each served by a process of its own so that its CPU time per request is measured
exactly as the host's.

    python -m bench.peers hello PORT                          aiohttp hello world (the floor)
    python -m bench.peers counter PORT                        aiohttp + a dict counter
    python -m bench.peers redis PORT --url redis://HOST:PORT/DB   aiohttp + redis.asyncio INCR
    python -m bench.peers sqlite PORT --db FILE [--synchronous normal|full]
                                                              aiohttp + sqlite3 on one thread
    python -m bench.peers nats NATS_URL --subject SUBJECT     nats-py responder (uppercase)

The HTTP peers listen on 127.0.0.1:PORT with aiohttp's low-level server (``web.Server``, no
router or middleware: the HTTP server provider of the host uses the same) and answer as the
``kvcounter`` actor does (``actors/kvcounter.c``): the key is the request's path with every
``/`` replaced by ``:``, the answer ``200 application/json {"counter":N}`` with N the new
total. Each runs until it is killed (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

__all__ = ["KINDS", "main"]

HOST = "127.0.0.1"
KINDS = ("hello", "counter", "redis", "sqlite", "nats")
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# An upsert that hands back the new total, so each request is one statement (SQLite >= 3.35).
UPSERT = (
    "INSERT INTO counters (key, value) VALUES (?, 1) "
    "ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value"
)


def _key(request: web.BaseRequest) -> str:
    return request.path.replace("/", ":")


def _counted(total: int) -> web.Response:
    # The actor's exact bytes (no space, no charset), so both sides send the same answer.
    return web.Response(body=b'{"counter":%d}' % total, content_type="application/json")


def hello() -> Handler:
    """Every request answered with "Hello, World!": the floor of any aiohttp server."""

    async def handle(request: web.BaseRequest) -> web.Response:
        return web.Response(body=b"Hello, World!", content_type="text/plain")

    return handle


def counter() -> Handler:
    """A counter per path in a dict: what ``kvcounter`` on the memory back end does."""
    counts: dict[str, int] = {}

    async def handle(request: web.BaseRequest) -> web.Response:
        key = _key(request)
        counts[key] = total = counts.get(key, 0) + 1
        return _counted(total)

    return handle


def redis_counter(url: str) -> Handler:
    """``INCR`` of the path's key with ``redis.asyncio`` (its connection pool, one connection
    per concurrent request)."""
    import redis.asyncio  # noqa: PLC0415 - only this peer needs it

    client = redis.asyncio.Redis.from_url(url)

    async def handle(request: web.BaseRequest) -> web.Response:
        return _counted(int(await client.incr(_key(request))))

    return handle


def sqlite_counter(path: str, synchronous: str) -> Handler:
    """An upsert per request on one dedicated database thread (sqlite3 connections are not
    shared between threads, and one writer at a time is all SQLite allows anyway); each
    request is its own transaction, committed before the answer, in WAL mode."""
    database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
    conn = sqlite3.connect(path, check_same_thread=False)  # used by that one thread only
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER)")
    conn.commit()

    def increment(key: str) -> int:
        with conn:  # commits on leaving: with synchronous=full, after the fsync
            (total,) = conn.execute(UPSERT, (key,)).fetchall()[0]
        return int(total)

    async def handle(request: web.BaseRequest) -> web.Response:
        loop = asyncio.get_running_loop()
        return _counted(await loop.run_in_executor(database, increment, _key(request)))

    return handle


async def serve_http(handler: Handler, port: int) -> None:
    """Serve ``handler`` on 127.0.0.1:``port`` until cancelled."""
    runner = web.ServerRunner(web.Server(handler, access_log=None))
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, port).start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def serve_nats(url: str, subject: str) -> None:
    """Answer every request on ``subject`` with its body uppercased, until cancelled."""
    import nats  # noqa: PLC0415 - only this peer needs it

    nc = await nats.connect(url)

    async def respond(message: Any) -> None:
        await nc.publish(message.reply, message.data.upper())

    try:
        await nc.subscribe(subject, cb=respond)
        await nc.flush()
        await asyncio.Event().wait()
    finally:
        await nc.close()


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("where", help="the port to listen on; for nats the NATS server's URL")
    parser.add_argument("--url", help="redis: the Redis URL")
    parser.add_argument("--db", help="sqlite: the database file")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="full")
    parser.add_argument("--subject", help="nats: the subject to answer on")
    args = parser.parse_args(argv)
    needed = {"redis": "url", "sqlite": "db", "nats": "subject"}.get(args.kind)
    if needed and getattr(args, needed) is None:
        parser.error(f"{args.kind} needs --{needed}")
    return args


def main(argv: Sequence[str]) -> None:
    """Run the peer the command line names until killed."""
    args = _arguments(argv)
    if args.kind == "nats":
        asyncio.run(serve_nats(args.where, args.subject))
        return
    handlers: dict[str, Callable[[], Handler]] = {
        "hello": hello,
        "counter": counter,
        "redis": lambda: redis_counter(args.url),
        "sqlite": lambda: sqlite_counter(args.db, args.synchronous),
    }
    handler = handlers[args.kind]()
    asyncio.run(serve_http(handler, int(args.where)))


if __name__ == "__main__":
    main(sys.argv[1:])
