"""`wascc up` as a process: start-up time to the first served request, and throughput of one
actor served by one process vs two.

Both run the real command line (``.venv/bin/wascc up MANIFEST --expand-env``) as child
processes on free loopback ports. The demo's actors are signed for the run with throwaway
keys into a temporary tree laid out like the repository, so ``examples/demo.yaml`` is used
as it is (its paths are relative to the manifest).

    .venv/bin/python -m bench.process_bench [seconds per throughput figure]
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.report import Section
from bench.served import Server, free_port, free_ports, load, warm_up, wascc_up
from wascc.host.engine import Engine
from wascc.keys.claims import sign_module, validate_module
from wascc.keys.nkeys import KeyPair

__all__ = ["main", "scaling_section", "startup_section", "wascc_up"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo.yaml"
BUILD = ROOT / "actors" / "build"
HTTP, KEYVALUE, LOGGING = "wascc:http_server", "wascc:keyvalue", "wascc:logging"
DEMO_ACTORS = {
    "echo": (HTTP,),
    "kvcounter": (HTTP, KEYVALUE),
    "logger": (HTTP, LOGGING),
}
RUNS = 5
ROUNDS = 2

SCALING_MANIFEST = """\
actors:
  - path: ../actors/build/echo_s.wasm
    max_instances: 2
capabilities:
  - path: http_server
bindings:
  - actor: ../actors/build/echo_s.wasm
    capability: wascc:http_server
    values: {PORT: "${ECHO_PORT}"}
"""


@contextmanager
def _demo_tree() -> Iterator[Path]:
    """A temporary tree with ``examples/demo.yaml`` and the demo's actors, freshly signed."""
    with tempfile.TemporaryDirectory(prefix="wascc-bench-") as tmp:
        root = Path(tmp)
        (root / "examples").mkdir()
        (root / "actors" / "build").mkdir(parents=True)
        shutil.copy(DEMO, root / "examples" / "demo.yaml")
        (root / "examples" / "echo.yaml").write_text(SCALING_MANIFEST)
        account = KeyPair.generate("account")
        for name, caps in DEMO_ACTORS.items():
            signed = sign_module(
                (BUILD / f"{name}.wasm").read_bytes(),
                issuer=account,
                subject=KeyPair.generate("module"),
                name=name,
                caps=caps,
            )
            (root / "actors" / "build" / f"{name}_s.wasm").write_bytes(signed)
        yield root


def _demo_ports() -> dict[str, str]:
    names = ("ECHO_PORT", "COUNTER_PORT", "LOGGER_PORT")
    return {name: str(port) for name, port in zip(names, free_ports(len(names)), strict=True)}


def _python_floor() -> tuple[float, float]:
    """Seconds from spawning ``python -c pass`` to its exit, and from spawning
    ``python -c 'import wascc.host.server'`` (what ``wascc up`` imports: the engine, aiohttp,
    NATS, the providers) to its first output line after the import (median of RUNS each; like
    the start-up figures, the second does not count the process's exit)."""

    def timed(code: str) -> float:
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
            assert proc.stdout is not None
            proc.stdout.readline()
            times.append(time.perf_counter() - started)
            proc.wait()
        return statistics.median(times)

    return timed("pass"), timed("import wascc.host.server; print('imported', flush=True)")


# The commands a person types most (`wascc --help`, keys, claims): whole runs, exit included.
QUICK_COMMANDS = (("--help",), ("keys", "--help"), ("claims", "--help"))
QUICK_TARGET = 0.25


def _quick_commands() -> list[tuple[str, float]]:
    """``wascc ARGS`` to its exit, median of RUNS, for each of QUICK_COMMANDS."""
    wascc = Path(sys.executable).with_name("wascc")
    results = []
    for args in QUICK_COMMANDS:
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            subprocess.run([str(wascc), *args], cwd=ROOT, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        results.append((" ".join(("wascc", *args)), statistics.median(times)))
    return results


STARTUP_METHOD = """
`wascc up examples/demo.yaml --expand-env --data-dir DIR` launched as a child process (the
demo: echo, kvcounter and logger actors, the HTTP server, key-value on SQLite and logging
providers; actors signed for the run with throwaway keys), with `ECHO_PORT`, `COUNTER_PORT`
and `LOGGER_PORT` set to free loopback ports. Timed from just before the process is spawned
to the first `200` answer to `GET /` on the echo actor's port (polled every 2 ms), then the
process is stopped with SIGTERM. **Cold**: a fresh, empty `--data-dir` each run, so the module
cache is empty and every actor is compiled by Cranelift (and the cache's secret is made).
**Warm**: the same data directory again, so every module comes from the signed on-disk cache.
The median of {runs} runs each, cold and warm alternating. The floor is the Python
interpreter starting (`python -c pass`) and importing what `wascc up` runs on
(`import wascc.host.server`: wasmtime, aiohttp, NATS, the providers), median of {runs}. The
quick commands (`wascc --help`, `wascc keys --help`, `wascc claims --help`) are timed from
spawn to exit, median of {runs}: they import only what they need (target < 250 ms).
"""


def _compile_times(root: Path) -> tuple[float, float]:
    """Seconds to make the demo's three actors ready in an ``Engine``: compiled into an empty
    disk cache, then loaded from it by a new engine (what cold and warm differ by)."""
    modules = [(root / "actors" / "build" / f"{name}_s.wasm").read_bytes() for name in DEMO_ACTORS]
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="wascc-cache-") as cache:
        for _ in range(2):
            engine = Engine(cache_dir=Path(cache))
            started = time.perf_counter()
            for module in modules:
                engine.compile(module, validate_module(module).hash)
            times.append(time.perf_counter() - started)
    return times[0], times[1]


def startup_section() -> Section:
    """Cold and warm start-up of the demo manifest, as a ``Section``."""
    cold: list[float] = []
    warm: list[float] = []
    with _demo_tree() as root, tempfile.TemporaryDirectory(prefix="wascc-data-") as data:
        manifest = root / "examples" / "demo.yaml"
        for run in range(RUNS):  # cold and warm alternate, so that both see the same noise
            fresh = Path(data) / f"run-{run}"
            for times in (cold, warm):
                ports = _demo_ports()
                with wascc_up(manifest, fresh, ports) as up:
                    times.append(up.wait_served(int(ports["ECHO_PORT"])))
        compiled, cached = _compile_times(root)
    bare, imported = _python_floor()
    quick = _quick_commands()
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)

    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:.0f} ms"

    rows: list[tuple[str, ...]] = [
        ("`python -c pass` (floor)", ms(bare), ""),
        ("`python -c 'import wascc.host.server'` (floor)", ms(imported), ""),
        *((f"`{command}` (to exit)", ms(took), "") for command, took in quick),
        ("`wascc up` demo, cold (empty module cache)", ms(cold_s), f"{cold_s / imported:.2f}x"),
        ("`wascc up` demo, warm (cached modules)", ms(warm_s), f"{warm_s / imported:.2f}x"),
        ("of which: compile the 3 demo actors (cold)", f"{compiled * 1e3:.1f} ms", ""),
        ("of which: load them from the disk cache (warm)", f"{cached * 1e3:.1f} ms", ""),
    ]
    notes = [
        f"Runs: cold {', '.join(ms(t) for t in cold)}; warm {', '.join(ms(t) for t in warm)}. "
        "The demo's actors are 8-10 KB each, so what the cache saves is the difference of the "
        "last two rows, of the order of the run-to-run noise; for a large actor see *load 2 MB, "
        "first (compile)* vs *cached* in the host core table."
    ]
    if sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
        notes.append(
            "This environment sets `PYTHONDONTWRITEBYTECODE`, so the project's own modules have "
            "no `.pyc` and are compiled from source at every start: the import floor, and so "
            "the start-up, are higher here than on an installation with bytecode caches."
        )
    return Section(
        "Start-up: `wascc up` to the first served HTTP request",
        STARTUP_METHOD.format(runs=RUNS),
        ("what", "time", "vs importing the runtime"),
        rows,
        verdicts=[
            f"`wascc up` demo to first served request: cold {ms(cold_s)}, warm {ms(warm_s)} "
            f"(Python + imports alone: {ms(imported)})",
            "quick commands: "
            + ", ".join(f"`{command}` {ms(took)}" for command, took in quick)
            + (
                f" ({'meets' if max(t for _, t in quick) < QUICK_TARGET else 'misses'} the "
                f"< {ms(QUICK_TARGET)} target)"
            ),
        ],
        notes=notes,
    )


SCALING_METHOD = """
One actor (the C `echo`, 2 instances, HTTP server provider) served by `wascc up` processes
on loopback (`examples`-style manifest with only that actor). **1 process**: one
`wascc up`; **2 processes**: two `wascc up`, each serving the same signed actor on its own
port, with the load generator's {connections} keep-alive connections spread over both ports
(round-robin). Both processes run throughout; for the 1-process figure only the first is
loaded; each first gets a warm-up pass (0.5 s on one connection, not counted). There is no
lattice here to put two hosts behind one address, so the load generator does the spreading
a load balancer would. This machine has {cpus} logical CPUs and the load generator
(`bench/loadgen.py`, one Python process) needs CPU too: with two servers, three busy
processes share {cpus} CPUs. CPU columns are the CPU seconds each side used per second of
the measurement (1.00 = one core busy); *machine CPU busy* counts every process on the
machine (/proc/stat).
"""


async def _measure_scaling(
    ups: list[tuple[Server, int]], seconds: float, connections: int
) -> tuple[dict[str, float], float]:
    """Load the ``ups`` for ``seconds``; the load figures and the servers' CPU per second."""
    cpu0 = [up.cpu_seconds() for up, _ in ups]
    busy0 = _machine_busy()
    started = time.perf_counter()
    result = await load([port for _, port in ups], seconds, connections)
    elapsed = time.perf_counter() - started
    server_cpu = sum(up.cpu_seconds() - c for (up, _), c in zip(ups, cpu0, strict=True))
    result["machine_cpu"] = (_machine_busy() - busy0) / elapsed
    return result, server_cpu / elapsed


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all CPUs, not idle or iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def scaling_section(seconds: float = 2.0, connections: int = 32) -> Section:
    """Throughput of one actor behind one and two ``wascc up`` processes, as a ``Section``."""
    best: dict[int, tuple[dict[str, float], float]] = {}
    with ExitStack() as stack:
        root = stack.enter_context(_demo_tree())
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wascc-data-")))
        manifest = root / "examples" / "echo.yaml"
        ups: list[tuple[Server, int]] = []
        for i in range(2):
            port = free_port()
            env = {"ECHO_PORT": str(port)}
            ups.append((stack.enter_context(wascc_up(manifest, data / f"p{i}", env)), port))
        for up, port in ups:
            up.wait_served(port)
            asyncio.run(warm_up(port))
        for _ in range(ROUNDS):
            for processes in (1, 2):
                measured = asyncio.run(_measure_scaling(ups[:processes], seconds, connections))
                if processes not in best or measured[0]["rps"] > best[processes][0]["rps"]:
                    best[processes] = measured
    rows: list[tuple[str, ...]] = []
    for processes, (result, server_cpu) in sorted(best.items()):
        errors = f" ({int(result['errors'])} errors)" if result["errors"] else ""
        rows.append(
            (
                f"{processes} `wascc up` process{'es' if processes > 1 else ''}",
                f"{result['rps']:,.0f}{errors}",
                f"{result['rps'] / best[1][0]['rps']:.2f}x",
                f"{result['p50_ms']:.2f}",
                f"{result['p99_ms']:.2f}",
                f"{server_cpu:.2f}",
                f"{result['cpu_s'] / result['seconds']:.2f}",
                f"{result['machine_cpu']:.2f} of {os.cpu_count()}",
            )
        )
    cpus = os.cpu_count() or 1
    growth = best[2][0]["rps"] / best[1][0]["rps"]
    busy = best[1][0]["machine_cpu"]
    return Section(
        f"Scaling beyond one core: one actor, 1 vs 2 `wascc up` processes ({seconds:g} s each, "
        f"best of {ROUNDS} alternating rounds)",
        SCALING_METHOD.format(connections=connections, cpus=cpus),
        (
            "servers",
            "req/s",
            "vs 1 process",
            "p50 ms",
            "p99 ms",
            "servers' CPU",
            "loadgen CPU",
            "machine CPU busy",
        ),
        rows,
        verdicts=[
            f"Scaling: 2 processes serve {growth:.2f}x the requests of one on this {cpus}-CPU "
            f"machine; with one server the machine was already {busy:.2f} of {cpus} CPUs busy "
            "(server + load generator + anything else running), so a second process has "
            f"at most {max(0.0, cpus - busy):.2f} CPU to add"
        ],
    )


def main(seconds: float = 2.0) -> list[Section]:
    """Measure start-up and scaling; print both tables."""
    sections = [startup_section(), scaling_section(seconds)]
    for section in sections:
        section.print()
    return sections


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
