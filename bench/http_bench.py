"""HTTP benchmark: the ``echo`` actor served by ``wascc up``, next to the aiohttp hello-world
peer process (``python -m bench.peers hello``), measured in the same run the same way.

Each server is a process of its own, started fresh and loaded from its first served request
by ``bench/loadgen.py`` (another process), with no warm-up pass; its CPU time is read from
/proc. Read the ratio, not the absolute figures: machines here are shared.

    .venv/bin/python -m bench.http_bench [seconds per figure] [connections]
"""

from __future__ import annotations

import sys
import tempfile
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
ECHO = ROOT / "actors" / "build" / "echo.wasm"
HTTP = "wascc:http_server"
TARGET = 0.5

MANIFEST = """\
actors:
  - path: echo_s.wasm
    max_instances: 2
capabilities:
  - path: http_server
bindings:
  - actor: echo_s.wasm
    capability: wascc:http_server
    values: {PORT: "${PORT}"}
"""

METHOD = """
Both servers are processes of their own, started fresh for the figure, one after the other.
**Host**: `wascc up echo.yaml --expand-env --data-dir DIR --log-level warning` with the
manifest below (the C `echo` actor, 2 instances, signed for the run with throwaway keys,
behind the built-in HTTP server provider; HandleRequest answers a JSON description of the
request). **Peer**: `python -m bench.peers hello PORT`, aiohttp's low-level server
(`web.Server`, as the HTTP provider uses) answering "Hello, World!". Each process is polled
with `GET /` until it answers 200 once; the load starts right after, with no warm-up pass:
`bench/loadgen.py` in its own process, {connections} keep-alive HTTP/1.1 connections with one
request in flight each, `GET /`, for {total:g} s. **req/s** counts every answer from the
first request to the last; **p50/p99** leave out the first {warmup:g} s; **CPU µs/req** is
the server process's user + system CPU time (/proc/PID/stat, all its threads) over the whole
load divided by the answers; **client CPU** is the load generator's CPU time per second of
load (1.00 = one core busy: near it, the load generator rather than the server sets the
pace). On this 2-CPU machine the load generator competes with the server for CPU, the same
for both rows. Each side is measured {rounds} times, each time in a fresh process, in the
order peer, host, host, peer; the table shows each side's round with the most req/s.
"""


def section(seconds: float = 5.0, connections: int = 16) -> Section:
    """The hello peer and the echo actor under ``wascc up``, as a ``Section``."""
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp:
        root = Path(tmp)
        (root / "echo_s.wasm").write_bytes(sign_throwaway(ECHO.read_bytes(), "echo", [HTTP]))
        manifest = root / "echo.yaml"
        manifest.write_text(MANIFEST)

        def hello_figures() -> Figures:
            port = free_port()
            with peer("hello", str(port), log=root / "hello.log") as server:
                return measure_http(server, port, seconds, connections)

        def host_figures() -> Figures:
            port = free_port()
            env = {"PORT": str(port)}
            with wascc_up(manifest, root / "data", env, log=root / "host.log") as server:
                return measure_http(server, port, seconds, connections)

        hellos, hosts = alternate(hello_figures, host_figures)
    hello, hosted = best(hellos), best(hosts)
    total = seconds + loadgen.WARMUP
    return Section(
        f"HTTP: `wascc up` + echo actor vs aiohttp hello world ({total:g} s of load per figure "
        f"from the first request, best of {ROUNDS}, {connections} keep-alive connections, "
        "loopback)",
        METHOD.format(connections=connections, total=total, warmup=loadgen.WARMUP, rounds=ROUNDS),
        HEADER,
        [
            row("peer: aiohttp hello world (`bench.peers hello`)", hello),
            row("host: `wascc up` + echo actor", hosted, hello),
        ],
        verdicts=[verdict("HTTP echo, host/aiohttp hello", hosted, hello, TARGET)],
        notes=[
            f"req/s of every round: peer {rounds_text(hellos)}; host {rounds_text(hosts)}.",
            manifest_note("echo.yaml", MANIFEST, "`PORT` set to a free port"),
        ],
    )


def main(seconds: float = 5.0, connections: int = 16) -> Section:
    """Measure both servers and print the table."""
    result = section(seconds, connections)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
