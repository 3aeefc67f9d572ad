"""Lattice benchmark: a remote actor call (host B → NATS → host A's ``echo`` actor) next to
a plain nats-py request/reply on the same nats-server, in the same run.

Both run in this process on one event loop: two hosts joined to the lattice, and a nats-py
responder that answers with the request's body. Figures: sequential latency (one call at a
time) and throughput with 64 calls in flight. The difference is the lattice: the envelope,
its signed anti-forgery token (Ed25519 sign + verify, SHA-256), the actor call, the response.

The signature work alone bounds what the lattice can reach, so it is measured in the same
run (one signature and one verification of a real token) and the bounds printed next to the
targets: sequential latency at least raw + sign + verify, and throughput at most one call
per (raw per-call time + sign + verify), since all of it runs on the one event loop thread.
The targets are stated against those bounds (1.1x the latency floor, 0.8x the throughput
ceiling).

    .venv/bin/python -m bench.lattice_bench [seconds per figure]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import nats

from bench.process_bench import wascc_up
from bench.report import Section
from bench.signing import sign_throwaway
from wascc.host import Host
from wascc.host.errors import LatticeError
from wascc.host.lattice import Entity, Lattice, LatticeConfig, seal
from wascc.host.trust import TrustPolicy
from wascc.keys.claims import validate_module
from wascc.keys.nkeys import KeyPair, decode_public_key

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "actors" / "build" / "echo.wasm"
IN_FLIGHT = 64
WARMUP = 0.3
ROUND = 0.5  # seconds of one side before switching to the other
PAYLOAD = b"x" * 64
# Targets stated against what Ed25519 alone allows (one signature and one verification per
# invocation stay: they are the anti-forgery model): sequential latency at most 1.1x (raw
# round trip + sign + verify), throughput at 64 in flight at least 0.8x the ceiling they set.
LATENCY_OVER_FLOOR = 1.1
THROUGHPUT_OF_CEILING = 0.8
Call = Callable[[], Awaitable[bytes]]


async def _latencies(call: Call, seconds: float) -> list[float]:
    """Seconds per call, one call at a time, for ``seconds``."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    while (now := time.perf_counter()) < stop_at:
        await call()
        latencies.append(time.perf_counter() - now)
    return latencies


async def _count(call: Call, seconds: float) -> int:
    """Calls finished in ``seconds`` with ``IN_FLIGHT`` of them in flight."""
    count = 0
    stop_at = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            await call()
            count += 1

    await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    return count


async def _compare(raw: Call, remote: Call, seconds: float) -> dict[str, Any]:
    """Both measurements in alternating rounds, so that the machine's noise (shared CPUs)
    falls on both sides alike rather than on whichever ran during a slow spell."""
    await _latencies(raw, WARMUP)
    await _latencies(remote, WARMUP)
    rounds = max(2, round(seconds / ROUND))
    each = seconds / rounds
    latency: dict[str, list[float]] = {"raw": [], "lattice": []}
    calls = {"raw": 0, "lattice": 0}
    for _ in range(rounds):
        latency["raw"] += await _latencies(raw, each)
        latency["lattice"] += await _latencies(remote, each)
    for _ in range(rounds):
        calls["raw"] += await _count(raw, each)
        calls["lattice"] += await _count(remote, each)
    result: dict[str, Any] = {}
    for kind in ("raw", "lattice"):
        result[f"{kind}_latency"] = {
            "p50_us": statistics.median(latency[kind]) * 1e6,
            "mean_us": statistics.fmean(latency[kind]) * 1e6,
        }
        result[f"{kind}_rps"] = calls[kind] / seconds
    return result


def _signature_cost(actor: str, rounds: int = 2000) -> dict[str, float]:
    """Median µs of the Ed25519 work of one invocation on a real token: the sending host
    signs it, the receiving host verifies it (with a cached key, as a running host does)."""
    key = KeyPair.generate("server")
    envelope = seal(Entity.of("system"), Entity(actor=actor), "Echo", PAYLOAD, key)
    signing_input, _, _ = envelope.encoded_claims.rpartition(".")
    data = signing_input.encode()
    signature = key.sign(data)
    verify_key = nacl.signing.VerifyKey(decode_public_key(key.public_key)[1])

    def median_us(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e6

    return {
        "sign_us": median_us(lambda: key.sign(data)),
        "verify_us": median_us(lambda: verify_key.verify(data, signature)),
    }


# The raw pair's responder when it runs in a process of its own: answers with the body.
RESPONDER = """
import asyncio, sys, nats
async def main(url, subject):
    nc = await nats.connect(url)
    async def reply(msg):
        await nc.publish(msg.reply, msg.data)
    await nc.subscribe(subject, queue=subject, cb=reply)
    await nc.flush()
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(*sys.argv[1:]))
"""
SEPARATE_MANIFEST = (
    "lattice: {{url: '{url}'}}\nactors: [echo_s.wasm]\ncapabilities: []\nbindings: []\n"
)
START_TIMEOUT = 30.0


@contextlib.contextmanager
def _responder_process(url: str, subject: str) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RESPONDER, url, subject], stdout=subprocess.PIPE, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        if not ready or proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the raw responder process did not start")
        yield
    finally:
        proc.kill()
        proc.wait()


async def _separate(
    b: Host, url: str, tmp: Path, seconds: float, account: KeyPair
) -> dict[str, Any]:
    """The same comparison with the callee in a process of its own: a `wascc up` host with
    the echo actor (anchored in ``account``, as the in-process hosts), and a nats-py
    responder process."""
    signed = sign_throwaway(ECHO.read_bytes(), "echo")
    key = validate_module(signed).subject
    (tmp / "echo_s.wasm").write_bytes(signed)
    manifest = tmp / "separate.yaml"
    manifest.write_text(SEPARATE_MANIFEST.format(url=url))
    requester = await nats.connect(url)
    try:
        anchor = {"WASCC_LATTICE_ACCOUNT": account.seed}
        with _responder_process(url, "bench.raw2"), wascc_up(manifest, tmp / "data", anchor):
            deadline = time.monotonic() + START_TIMEOUT
            while True:  # until the `wascc up` host joined and serves its actor
                try:
                    await b.call_actor(key, "Echo", PAYLOAD)
                    break
                except LatticeError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)

            async def raw() -> bytes:
                return bytes((await requester.request("bench.raw2", PAYLOAD, 5)).data)

            async def remote() -> bytes:
                return await b.call_actor(key, "Echo", PAYLOAD)

            return await _compare(raw, remote, seconds)
    finally:
        await requester.close()


async def _run(seconds: float) -> dict[str, Any]:
    from tests.support.servers import nats_server  # noqa: PLC0415 - the suite's helper

    with tempfile.TemporaryDirectory() as tmp, nats_server(Path(tmp)) as srv:
        url = f"nats://127.0.0.1:{srv.port}"
        module = sign_throwaway(ECHO.read_bytes(), "echo")
        # As `wascc up --lattice-account` runs: anchored in an account that vouched for both
        # hosts, so every invocation also carries a voucher and passes the replay guard.
        account = KeyPair.generate("account")
        trust = TrustPolicy.build(lattice_account=account.public_key)
        config = LatticeConfig(url=url, vouch_with=account)
        async with (
            Host(cache_dir=Path(tmp), trust=trust) as a,
            Host(cache_dir=Path(tmp), trust=trust) as b,
        ):
            la, lb = Lattice(a, config), Lattice(b, config)
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
                    **await _compare(raw, remote, seconds),
                    **_signature_cost(claims.subject),
                    "separate": await _separate(b, url, Path(tmp), seconds, account),
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


METHOD = """
Both hosts and the raw pair run in the benchmark process on one event loop, against one
nats-server on loopback: host B calls `Echo` (64 B) on the `echo` actor of host A through
the lattice (envelope, anti-forgery token signed by B and verified by A, the actor call, the
response); the raw pair is a nats-py requester and a responder that answers with the
request's body. Sequential: one call at a time; throughput: 64 calls in flight; both in
alternating rounds of about 0.5 s (raw, lattice, raw, ...) after a warm-up, so that the
shared machine's slow spells fall on both sides alike. The rows "two processes" repeat both
with the callee in a process of its own (a `wascc up` host with the echo actor, a nats-py
responder process) and the caller in the benchmark process: the way a lattice runs, each
host with its own interpreter. The targets are read on the first rows and stated against
the Ed25519 bounds: latency p50 at most 1.1x (raw + sign + verify), throughput at least 0.8x
the ceiling the signatures set. Both hosts are anchored in one account (as `wascc up
--lattice-account` runs), so each invocation also carries the sender's voucher and passes the
receiver's replay guard. The
Ed25519 row is one signature and one verification of a real token (median), measured in the
same run: every invocation between hosts needs both (docs/lattice.md), both run on the loop thread
(a thread for them was measured slower: it waits for the GIL the busy loop holds), so they
bound what the lattice can reach whatever the rest costs.
"""


def section(seconds: float = 2.0) -> Section:
    """Measure; the table, verdicts and bounds as a ``Section``."""
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(_run(seconds))
    raw_l, lat_l = result["raw_latency"], result["lattice_latency"]
    raw_t, lat_t = result["raw_rps"], result["lattice_rps"]
    crypto_us = result["sign_us"] + result["verify_us"]
    latency_ratio = lat_l["p50_us"] / raw_l["p50_us"]
    throughput_ratio = lat_t / raw_t
    latency_floor = (raw_l["p50_us"] + crypto_us) / raw_l["p50_us"]
    sep = result["separate"]
    sep_latency_ratio = sep["lattice_latency"]["p50_us"] / sep["raw_latency"]["p50_us"]
    sep_latency_floor = (sep["raw_latency"]["p50_us"] + crypto_us) / sep["raw_latency"]["p50_us"]
    throughput_ceiling = 1 / (1 + crypto_us * 1e-6 * raw_t)
    latency_target = LATENCY_OVER_FLOOR * latency_floor
    throughput_target = THROUGHPUT_OF_CEILING * throughput_ceiling

    def verdict(ratio: float, target: float, better_low: bool) -> str:
        met = ratio <= target if better_low else ratio >= target
        return "meets" if met else "misses"

    return Section(
        f"Lattice: remote actor call vs raw nats-py request/reply ({seconds:g} s per figure)",
        METHOD,
        ("figure", "raw nats-py", "lattice", "ratio", "target", "bound from Ed25519 alone"),
        [
            (
                "latency p50, sequential",
                f"{raw_l['p50_us']:.0f} µs",
                f"{lat_l['p50_us']:.0f} µs",
                f"{latency_ratio:.2f}x",
                f"≤ {latency_target:.2f}x ({LATENCY_OVER_FLOOR:g}x bound)",
                f"≥ {latency_floor:.2f}x",
            ),
            (
                "latency mean, sequential",
                f"{raw_l['mean_us']:.0f} µs",
                f"{lat_l['mean_us']:.0f} µs",
                f"{lat_l['mean_us'] / raw_l['mean_us']:.2f}x",
                "",
                "",
            ),
            (
                f"throughput, {IN_FLIGHT} in flight",
                f"{raw_t:,.0f}/s",
                f"{lat_t:,.0f}/s",
                f"{throughput_ratio:.2f}x",
                f"≥ {throughput_target:.2f}x ({THROUGHPUT_OF_CEILING:g}x bound)",
                f"≤ {throughput_ceiling:.2f}x",
            ),
            (
                "two processes: latency p50",
                f"{sep['raw_latency']['p50_us']:.0f} µs",
                f"{sep['lattice_latency']['p50_us']:.0f} µs",
                f"{sep_latency_ratio:.2f}x",
                "",
                f"≥ {sep_latency_floor:.2f}x",
            ),
            (
                f"two processes: throughput, {IN_FLIGHT} in flight",
                f"{sep['raw_rps']:,.0f}/s",
                f"{sep['lattice_rps']:,.0f}/s",
                f"{sep['lattice_rps'] / sep['raw_rps']:.2f}x",
                "",
                "",
            ),
            (
                "Ed25519 per invocation",
                "",
                f"sign {result['sign_us']:.0f} µs + verify {result['verify_us']:.0f} µs",
                "",
                "",
                "",
            ),
        ],
        verdicts=[
            f"lattice latency: {latency_ratio:.2f}x raw ("
            f"{verdict(latency_ratio, latency_target, True)} the ≤ {latency_target:.2f}x "
            f"target, {LATENCY_OVER_FLOOR:g}x the raw round trip plus Ed25519)",
            f"lattice throughput: {throughput_ratio:.2f}x raw ("
            f"{verdict(throughput_ratio, throughput_target, False)} the ≥ "
            f"{throughput_target:.2f}x target, {THROUGHPUT_OF_CEILING:g}x the "
            f"{throughput_ceiling:.2f}x the signatures alone allow)",
        ],
        notes=[
            f"The bounds: a sequential call costs at least the raw round trip plus "
            f"{crypto_us:.0f} µs of Ed25519; at {IN_FLIGHT} in flight the loop thread spends "
            f"{1e6 / raw_t:.0f} µs per raw call and at least that plus {crypto_us:.0f} µs per "
            "lattice call. The rest of the gap is Python: envelope, token JSON, hash, the "
            "two hosts' call paths, the actor."
        ],
    )


def main(seconds: float = 2.0) -> Section:
    """Measure and print the table; returns it."""
    result = section(seconds)
    result.print()
    return result


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
