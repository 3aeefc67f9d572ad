"""Density: how many small actors one host process holds, each loaded and answering one call.

Each count runs in a fresh child process (``python -m bench.density_bench --child N SECONDS``)
so that its RSS is the host's alone. The child starts a ``Host``, then for each actor signs
the C ``echo`` module with a new module key (a distinct subject, so a distinct actor; the
signing is not counted in the load time) and loads it with ``add_actor`` (claims check,
compile, which is a cache hit after the first, and one instance created); then calls
``Echo`` once on every actor. RSS, virtual size and memory mappings are read from /proc
before the first actor and after the last call. A time bound stops the loading early; the
figures are then those of the actors loaded so far.

    .venv/bin/python -m bench.density_bench [1000,10000] [seconds bound per count]
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.report import Section, rss_bytes
from wascc.host import Host
from wascc.host.engine import ENGINE_SETTINGS
from wascc.keys.claims import sign_module
from wascc.keys.nkeys import KeyPair

__all__ = ["main", "section"]

ROOT = Path(__file__).resolve().parents[1]
ECHO = ROOT / "actors" / "build" / "echo.wasm"
COUNTS = (1000, 10_000)
GOAL = 10_000
BOUND = 90.0


def _proc_status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _mappings() -> int:
    with open("/proc/self/maps", "rb") as maps:
        return sum(1 for _ in maps)


async def _child(count: int, bound: float) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    module = ECHO.read_bytes()
    account = KeyPair.generate("account")
    stop_at = time.perf_counter() + bound
    async with Host() as host:
        # One actor first: the compile (and its code pages) is a one-off, not a per-actor cost.
        first = sign_module(module, issuer=account, subject=KeyPair.generate("module"), name="e0")
        keys = [(await host.add_actor(first)).subject]
        rss0, vm0, maps0 = rss_bytes(), _proc_status("VmSize"), _mappings()
        loading = 0.0
        timed_out = False
        for i in range(1, count):
            if time.perf_counter() >= stop_at:
                timed_out = True
                break
            signed = sign_module(
                module, issuer=account, subject=KeyPair.generate("module"), name=f"e{i}"
            )
            started = time.perf_counter()
            keys.append((await host.add_actor(signed)).subject)
            loading += time.perf_counter() - started
        started = time.perf_counter()
        answered = 0
        for key in keys:
            if await host.call_actor(key, "Echo", b"ping") == b"ping":
                answered += 1
        calling = time.perf_counter() - started
        added = len(keys) - 1
        return {
            "requested": count,
            "loaded": len(keys),
            "answered": answered,
            "timed_out": timed_out,
            "load_s": loading,
            "call_s": calling,
            "added": added,
            "rss_base": rss0,
            "rss": rss_bytes(),
            "vm_added": _proc_status("VmSize") - vm0,
            "maps_added": _mappings() - maps0,
        }


def _measure(count: int, bound: float) -> dict[str, Any]:
    """Run one count in a child process; its JSON result (or the failure)."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.density_bench", "--child", str(count), str(bound)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=bound + 120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"requested": count, "error": f"the child did not finish in {bound + 120:.0f} s"}
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"requested": count, "error": f"exit code {out.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


METHOD = """
Each count runs in a fresh child process so that its RSS is the host's alone. The child
starts one `Host`, loads one actor (the only Cranelift compile), records RSS, virtual size
and the number of memory mappings, then adds the others one by one: each is the C `echo`
actor (`actors/build/echo.wasm`, 9 KB) signed with a new module key, so every actor is a
distinct subject; `add_actor` checks its claims, takes the compiled module from the cache
and creates its first instance (its linear memory included). Signing is not counted in the
load time. Then `Echo` is called once on every actor. *Per actor* figures are the growth
from after the first actor to after the last call, divided by the actors added. A time bound
of {bound:g} s per count stops the loading early; the figures are then those of the actors
loaded so far and the row says so.

wasmtime reserves 4 GiB of address space per linear memory by default, plus 32 MiB guards,
so 10,000 instances would take ~41 TiB of the 128 TiB a process can map and any
`ulimit -v` or container limit would stop it much earlier. `host/engine.py`
`ENGINE_SETTINGS` lifts that: {settings}. A reservation below 4 GiB makes Cranelift emit
explicit bounds checks (the guard lets it fold small static offsets into one check), so this
is safe: an out-of-bounds access still traps; a memory that grows past its reservation is
moved once per 32 MiB of growth; the per-actor memory limit (`Limits.memory_bytes`, 256 MiB by
default) is what bounds a memory. Address space is reserved, not resident: the table shows
what one instance really adds (virtual size and memory mappings per actor). Mappings are the
ceiling that remains: Linux's `vm.max_map_count` (this machine: {max_map_count}) divided by
the mappings per actor is the most actors one process can hold.
"""


def _settings_text() -> str:
    def size(value: int | bool) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        return f"{value // 2**20} MiB" if value >= 2**20 else str(value)

    return ", ".join(f"`{name} = {size(value)}`" for name, value in ENGINE_SETTINGS.items())


def _max_map_count() -> str:
    try:
        return Path("/proc/sys/vm/max_map_count").read_text().strip()
    except OSError:
        return "unknown"


def section(counts: tuple[int, ...] = COUNTS, bound: float = BOUND) -> Section:
    """Measure every count in its own child; the table as a ``Section``."""
    rows: list[tuple[str, ...]] = []
    verdicts: list[str] = []
    notes: list[str] = []
    for count in counts:
        result = _measure(count, bound)
        if "error" in result:
            rows.append((f"{count:,}", "failed", "", "", "", "", "", ""))
            notes.append(f"{count:,} actors: the child failed ({result['error']}).")
            if count == GOAL:
                verdicts.append(f"{GOAL:,} actors in one host: NOT shown ({result['error']})")
            continue
        added = max(1, result["added"])
        loaded = f"{result['loaded']:,}" + (" (time bound hit)" if result["timed_out"] else "")
        rows.append(
            (
                f"{count:,}",
                loaded,
                f"{result['answered']:,}",
                f"{result['load_s'] / added * 1e3:.2f} ms",
                f"{(result['rss'] - result['rss_base']) / added / 1024:.0f} KiB",
                f"{result['rss'] / 2**20:.0f} MiB",
                f"{result['vm_added'] / added / 2**20:.0f} MiB",
                f"{result['maps_added'] / added:.1f}",
            )
        )
        limit = _max_map_count()
        if count == counts[-1] and result["maps_added"] > 0 and limit.isdigit():
            per_actor = result["maps_added"] / added
            notes.append(
                f"At {per_actor:.1f} mappings per actor, this machine's `vm.max_map_count` of "
                f"{int(limit):,} caps one host process at about {int(limit) / per_actor:,.0f} "
                "actors (raise it with `sysctl vm.max_map_count=...` for more); RSS and "
                "address space are far from limiting."
            )
        if count == GOAL:
            ok = result["answered"] == GOAL
            verdicts.append(
                f"{GOAL:,} actors in one host: {'met' if ok else 'NOT met'} "
                f"({result['answered']:,} loaded and answering, RSS "
                f"{result['rss'] / 2**20:.0f} MiB)"
            )
    return Section(
        "Density: small echo actors in one host process",
        METHOD.format(bound=bound, settings=_settings_text(), max_map_count=_max_map_count()),
        (
            "actors",
            "loaded",
            "answered",
            "load time per actor",
            "RSS per actor",
            "RSS total",
            "address space per actor",
            "mappings per actor",
        ),
        rows,
        verdicts,
        notes,
    )


def main(counts: tuple[int, ...] = COUNTS, bound: float = BOUND) -> Section:
    """Measure and print the table."""
    result = section(counts, bound)
    result.print()
    return result


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--child":
        print(json.dumps(asyncio.run(_child(int(args[1]), float(args[2])))))
    else:
        chosen = tuple(int(n) for n in args[0].split(",")) if args else COUNTS
        main(chosen, float(args[1]) if len(args) > 1 else BOUND)
