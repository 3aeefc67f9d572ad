"""Replay guard benchmark: what ``ReplayGuard.check`` costs per invocation, and per id held.

Each figure runs in steady state in simulated time: the guard first holds ``entries`` ids
(a rate of ``entries / WINDOW`` tokens per second for one window), then is timed while time
keeps advancing at that rate, so that every check adds one id and the expiry drops about
one. The ids are random 36-character texts (the size of the UUID4 a host writes), made
before the timing. Next to it, the
floor: one dict lookup and one insert of the same ids (the least any replay check costs),
and the Ed25519 verification every incoming token needs anyway. Bytes per entry are what
the guard keeps alive per id (tracemalloc: its set and deques, the jti text, the ``iat``).

    .venv/bin/python -m bench.replay_bench
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

import nacl.signing

from bench.report import Section
from wascc.host.lattice.replay import ReplayGuard

__all__ = ["main", "section"]

ENTRIES = (0, 100_000, 1_000_000)
WINDOW = 10.0  # seconds; the steady state of 100k ids is 10k invocations per second
START = 1_790_000_000.0  # a Unix time in 2026
CHECKS = 100_000  # timed checks per figure, in BATCHES
BATCHES = 5
MEMORY_ENTRIES = 100_000
GOAL_US = 5.0


def _ids(count: int) -> list[str]:
    """``count`` random texts of 36 characters, as long as a UUID4 (a fifth of the cost of
    ``uuid4_text``, which matters for a million)."""
    text = os.urandom(18 * count).hex()
    return [text[i : i + 36] for i in range(0, 36 * count, 36)]


def _median_us(run: Callable[[list[str]], None], ids: list[str]) -> float:
    """Median µs per id over ``BATCHES`` timed runs of ``run`` on slices of ``ids``."""
    size = len(ids) // BATCHES
    times = []
    for b in range(BATCHES):
        batch = ids[b * size : (b + 1) * size]
        started = time.perf_counter()
        run(batch)
        times.append((time.perf_counter() - started) / size * 1e6)
    return statistics.median(times)


def _steady(entries: int) -> tuple[float, float, int]:
    """µs per check of a guard holding ``entries`` ids, the floor's µs, the ids held after."""
    guard = ReplayGuard(WINDOW, skew=1.0, max_entries=max(2 * entries, 1))
    # With no ids held, time moves past the window between checks: each check expires the
    # one before.
    step = WINDOW / entries if entries else 2 * WINDOW
    now = START
    held_ids = _ids(entries)
    for jti in held_ids:
        now += step
        guard.check(jti, now, now)
    clock = [now]

    def checks(batch: list[str]) -> None:
        check = guard.check
        t = clock[0]
        for jti in batch:
            t += step
            check(jti, t - 0.001, t)  # a token takes a millisecond to arrive
        clock[0] = t

    timed = _ids(CHECKS)
    gc.collect()
    guard_us = _median_us(checks, timed)
    held = len(guard)
    seen = dict.fromkeys(held_ids, START)

    def floor(batch: list[str]) -> None:
        for jti in batch:
            if jti in seen:
                raise AssertionError(jti)
            seen[jti] = START

    floor_us = _median_us(floor, timed)
    return guard_us, floor_us, held


def _bytes_per_entry(entries: int = MEMORY_ENTRIES) -> float:
    """Bytes the guard keeps alive per id (ids and ``iat`` made as a receiver parses them:
    one new text and one new int per token), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        guard = ReplayGuard(WINDOW, skew=1.0, max_entries=entries)
        ids = _ids(entries)
        rate = entries / WINDOW
        for i, jti in enumerate(ids):
            now = START + i / rate
            guard.check(jti, int(now) + 0, now)
        del ids
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(guard) == entries, len(guard)
    return (after - before) / entries


def _verify_us(rounds: int = 1000) -> float:
    """Median µs of one Ed25519 verification of a token-sized message."""
    key = nacl.signing.SigningKey.generate()
    signed = key.sign(b"x" * 400)
    verify = key.verify_key.verify
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        verify(signed)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


METHOD = f"""
`ReplayGuard.check(jti, iat, now)` (`host/lattice/replay.py`), the check every incoming
invocation token passes after its signature: in simulated time, the guard first fills up to
the ids held (tokens at a steady rate for one {WINDOW:g} s window), then {CHECKS:,} checks
are timed while time advances at the same rate (each adds one id, the expiry drops about
one; median of {BATCHES} batches, loop included). Ids are random 36-character texts, the
length of the UUID4 a host makes.
The floor is one dict lookup and one insert of the same ids into a dict of the same size;
the Ed25519 row is one verification of a token-sized message, which each token costs anyway.
Bytes per entry: what the guard keeps alive per id (its set and deques, the jti text, the
`iat` int), measured with tracemalloc at {MEMORY_ENTRIES:,} ids.
"""


def section() -> Section:
    """Measure (a few seconds, bounded: the sizes are fixed); the table and verdict."""
    started = time.perf_counter()
    rows: list[tuple[str, ...]] = []
    results: dict[int, float] = {}
    for entries in ENTRIES:
        guard_us, floor_us, held = _steady(entries)
        results[entries] = guard_us
        rows.append(
            (
                f"{entries:,} ids held",
                f"{held:,}",
                f"{guard_us:.2f} µs",
                f"{floor_us:.2f} µs",
                f"{guard_us / floor_us:.1f}x",
            )
        )
    per_entry = _bytes_per_entry()
    verify_us = _verify_us()
    rows.append(("memory per id", "", f"{per_entry:.0f} B", "", ""))
    rows.append(("Ed25519 verify of one token", "", "", f"{verify_us:.1f} µs", ""))
    cost = results[100_000]
    worst = max(results.values())
    met = "met" if worst < GOAL_US else "missed"
    return Section(
        "Lattice: replay guard per incoming invocation",
        METHOD,
        ("figure", "ids after", "replay guard", "floor: dict lookup + insert", "ratio"),
        rows,
        verdicts=[
            f"replay guard: {cost:.2f} µs per check with 100,000 ids held, at most "
            f"{worst:.2f} µs up to 1,000,000 (goal < {GOAL_US:g} µs {met}); "
            f"{per_entry:.0f} bytes per id"
        ],
        notes=[
            f"The check is {100 * cost / verify_us:.1f} % of the Ed25519 verification the same "
            f"token needs ({verify_us:.0f} µs). Measured in "
            f"{time.perf_counter() - started:.1f} s."
        ],
    )


def main() -> Section:
    """Measure and print the table; returns it."""
    result = section()
    result.print()
    return result


if __name__ == "__main__":
    main()
